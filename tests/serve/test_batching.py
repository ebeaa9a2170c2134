"""QueryBatcher: concurrent searches answered together, each with its own answer or error."""

from __future__ import annotations

import threading

import pytest

from mmshop.errors import QueryError
from mmshop.search import Searcher
from mmshop.serve.batching import QueryBatcher


class _GatedSearcher:
    """The real searcher, whose first batch waits for a gate: requests queue up meanwhile."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self.gate = threading.Event()
        self.calls: list[int] = []

    def search_texts(self, queries, k):
        self.gate.wait(10)
        self.calls.append(len(queries))
        return self.searcher.search_texts(queries, k)

    def similar_many(self, ids, k):
        self.gate.wait(10)
        self.calls.append(len(ids))
        return self.searcher.similar_many(ids, k)


def test_queued_requests_form_one_batch_with_single_answers(serve_models) -> None:
    searcher = Searcher.open(serve_models["index"])
    gated = _GatedSearcher(searcher)
    batcher = QueryBatcher(gated, max_batch=8)
    try:
        first = batcher.submit("text", "red shirt", 3)  # taken alone; blocks at the gate
        while not first.running():
            threading.Event().wait(0.01)
        queries = ["blue shoes", "green bag", "red shirt", "black watch", "white tee"]
        futures = [batcher.submit("text", q, 2 + i) for i, q in enumerate(queries)]
        pid = str(searcher.index.ids[0])
        similar = batcher.submit("similar", pid, 4)
        bad = batcher.submit("text", "   ", 3)  # an error only for this request
        gated.gate.set()
        assert [h.id for h in first.result(10)] == [
            h.id for h in searcher.search_text("red shirt", 3)
        ]
        for i, (q, fut) in enumerate(zip(queries, futures, strict=True)):
            hits = fut.result(10)
            assert len(hits) == 2 + i
            assert [h.id for h in hits] == [h.id for h in searcher.search_text(q, 2 + i)]
        assert [h.id for h in similar.result(10)] == [h.id for h in searcher.similar(pid, 4)]
        with pytest.raises(QueryError, match="empty"):
            bad.result(10)
        # the first call held one request; the queued text requests went as one batch
        assert gated.calls[0] == 1 and max(gated.calls) >= len(queries)
        assert batcher.requests == 8 and batcher.batches == 2
    finally:
        gated.gate.set()
        batcher.close()


def test_cancelled_requests_are_skipped(serve_models) -> None:
    gated = _GatedSearcher(Searcher.open(serve_models["index"]))
    batcher = QueryBatcher(gated)
    try:
        first = batcher.submit("text", "red shirt", 3)
        gone = batcher.submit("text", "blue shoes", 3)
        assert gone.cancel() or gone.running()
        gated.gate.set()
        assert first.result(10)
    finally:
        batcher.close()
    other = QueryBatcher(gated)
    with pytest.raises(ValueError, match="kind"):
        other.submit("image", "x", 3)
    other.close()
