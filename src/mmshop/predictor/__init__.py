"""MultimodalPredictor: learn label columns from a catalogue's images, text and attributes."""

from mmshop.predictor.config import PredictorConfig
from mmshop.predictor.core import MultimodalPredictor

__all__ = ["MultimodalPredictor", "PredictorConfig"]
