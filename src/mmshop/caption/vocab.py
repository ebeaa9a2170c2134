"""Word-level title vocabulary: lowercase words and punctuation, built from training titles."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from mmshop.errors import DataError, ModelLoadError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
_WORD = re.compile(r"\w+(?:[-'&.]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?)\]])")
_NO_SPACE_AFTER = re.compile(r"([(\[]) ")


def words(title: str) -> list[str]:
    """Lowercase words of a title; hyphenated and apostrophe words stay whole."""
    return _WORD.findall(title.lower())


def detokenize(tokens: Sequence[str]) -> str:
    """Words back to a title: spaces between words, none before closing punctuation."""
    text = " ".join(tokens)
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


class Vocabulary:
    """Maps title words to ids (0-3 are pad, start, end and unknown)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ModelLoadError(f"a title vocabulary must start with {list(SPECIALS)}")
        if len(set(tokens)) != len(tokens):
            raise ModelLoadError("the title vocabulary has duplicate words")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, titles: Iterable[str], min_count: int = 2, max_size: int = 10_000):
        """Words seen at least ``min_count`` times, most frequent first (ties alphabetical)."""
        counts: Counter[str] = Counter()
        for title in titles:
            counts.update(words(title))
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        kept = kept[: max(0, max_size - len(SPECIALS))]
        if not kept:
            raise DataError(
                f"no title word occurs at least {min_count} times; lower min_count or add titles"
            )
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, title: str, max_len: int) -> list[int]:
        """Ids of the title's words (unknown words -> UNK), cut to ``max_len - 1``, then EOS."""
        ids = [self.index.get(w, UNK) for w in words(title)][: max_len - 1]
        return [*ids, EOS]

    def encode_batch(self, titles: Sequence[str], max_len: int) -> np.ndarray:
        """``[N, max_len]`` int64 target ids (words then EOS), PAD-filled."""
        out = np.full((len(titles), max_len), PAD, dtype=np.int64)
        for i, title in enumerate(titles):
            ids = self.encode(title, max_len)
            out[i, : len(ids)] = ids
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """A title from ids: stops at EOS, skips pad/start/unknown."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS, UNK):
                continue
            out.append(self.tokens[i])
        return detokenize(out)

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ModelLoadError("the saved title vocabulary is not a list of words")
        return cls(tokens)
