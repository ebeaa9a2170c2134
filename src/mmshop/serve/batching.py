"""Dynamic batching of concurrent search requests: one encoder pass and one FAISS call per batch.

A flat index answers one query by scanning every product vector, so its cost is bound by memory
bandwidth; a batch of queries shares that scan (and the text encoder runs them as one tensor).
The batcher thread takes whatever arrived while the previous batch ran and answers it together:
no request waits for a timer, and under light load a batch is a single request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from mmshop.index.store import SearchHit

log = logging.getLogger("mmshop.serve")
KINDS = ("text", "similar")


@dataclass
class _Job:
    kind: str  # "text": key is the query; "similar": key is a product id
    key: str
    k: int
    future: Future[list[SearchHit]] = field(default_factory=Future)


class QueryBatcher:
    """Answers unfiltered text and similar-item searches of ``searcher`` in batches.

    ``submit`` returns a :class:`concurrent.futures.Future`; callers validate their input first.
    A batch that fails is retried one request at a time, so a bad request fails alone.
    """

    def __init__(self, searcher: Any, max_batch: int = 32) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.searcher = searcher
        self.max_batch = max_batch
        self.batches = 0
        self.requests = 0
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mmshop-batcher", daemon=True)
        self._thread.start()

    def submit(self, kind: str, key: str, k: int) -> Future[list[SearchHit]]:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        job = _Job(kind, key, k)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        """Answer what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stop = [first], False
            while len(jobs) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
            live = [j for j in jobs if j.future.set_running_or_notify_cancel()]
            groups: dict[str, list[_Job]] = defaultdict(list)
            for job in live:
                groups[job.kind].append(job)
            for kind, group in groups.items():
                self._answer(kind, group)
            self.batches += 1
            self.requests += len(live)
            if stop:
                return

    def _call(self, kind: str, keys: list[str], k: int) -> list[list[SearchHit]]:
        if kind == "text":
            return self.searcher.search_texts(keys, k)
        return self.searcher.similar_many(keys, k)

    def _answer(self, kind: str, group: list[_Job]) -> None:
        try:
            answers = self._call(kind, [job.key for job in group], max(job.k for job in group))
        except Exception as exc:  # handed to the waiting request(s)
            if len(group) == 1:
                group[0].future.set_exception(exc)
            else:  # one by one, so each request gets its own answer or error
                for job in group:
                    self._answer(kind, [job])
            return
        if len(answers) != len(group):  # a broken searcher must not kill the thread
            error = RuntimeError(f"{len(group)} queries gave {len(answers)} answers")
            for job in group:
                job.future.set_exception(error)
            return
        for job, hits in zip(group, answers, strict=True):
            job.future.set_result(hits[: job.k])
