"""Training examples: a chat (messages, the last one the assistant's reply to learn), read from JSONL in
either of the two formats people bring: instruction / input / output, or chat `messages`."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from rag.errors import ConfigError
from rag.llm.base import ChatMessage

ROLES = ("system", "user", "assistant")


class DatasetError(ConfigError):
    """A training file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class TrainingExample:
    """One chat to learn from: every message before the last is the prompt, the last is the target."""

    messages: tuple[ChatMessage, ...]
    meta: dict = field(default_factory=dict, compare=False)  # e.g. kind (answer | refusal), oracle source

    @property
    def prompt(self) -> tuple[ChatMessage, ...]:
        return self.messages[:-1]

    @property
    def target(self) -> str:
        return self.messages[-1].content

    def to_json(self) -> str:
        record: dict = {"messages": [{"role": m.role, "content": m.content} for m in self.messages]}
        if self.meta:
            record["meta"] = self.meta
        return json.dumps(record, ensure_ascii=False)


def parse_example(data: object, where: str) -> TrainingExample:
    """One example from a decoded JSON line.

    Raises:
        DatasetError: the record is neither format, or a field has the wrong type.
    """
    if not isinstance(data, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(data).__name__}")
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    if "messages" in data:
        raw = data["messages"]
        if not isinstance(raw, list) or len(raw) < 2:
            raise DatasetError(f"{where}: 'messages' must be a list of at least a user and an assistant message")
        messages = []
        for index, message in enumerate(raw):
            if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
                raise DatasetError(f"{where}: messages[{index}] needs 'role' (one of {', '.join(ROLES)}) and 'content' (a string)")
            messages.append(ChatMessage(message["role"], message["content"]))
        if messages[-1].role != "assistant":
            raise DatasetError(f"{where}: the last message must be the assistant's (the reply to learn)")
        if not messages[-1].content.strip():
            raise DatasetError(f"{where}: the assistant's reply is empty")
        if not any(m.role == "user" for m in messages[:-1]):
            raise DatasetError(f"{where}: no user message before the assistant's reply")
        return TrainingExample(tuple(messages), meta)
    if "instruction" in data or "output" in data:
        instruction, extra, output = data.get("instruction"), data.get("input", ""), data.get("output")
        for key, value in (("instruction", instruction), ("output", output)):
            if not isinstance(value, str) or not value.strip():
                raise DatasetError(f"{where}: '{key}' must be a non-empty string")
        if not isinstance(extra, str):
            raise DatasetError(f"{where}: 'input' must be a string")
        user = instruction.strip() + (f"\n\n{extra.strip()}" if extra.strip() else "")
        return TrainingExample((ChatMessage("user", user), ChatMessage("assistant", output.strip())), meta)
    raise DatasetError(f"{where}: give either 'instruction' / 'input' / 'output' or 'messages'")


def load_examples(path: str | Path) -> list[TrainingExample]:
    """Every example of a JSONL file (blank lines skipped).

    Raises:
        DatasetError: the file is missing, empty, or a line is not a valid example (all bad lines are
            listed, up to ten, so one run finds them all).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    examples, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            examples.append(parse_example(json.loads(line), f"{path}:{number}"))
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{number}: not JSON ({exc.msg})")
        except DatasetError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise DatasetError("; ".join(problems[:10]) + more)
    if not examples:
        raise DatasetError(f"{path}: no examples")
    return examples


def write_examples(path: str | Path, examples: Iterable[TrainingExample]) -> int:
    """Write examples as JSONL (the `messages` format); returns how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(example.to_json() + "\n")
            count += 1
    return count


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_heldout(items: Sequence, share: float, seed: int) -> tuple[list, list]:
    """A reproducible split: (kept for training, held out)."""
    import random

    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    cut = int(round(len(items) * share))
    held = set(order[:cut])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]
