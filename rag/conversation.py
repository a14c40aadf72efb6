"""Conversations: a follow-up ("And how much grease each time?", "那每次加多少?") is rewritten by the LLM
into a stand-alone question before retrieval, the recent turns go into the answer prompt, and every
turn is saved."""
from __future__ import annotations

import logging
import math
import re
from typing import Callable, Sequence

from rag.answer import Answer, Answerer, AnswerStream
from rag.conversation_store import ConversationRecord, ConversationStore, Turn
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions
from rag.prompt import PriorTurn
from rag.retrieve import check_question

log = logging.getLogger(__name__)

# Words that lean on an earlier turn: pronouns, demonstratives, "and ...", "what about ...", "每次", "呢".
_LEANS_EN = re.compile(
    r"\b(?:it|its|they|them|their|this|that|these|those|he|she|him|her|his|there|then|also|too|same|other|"
    r"another|else|each time|one|ones|former|latter|above)\b|^\s*(?:and|but|so|or|what about|how about|why|how come)\b",
    re.IGNORECASE,
)
_LEANS_ZH = re.compile(r"它|他们|她们|这个|那个|这些|那些|这种|那种|这样|那样|该|此|其|上述|前者|后者|每次|同样|^\s*(?:那|还有|另外|而|并且)|呢\s*[？?]?\s*$")
# Two short examples: a 0.5B model copies the previous question without them.
REWRITE_SYSTEM = """Rewrite the user's follow-up question as one complete question that makes sense on its own. Fill in what the follow-up leaves out (the product, model number or topic) from the conversation, and keep everything the follow-up asks. Do not answer. Reply with the rewritten question only, in the follow-up's language.

Example:
Conversation:
User: What is the rated power of the K-15 motor?
Assistant: 15 kW.
Follow-up: And its weight?
Rewritten: What is the weight of the K-15 motor?

Example:
Conversation:
User: 动火作业许可证的有效期是多久？
Assistant: 8 小时。
Follow-up: 由谁签发呢？
Rewritten: 动火作业许可证由谁签发？"""
REWRITE_OPTIONS = GenerationOptions(max_new_tokens=80, temperature=0.0, stop=("\n",), repeat_penalty=1.0)  # a rewrite repeats the question's words
ANSWER_IN_HISTORY_CHARS = 300  # what the rewrite prompt shows of each earlier answer


def needs_rewrite(question: str, history: Sequence[Turn], terms: Callable[[str], list[str]]) -> bool:
    """Whether a question leans on the conversation: it refers back to something, or is too short to stand
    alone. A first question never does."""
    if not history:
        return False
    return bool(_LEANS_EN.search(question) or _LEANS_ZH.search(question)) or len(set(terms(question))) <= 3


def _clean_rewrite(text: str, question: str, previous: str, terms: Callable[[str], list[str]]) -> str | None:
    """The rewrite, or None when it is unusable: empty, rambling, or one that dropped what the follow-up
    asks (small models often repeat the previous question instead)."""
    text = text.strip().strip("\"'“”「」 ")
    text = re.sub(r"^(?:rewritten|stand-?alone question|rewritten question|question|改写|问题)\s*[:：]\s*", "", text, flags=re.IGNORECASE)
    if not text or len(text) > 4 * len(question) + 200:
        return None
    own = set(terms(question))
    if own and len(own & set(terms(text))) < math.ceil(0.67 * len(own)):
        return None
    if set(terms(text)) in (set(terms(previous)), set(terms(question))):
        return None  # a copy of the previous question, or the follow-up unchanged: nothing was filled in
    return text


class Conversation:
    """Questions asked in turn, each answered from the knowledge base with the earlier turns in mind.

    Use `ask(question)` or `ask_stream(question)` (the same result types as `KnowledgeBase.ask`); the turns
    so far are in `history`; `reset()` starts over in the same conversation.
    """

    def __init__(
        self,
        answerer: Answerer,
        chat_model: Callable[[], ChatModel],
        terms: Callable[[str], list[str]],
        store: ConversationStore | None,
        record: ConversationRecord | None = None,
        history_turns: int = 3,
        rewrite: bool = True,
    ):
        self._answerer = answerer
        self._chat_model = chat_model
        self._terms = terms
        self._store = store
        self._history_turns = history_turns
        self._rewrite = rewrite
        if record is None and store is not None:
            record = store.create()
        self.id = record.id if record else ""
        self.title = record.title if record else ""
        self._turns: list[Turn] = list(record.turns) if record else []

    @property
    def history(self) -> tuple[Turn, ...]:
        return tuple(self._turns)

    @property
    def saved(self) -> bool:
        return self._store is not None

    def reset(self) -> None:
        """Forget the turns so far (also in the saved conversation)."""
        self._turns.clear()
        if self._store is not None:
            self._store.clear_turns(self.id)

    def standalone(self, question: str) -> str | None:
        """The question rewritten to stand alone, or None when it stands alone already."""
        if not self._rewrite or not needs_rewrite(question, self._turns, self._terms):
            return None
        recent = self._turns[-self._history_turns :]
        lines = []
        for turn in recent:
            lines.append(f"User: {turn.question}")
            lines.append(f"Assistant: {' '.join(turn.answer.split())[:ANSWER_IN_HISTORY_CHARS]}")
        prompt = "Conversation:\n" + "\n".join(lines) + f"\nFollow-up: {question}\nRewritten:"
        try:
            rewritten = self._chat_model().generate([ChatMessage("system", REWRITE_SYSTEM), ChatMessage("user", prompt)],
                                                    REWRITE_OPTIONS)
        except Exception as exc:  # noqa: BLE001 - a failed rewrite falls back to the plain question, logged
            log.warning("follow-up rewrite failed (%s); retrieving with the question and the previous one", exc)
            rewritten = ""
        return _clean_rewrite(rewritten, question, recent[-1].question, self._terms)

    def _joined(self, question: str) -> str | None:
        """The previous question joined to the follow-up: a stand-alone form that needs no model."""
        previous = next((t.standalone_question or t.question for t in reversed(self._turns)), None)
        return f"{previous} {question}" if previous else None

    def ask_stream(self, question: str, k: int | None = None) -> AnswerStream:
        question = check_question(question, self._answerer.max_question_chars)
        standalone, query = self.standalone(question), None
        if needs_rewrite(question, self._turns, self._terms):
            # Retrieval reads the previous question with the follow-up (a model-free stand-alone form);
            # the prompt asks the rewrite when there is a usable one, else the follow-up itself, which the
            # earlier turns in the prompt explain.
            query = self._joined(question)
        prior = [PriorTurn(t.question, t.answer) for t in self._turns[-self._history_turns :] if not t.refused]
        stream = self._answerer.ask_stream(question, k, prior, standalone, query=query)
        stream.add_done_callback(self._record)
        return stream

    def ask(self, question: str, k: int | None = None) -> Answer:
        return self.ask_stream(question, k).collect()

    def _record(self, answer: Answer) -> None:
        turn = Turn.from_answer(answer)
        self._turns.append(turn)
        if not self.title:
            self.title = answer.question.strip().splitlines()[0][:60]
        if self._store is not None:
            self._store.add_turn(self.id, turn)
