"""Attribute extraction from product titles: BIO token tagging trained on weak labels."""

from mmshop.extract.labelling import DictionaryExtractor, LabelColumns, WeakLabeller, span_f1
from mmshop.extract.model import AttributeExtractor, ExtractorConfig

__all__ = [
    "AttributeExtractor",
    "DictionaryExtractor",
    "ExtractorConfig",
    "LabelColumns",
    "WeakLabeller",
    "span_f1",
]
