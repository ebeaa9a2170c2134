"""Modality encoders: batch dict -> ``[B, output_dim]``, registered in ENCODERS."""

from mmshop.models.encoders.hf import HFTextEncoder, HFVisionEncoder
from mmshop.models.encoders.image_cnn import CompactCNN
from mmshop.models.encoders.tabular_mlp import TabularMLP
from mmshop.models.encoders.text_transformer import CompactTextTransformer

__all__ = ["CompactCNN", "CompactTextTransformer", "HFTextEncoder", "HFVisionEncoder", "TabularMLP"]
