"""Review sentiment (English and Chinese) and opinion monitoring over time."""

from mmshop.reviews.config import SentimentConfig
from mmshop.reviews.model import SentimentModel, monitor_reviews
from mmshop.reviews.monitor import MonitorReport, negative_share_alerts, sentiment_aggregates

__all__ = [
    "MonitorReport",
    "SentimentConfig",
    "SentimentModel",
    "monitor_reviews",
    "negative_share_alerts",
    "sentiment_aggregates",
]
