"""Saved conversations: one SQLite file in the KB directory, outside the ingest generations (a new
generation must not roll conversations back), written in WAL mode so the page, the server and the CLI
can share it."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.answer import Answer, Source
from rag.answer.result import CLOSEST_HEADING
from rag.errors import KnowledgeBaseError

CONVERSATIONS_FILE = "conversations.sqlite"
TITLE_CHARS = 60

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    grounded INTEGER NOT NULL,
    sources TEXT NOT NULL,
    timings TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, position)
);
CREATE TABLE IF NOT EXISTS feedback (
    conversation_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    rating INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, position)
);
"""


@dataclass(frozen=True)
class Turn:
    """One question of a conversation and what was answered, with its sources."""

    question: str
    answer: str
    refused: bool
    sources: tuple[Source, ...] = ()
    standalone_question: str | None = None
    grounded: bool = True
    timings: dict | None = None
    created_at: float = 0.0

    @classmethod
    def from_answer(cls, answer: Answer) -> "Turn":
        return cls(answer.question, answer.text, answer.refused, answer.sources, answer.standalone_question,
                   answer.grounded, dict(answer.timings), time.time())


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    title: str
    created_at: float
    updated_at: float
    turns: tuple[Turn, ...] = ()
    turn_count: int = 0

    def to_markdown(self) -> str:
        """The conversation as Markdown: each question, its answer, and the sources it cites."""
        lines = [f"# {self.title or 'Conversation'}", ""]
        for turn in self.turns:
            lines += [f"**Q:** {turn.question}", "", turn.answer, ""]
            cited = [s for s in turn.sources if s.cited] or list(turn.sources)
            if cited:
                lines.append(CLOSEST_HEADING if turn.refused else "Sources:")
                lines += [f"- [{s.number}] {s.label}: \"{' '.join(s.snippet.split())[:160]}…\"" for s in cited]
                lines.append("")
        return "\n".join(lines)


class ConversationStore:
    """Create, list, load, rename and delete conversations; append turns; record feedback.

    Raises:
        KnowledgeBaseError: the file cannot be created or written (for example a read-only KB).
    """

    def __init__(self, kb_dir: Path):
        self.path = Path(kb_dir) / CONVERSATIONS_FILE
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._db.commit()
        except sqlite3.Error as exc:
            raise KnowledgeBaseError(f"{self.path}: conversations cannot be saved here ({exc})") from exc
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, params: tuple) -> None:
        with self._lock:
            try:
                self._db.execute(sql, params)
                self._db.commit()
            except sqlite3.Error as exc:
                raise KnowledgeBaseError(f"{self.path}: cannot save the conversation ({exc})") from exc

    def create(self, title: str = "") -> ConversationRecord:
        now = time.time()
        record = ConversationRecord(uuid.uuid4().hex[:16], title[:TITLE_CHARS], now, now)
        self._write("INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?,?,?,?)",
                    (record.id, record.title, now, now))
        return record

    def add_turn(self, conversation_id: str, turn: Turn) -> None:
        with self._lock:
            try:
                position = self._db.execute("SELECT COUNT(*) FROM turns WHERE conversation_id = ?", (conversation_id,)).fetchone()[0]
                self._db.execute(
                    "INSERT INTO turns VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (conversation_id, position, turn.question, turn.standalone_question, turn.answer, int(turn.refused),
                     int(turn.grounded), json.dumps([asdict(s) for s in turn.sources], ensure_ascii=False),
                     json.dumps(turn.timings or {}), turn.created_at or time.time()),
                )
                title = turn.question.strip().splitlines()[0][:TITLE_CHARS] if turn.question.strip() else ""
                # A conversation is named after its first question unless it was named already.
                self._db.execute("UPDATE conversations SET updated_at = ?, title = CASE WHEN title = '' THEN ? ELSE title END "
                                 "WHERE id = ?", (time.time(), title, conversation_id))
                self._db.commit()
            except sqlite3.Error as exc:
                raise KnowledgeBaseError(f"{self.path}: cannot save the conversation ({exc})") from exc

    def list(self, limit: int = 200) -> list[ConversationRecord]:
        """Most recently updated first, without their turns."""
        rows = self._db.execute(
            "SELECT c.*, (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS n FROM conversations c "
            "ORDER BY updated_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [ConversationRecord(r["id"], r["title"], r["created_at"], r["updated_at"], (), r["n"]) for r in rows]

    def get(self, conversation_id: str) -> ConversationRecord:
        """Raises: KnowledgeBaseError: no such conversation."""
        row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise KnowledgeBaseError(f"no conversation {conversation_id!r} in {self.path.parent}")
        turns = tuple(
            Turn(t["question"], t["answer"], bool(t["refused"]), tuple(Source(**s) for s in json.loads(t["sources"])),
                 t["standalone_question"], bool(t["grounded"]), json.loads(t["timings"]), t["created_at"])
            for t in self._db.execute("SELECT * FROM turns WHERE conversation_id = ? ORDER BY position", (conversation_id,))
        )
        return ConversationRecord(row["id"], row["title"], row["created_at"], row["updated_at"], turns, len(turns))

    def latest(self) -> ConversationRecord | None:
        listed = self.list(limit=1)
        return self.get(listed[0].id) if listed else None

    def rename(self, conversation_id: str, title: str) -> None:
        self.get(conversation_id)
        self._write("UPDATE conversations SET title = ? WHERE id = ?", (title.strip()[:TITLE_CHARS], conversation_id))

    def delete(self, conversation_id: str) -> None:
        self._write("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        self._write("DELETE FROM feedback WHERE conversation_id = ?", (conversation_id,))

    def clear_turns(self, conversation_id: str) -> None:
        self._write("DELETE FROM turns WHERE conversation_id = ?", (conversation_id,))

    def set_feedback(self, conversation_id: str, position: int, rating: int, comment: str = "") -> None:
        """Thumbs up (+1) or down (-1) on one turn's answer."""
        if rating not in (-1, 1):
            raise ValueError(f"rating must be 1 or -1. Currently, it is {rating}")
        self._write("INSERT OR REPLACE INTO feedback VALUES (?,?,?,?,?)", (conversation_id, position, rating, comment, time.time()))

    def feedback(self, conversation_id: str) -> dict[int, int]:
        rows = self._db.execute("SELECT position, rating FROM feedback WHERE conversation_id = ?", (conversation_id,))
        return {r["position"]: r["rating"] for r in rows}
