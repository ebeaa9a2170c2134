"""mmshop: multimodal machine learning for commerce.

Public API::

    from mmshop import Catalog, MultimodalPredictor, load_sample
    from mmshop import Searcher, Recommender, FitModel, SentimentModel, TitleGenerator
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AttributeExtractor",
    "BodySizeModel",
    "Catalog",
    "ColumnRoles",
    "FitModel",
    "ModelConfig",
    "MultimodalPredictor",
    "PredictorConfig",
    "Recommender",
    "SearchEncoder",
    "Searcher",
    "SentimentModel",
    "TitleGenerator",
    "__version__",
    "load_sample",
]

_LAZY = {
    "AttributeExtractor": "mmshop.extract",
    "BodySizeModel": "mmshop.fit",
    "Catalog": "mmshop.data.catalog",
    "ColumnRoles": "mmshop.data.roles",
    "FitModel": "mmshop.fit",
    "ModelConfig": "mmshop.models.config",
    "MultimodalPredictor": "mmshop.predictor.core",
    "PredictorConfig": "mmshop.predictor.config",
    "Recommender": "mmshop.recommend",
    "SearchEncoder": "mmshop.search.encoder",
    "Searcher": "mmshop.search.searcher",
    "SentimentModel": "mmshop.reviews",
    "TitleGenerator": "mmshop.caption",
    "load_sample": "mmshop.samples",
}

if TYPE_CHECKING:
    from mmshop.caption import TitleGenerator
    from mmshop.data.catalog import Catalog
    from mmshop.data.roles import ColumnRoles
    from mmshop.extract import AttributeExtractor
    from mmshop.fit import BodySizeModel, FitModel
    from mmshop.models.config import ModelConfig
    from mmshop.predictor.config import PredictorConfig
    from mmshop.predictor.core import MultimodalPredictor
    from mmshop.recommend import Recommender
    from mmshop.reviews import SentimentModel
    from mmshop.samples import load_sample
    from mmshop.search.encoder import SearchEncoder
    from mmshop.search.searcher import Searcher


def __getattr__(name: str) -> Any:
    """Import the public classes on first use so ``import mmshop`` stays fast (no torch)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mmshop' has no attribute {name!r}")
