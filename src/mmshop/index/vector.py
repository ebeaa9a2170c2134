"""A thin FAISS wrapper: flat inner product, HNSW or IVF-PQ, with allowed-set searches.

FAISS ids are the insertion order ("slots"); the product index maps slots to product ids and
never removes vectors from FAISS (deleted slots are excluded at search time), so adding,
updating and deleting products needs no rebuild.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mmshop.errors import ConfigError, ModelLoadError, require
from mmshop.index.config import IndexConfig

# Flat search of this many queries or more goes through one BLAS matrix product instead of one
# scan of every vector per query. faiss-cpu wheels ship a threshold so high that batches never
# take that path; measured here on 40k x 256 vectors, one thread: a batch of 16 queries takes
# 17 ms through BLAS vs 97 ms scanned one by one (a single query: ~5 ms either way).
BLAS_MIN_QUERIES = 4
_tuned = False


def faiss_module() -> Any:
    """The ``faiss`` module (batched flat search tuned, once), or an error naming the
    ``search`` extra."""
    global _tuned
    faiss = require("faiss", "search")
    if not _tuned:
        faiss.cvar.distance_compute_blas_threshold = BLAS_MIN_QUERIES
        _tuned = True
    return faiss


def _pq_m(dim: int, wanted: int) -> int:
    m = wanted or max(1, dim // 8)
    if dim % m:
        raise ConfigError(f"pq_m ({m}) must divide the embedding dimension ({dim})")
    return m


def as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    """C-contiguous float32 ``[N, dim]``; raises on a wrong shape or non-finite values."""
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ConfigError(f"expected vectors of dimension {dim}, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ConfigError("vectors contain NaN or infinite values")
    return x


class VectorIndex:
    """Inner-product FAISS index of one kind; ``search`` optionally restricted to a bool mask."""

    def __init__(self, dim: int, config: IndexConfig, index: Any = None) -> None:
        self.dim = int(dim)
        self.config = config
        self.index = index if index is not None else self._new(config)

    def _new(self, config: IndexConfig) -> Any:
        faiss = faiss_module()
        if config.kind == "flat":
            return faiss.IndexFlatIP(self.dim)
        if config.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = config.ef_construction
            index.hnsw.efSearch = config.ef_search
            return index
        return None  # ivfpq: created in train(), when the number of vectors is known

    @property
    def ntotal(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    @property
    def is_trained(self) -> bool:
        return self.index is not None and bool(self.index.is_trained)

    def train(self, vectors: np.ndarray) -> None:
        """IVF-PQ only: learn coarse centroids and codebooks from ``vectors``."""
        if self.config.kind != "ivfpq" or self.is_trained:
            return
        faiss = faiss_module()
        n = len(vectors)
        nlist = self.config.ivf_nlist or max(1, min(4096, int(4 * math.sqrt(max(n, 1)))))
        needed = max(nlist, 2**self.config.pq_bits)
        if n < needed:
            raise ConfigError(
                f"an IVF-PQ index needs at least {needed} vectors to train (ivf_nlist={nlist}, "
                f"pq_bits={self.config.pq_bits}), got {n}; use kind='flat' or 'hnsw', or lower "
                "ivf_nlist / pq_bits"
            )
        m = _pq_m(self.dim, self.config.pq_m)
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFPQ(
            quantizer, self.dim, nlist, m, self.config.pq_bits, faiss.METRIC_INNER_PRODUCT
        )
        index.train(as_matrix(vectors, self.dim))
        index.nprobe = min(self.config.nprobe, nlist)
        self.index = index

    def add(self, vectors: np.ndarray) -> None:
        x = as_matrix(vectors, self.dim)
        if self.index is None or not self.index.is_trained:
            self.train(x)
        if len(x):
            self.index.add(x)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, slots)`` per query; slots are -1 where fewer results exist.

        ``allowed`` (bool ``[ntotal]``) restricts results via a FAISS ID selector.
        """
        q = as_matrix(queries, self.dim)
        if self.ntotal == 0 or k < 1:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if allowed is None:
            return self.index.search(q, k)
        faiss = faiss_module()
        bitmap = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        fraction = max(float(np.mean(allowed)), 1e-6)
        if self.config.kind == "hnsw":
            ef = int(min(4096, max(self.config.ef_search, k) / math.sqrt(fraction)))
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef, k))
        elif self.config.kind == "ivfpq":
            nlist = self.index.nlist
            nprobe = int(min(nlist, math.ceil(self.config.nprobe / fraction)))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=max(1, nprobe))
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, slots = self.index.search(q, k, params=params)
        del bitmap  # the selector reads it during search; keep it alive until here
        return scores, slots

    def memory_bytes(self) -> int:
        """Size of the serialised index (a good proxy for its memory use)."""
        if self.index is None:
            return 0
        return int(faiss_module().serialize_index(self.index).size)

    def save(self, path: Path) -> None:
        if self.index is None:
            raise ConfigError("cannot save an IVF-PQ index that was never trained")
        faiss_module().write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int, config: IndexConfig) -> VectorIndex:
        faiss = faiss_module()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ModelLoadError(f"cannot read vector index {path}: {exc}") from exc
        if index.d != dim:
            raise ModelLoadError(f"{path} holds {index.d}-d vectors, expected {dim}")
        if config.kind == "hnsw":
            index.hnsw.efSearch = config.ef_search
        elif config.kind == "ivfpq":
            index.nprobe = min(config.nprobe, index.nlist)
        return cls(dim, config, index)
