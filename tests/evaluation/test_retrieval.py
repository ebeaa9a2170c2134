"""Retrieval metrics on hand-made rankings."""

from __future__ import annotations

import numpy as np
import pytest

from mmshop.evaluation.retrieval import (
    hits_from_groups,
    hits_from_sets,
    ranking_metrics,
    retrieval_metrics,
    top_k,
)


def test_metrics_by_hand() -> None:
    # query A: relevant {a1, a2}; ranked a1, x, a2  -> R@1 1/2, R@3 1, P@1 1, MRR 1
    # query B: relevant {b1};     ranked x, y, b1  -> R@1 0,   R@3 1, P@1 0, MRR 1/3
    hits, n_rel = hits_from_sets([["a1", "x", "a2"], ["x", "y", "b1"]], [{"a1", "a2"}, {"b1"}])
    m = ranking_metrics(hits, n_rel, ks=(1, 3), mrr_at=10)
    assert m["recall@1"] == pytest.approx(0.25)
    assert m["recall@3"] == pytest.approx(1.0)
    assert m["precision@1"] == pytest.approx(0.5)
    assert m["precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["hit@1"] == pytest.approx(0.5)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3) / 2)
    assert m["queries"] == 2
    assert ranking_metrics(hits, n_rel, ks=(1,), mrr_at=2)["mrr@2"] == pytest.approx(0.5)


def test_groups_and_exact_search() -> None:
    docs = np.eye(4, dtype=np.float32)
    queries = np.array([[0, 1, 0, 0], [0.9, 0, 0.1, 0]], dtype=np.float32)
    scores, ranked = top_k(queries, docs, 2)
    assert ranked.tolist() == [[1, 0], [0, 2]] or ranked[0, 0] == 1
    assert scores[1, 0] == pytest.approx(0.9)
    _, n_rel = hits_from_groups(ranked, np.array([1, 0]), np.array([0, 1, 0, 2]))
    assert n_rel.tolist() == [1, 2]
    m = retrieval_metrics(queries, docs, np.array([1, 0]), np.array([0, 1, 0, 2]), ks=(1, 2))
    assert m["recall@1"] == pytest.approx((1 + 0.5) / 2)
    assert m["recall@2"] == pytest.approx(1.0)


def test_queries_without_relevant_documents_are_skipped() -> None:
    hits = np.array([[False], [True]])
    m = ranking_metrics(hits, np.array([0, 1]), ks=(1,))
    assert m["queries"] == 1 and m["recall@1"] == 1.0
    empty = ranking_metrics(np.zeros((0, 1), bool), np.zeros(0), ks=(1,))
    assert empty["queries"] == 0 and np.isnan(empty["recall@1"])
