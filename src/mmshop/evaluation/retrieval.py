"""Ranking metrics for retrieval: recall@k, precision@k, MRR@k, and exact top-k search.

Definitions (per query, then averaged over queries; queries without any relevant document are
skipped):

- ``recall@k``: relevant documents in the top k / all relevant documents (the BEIR /
  ``pytrec_eval`` definition, so with 3 relevant documents recall@1 is at most 1/3);
- ``precision@k``: relevant documents in the top k / k;
- ``hit@k``: 1 if any relevant document is in the top k;
- ``mrr@k``: 1 / rank of the first relevant document within the top k, else 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def top_k(
    queries: np.ndarray, docs: np.ndarray, k: int, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k: ``(scores [Q,k] float32, indices [Q,k] int64)``, best first."""
    q = torch.as_tensor(np.ascontiguousarray(queries, dtype=np.float32))
    d = torch.as_tensor(np.ascontiguousarray(docs, dtype=np.float32))
    k = min(int(k), d.shape[0])
    scores, idx = [], []
    with torch.inference_mode():
        for start in range(0, q.shape[0], chunk):
            s, i = torch.topk(q[start : start + chunk] @ d.t(), k, dim=1)
            scores.append(s.numpy())
            idx.append(i.numpy())
    if not scores:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.concatenate(scores), np.concatenate(idx).astype(np.int64)


def hits_from_groups(
    ranked: np.ndarray, query_groups: np.ndarray, doc_groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Relevance when a document is relevant iff its group equals the query's group.

    Returns ``(hits bool [Q,K], n_relevant int [Q])``. Ranked entries < 0 (no result) never hit.
    """
    ranked = np.asarray(ranked, dtype=np.int64)
    qg = np.asarray(query_groups, dtype=np.int64)
    dg = np.asarray(doc_groups, dtype=np.int64)
    valid = ranked >= 0
    hits = (dg[np.where(valid, ranked, 0)] == qg[:, None]) & valid
    counts = np.bincount(
        dg[dg >= 0], minlength=int(max(qg.max(initial=-1), dg.max(initial=-1))) + 1
    )
    n_rel = np.where(qg >= 0, counts[np.clip(qg, 0, None)], 0)
    return hits, n_rel


def hits_from_sets(
    ranked: Sequence[Sequence[object]], relevant: Sequence[set[object]]
) -> tuple[np.ndarray, np.ndarray]:
    """Relevance from explicit sets of relevant document ids per query."""
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} rankings but {len(relevant)} relevance sets")
    k = max((len(r) for r in ranked), default=0)
    hits = np.zeros((len(ranked), k), dtype=bool)
    for i, (row, rel) in enumerate(zip(ranked, relevant, strict=True)):
        for j, doc in enumerate(row):
            hits[i, j] = doc in rel
    return hits, np.array([len(r) for r in relevant], dtype=np.int64)


def ranking_metrics(
    hits: np.ndarray,
    n_relevant: np.ndarray,
    ks: Sequence[int] = (1, 10),
    mrr_at: int = 10,
    names: Sequence[str] = ("recall", "precision", "hit"),
) -> dict[str, float]:
    """Average recall/precision/hit at each k and MRR@``mrr_at`` over queries with relevants."""
    hits = np.asarray(hits, dtype=bool)
    n_rel = np.asarray(n_relevant, dtype=np.float64)
    keep = n_rel > 0
    hits, n_rel = hits[keep], n_rel[keep]
    out: dict[str, float] = {}
    if hits.shape[0] == 0:
        for k in ks:
            for name in names:
                out[f"{name}@{k}"] = float("nan")
        out[f"mrr@{mrr_at}"] = float("nan")
        out["queries"] = 0
        return out
    cum = np.cumsum(hits, axis=1)
    width = hits.shape[1]
    for k in ks:
        found = cum[:, min(k, width) - 1] if width else np.zeros(len(hits))
        values = {
            "recall": found / n_rel,
            "precision": found / k,
            "hit": (found > 0).astype(np.float64),
        }
        for name in names:
            out[f"{name}@{k}"] = float(values[name].mean())
    head = hits[:, :mrr_at]
    first = np.where(head.any(axis=1), head.argmax(axis=1) + 1, 0)
    out[f"mrr@{mrr_at}"] = float(np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0).mean())
    out["queries"] = int(hits.shape[0])
    return out


def retrieval_metrics(
    query_embeds: np.ndarray,
    doc_embeds: np.ndarray,
    query_groups: np.ndarray,
    doc_groups: np.ndarray,
    ks: Sequence[int] = (1, 10),
    mrr_at: int = 10,
) -> dict[str, float]:
    """Exact search of every query over all documents, scored by group relevance."""
    depth = max(max(ks), mrr_at)
    _, ranked = top_k(query_embeds, doc_embeds, depth)
    hits, n_rel = hits_from_groups(ranked, query_groups, doc_groups)
    return ranking_metrics(hits, n_rel, ks, mrr_at)
