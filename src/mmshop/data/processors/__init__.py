"""Processors turn catalogue columns into arrays; each saves its state as JSON."""

from mmshop.data.processors.image import ImageProcessor, ImageProcessorConfig
from mmshop.data.processors.labels import IGNORE_INDEX, LabelEncoder
from mmshop.data.processors.tabular import TabularProcessor, normalize_category, tabular_mask
from mmshop.data.processors.text import TextProcessor, TextProcessorConfig, nonempty

__all__ = [
    "IGNORE_INDEX",
    "ImageProcessor",
    "ImageProcessorConfig",
    "LabelEncoder",
    "TabularProcessor",
    "TextProcessor",
    "TextProcessorConfig",
    "nonempty",
    "normalize_category",
    "tabular_mask",
]
