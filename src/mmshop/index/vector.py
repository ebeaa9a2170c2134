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

# Unfiltered flat search of this many queries or more is one BLAS matrix product over the stored
# vectors (a view, no copy) instead of faiss's scan of every vector per query. Measured on
# 40k x 256, one thread, faiss-cpu 1.15: 16 queries 45 ms scanned vs ~11 ms as a product. We do
# not lower faiss's own ``distance_compute_blas_threshold`` for this: that global setting also
# sends single queries down the BLAS path, which made them 2.3x slower (3.6 -> 8.2 ms).
BLAS_MIN_QUERIES = 4
_BLAS_CHUNK = 64  # queries per product: bounds the score matrix (64 x 1e6 floats = 256 MB)


def faiss_module() -> Any:
    """The ``faiss`` module, or an error naming the ``search`` extra."""
    return require("faiss", "search")


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-``k`` of a score matrix, best first, padded like faiss (-1 slots)."""
    n, total = scores.shape
    kk = min(k, total)
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    slots = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    if kk < k:
        top = np.hstack([top, np.full((n, k - kk), -np.finfo(np.float32).max, np.float32)])
        slots = np.hstack([slots, np.full((n, k - kk), -1, np.int64)])
    return top, slots


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
            if self.config.kind == "flat" and len(q) >= BLAS_MIN_QUERIES:
                return self._flat_product_search(q, k)
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

    def _flat_product_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner-product top-k of many queries: BLAS products over the flat index's
        vectors, read in place."""
        faiss = faiss_module()
        n = self.ntotal
        xb = faiss.rev_swig_ptr(self.index.get_xb(), n * self.dim).reshape(n, self.dim)
        parts = [_top_k(q[i : i + _BLAS_CHUNK] @ xb.T, k) for i in range(0, len(q), _BLAS_CHUNK)]
        return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])

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
