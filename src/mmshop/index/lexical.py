"""Lexical BM25 scoring of product titles (``bm25s``) and reciprocal-rank fusion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmshop.errors import require


class LexicalIndex:
    """BM25 over one text per slot. Built in memory (about a second per 100k titles)."""

    def __init__(self, texts: Sequence[str]) -> None:
        bm25s = require("bm25s", "search")
        self._bm25s = bm25s
        self.size = len(texts)
        corpus = [t if isinstance(t, str) and t.strip() else "" for t in texts]
        tokens = bm25s.tokenize(corpus, stopwords="en", show_progress=False)
        self.retriever = bm25s.BM25()
        self.retriever.index(tokens, show_progress=False)
        self.vocab = self.retriever.vocab_dict

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every slot for ``query`` (0 where no query term occurs)."""
        tokens = self._bm25s.tokenize(
            [query], stopwords="en", return_ids=False, show_progress=False
        )
        known = [t for t in tokens[0] if t in self.vocab]
        if not known or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """Slots of the best ``k`` matches with a positive score, best first."""
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed[: self.size], scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            part = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[part]
        return candidates[np.argsort(-scores[candidates], kind="stable")]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int, rrf_k: int = 60, weights: Sequence[float] = ()
) -> list[tuple[int, float]]:
    """Fuse rankings (lists of slots, best first) by ``sum_i w_i / (rrf_k + rank_i)``.

    Ranks start at 1. Ties keep the order of first appearance. Returns ``(slot, score)`` pairs.
    """
    weights = list(weights) or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, slot in enumerate(ranking, start=1):
            fused[int(slot)] = fused.get(int(slot), 0.0) + weight / (rrf_k + rank)
    order = sorted(fused.items(), key=lambda kv: -kv[1])
    return order[:k]
