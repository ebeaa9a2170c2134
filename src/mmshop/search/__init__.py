"""Cross-modal product search: contrastive alignment, product embeddings, Searcher."""

from mmshop.search.config import AlignConfig, EmbeddingConfig
from mmshop.search.encoder import SearchEncoder
from mmshop.search.indexing import build_index, product_embeddings
from mmshop.search.searcher import Searcher
from mmshop.search.zeroshot import evaluate_zero_shot, zero_shot_probs

__all__ = [
    "AlignConfig",
    "EmbeddingConfig",
    "SearchEncoder",
    "Searcher",
    "build_index",
    "evaluate_zero_shot",
    "product_embeddings",
    "zero_shot_probs",
]
