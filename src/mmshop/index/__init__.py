"""Vector index backends: FAISS (flat / HNSW / IVF-PQ), attribute filters, BM25 and RRF."""

from mmshop.index.config import IndexConfig
from mmshop.index.lexical import LexicalIndex, reciprocal_rank_fusion
from mmshop.index.metadata import MetadataStore, parse_filters
from mmshop.index.store import ModelVersionMismatch, ProductIndex, SearchHit

__all__ = [
    "IndexConfig",
    "LexicalIndex",
    "MetadataStore",
    "ModelVersionMismatch",
    "ProductIndex",
    "SearchHit",
    "parse_filters",
    "reciprocal_rank_fusion",
]
