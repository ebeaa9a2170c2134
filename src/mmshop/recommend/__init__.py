"""Personalised recommendations that learn from feedback without retraining.

::

    from mmshop.recommend import Recommender, attribute_embeddings

    items = attribute_embeddings(products_df, id_column="id")      # or from_predictor(...)
    rec = Recommender(items)
    rec.record_event("alice", "1549", "purchase")
    rec.recommend("alice", k=10, filters={"usage": "Casual"}, diversity=0.3)
"""

from mmshop.recommend.config import EVENT_TYPES, RecommendConfig
from mmshop.recommend.items import (
    ItemCatalogue,
    attribute_embeddings,
    combine,
    from_predictor,
    from_search_encoder,
    interaction_embeddings,
)
from mmshop.recommend.profile import Preferences, UserProfile
from mmshop.recommend.recommender import EventSource, Recommendation, Recommender
from mmshop.recommend.simulator import SimulatorConfig, leave_last_session_out, simulate_shoppers

__all__ = [
    "EVENT_TYPES",
    "EventSource",
    "ItemCatalogue",
    "Preferences",
    "RecommendConfig",
    "Recommendation",
    "Recommender",
    "SimulatorConfig",
    "UserProfile",
    "attribute_embeddings",
    "combine",
    "from_predictor",
    "from_search_encoder",
    "interaction_embeddings",
    "leave_last_session_out",
    "simulate_shoppers",
]
