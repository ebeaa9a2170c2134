"""Fusions: ``forward(features: dict[str, Tensor]) -> Tensor``, registered in FUSIONS."""

from mmshop.models.fusion.attention import AttentionFusion
from mmshop.models.fusion.concat import ConcatFusion
from mmshop.models.fusion.gated import GatedFusion
from mmshop.models.fusion.weighted import WeightedFusion

__all__ = ["AttentionFusion", "ConcatFusion", "GatedFusion", "WeightedFusion"]
