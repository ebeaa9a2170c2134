"""Product title generation from a photo: a CNN image encoder and a small Transformer decoder."""

from mmshop.caption.config import CaptionConfig
from mmshop.caption.generator import TitleGenerator
from mmshop.caption.metrics import attribute_accuracy, bleu4, caption_scores, cider_d
from mmshop.caption.vocab import Vocabulary

__all__ = [
    "CaptionConfig",
    "TitleGenerator",
    "Vocabulary",
    "attribute_accuracy",
    "bleu4",
    "caption_scores",
    "cider_d",
]
