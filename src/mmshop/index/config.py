"""Configuration of the product vector index."""

from __future__ import annotations

from dataclasses import dataclass

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError

INDEX_KINDS = ("flat", "hnsw", "ivfpq")


def _positive_int(name: str, value: object, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass
class IndexConfig(ConfigBase):
    """Which FAISS index holds the vectors, and its search-time knobs.

    ``flat`` is exact inner product (the default, fine to a few hundred thousand items);
    ``hnsw`` is a graph index (``hnsw_m`` links per node, ``ef_construction`` / ``ef_search``
    beam widths); ``ivfpq`` clusters into ``ivf_nlist`` lists (0: about 4 * sqrt(n)) and
    compresses vectors to ``pq_m`` codes of ``pq_bits`` bits (0: dim / 8), probing ``nprobe``
    lists; its candidates are re-scored exactly when ``rerank``. A filtered query whose allowed
    set has at most ``brute_force_limit`` items is answered exactly over those items.
    """

    kind: str = "flat"
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    ivf_nlist: int = 0
    pq_m: int = 0
    pq_bits: int = 8
    nprobe: int = 16
    rerank: bool = True
    brute_force_limit: int = 50_000
    rrf_k: int = 60

    def validate(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ConfigError(f"index kind must be one of {list(INDEX_KINDS)}, got {self.kind!r}")
        for name in ("hnsw_m", "ef_construction", "ef_search", "nprobe", "rrf_k"):
            _positive_int(name, getattr(self, name))
        for name in ("ivf_nlist", "pq_m", "brute_force_limit"):
            _positive_int(name, getattr(self, name), minimum=0)
        if self.pq_bits not in (4, 5, 6, 7, 8, 10, 12, 16):
            raise ConfigError(f"pq_bits must be one of 4..8, 10, 12, 16, got {self.pq_bits!r}")
