"""Weighted fusion: s = sum_m a_m * p_m with learned, readable per-modality weights."""

from __future__ import annotations

import torch
from torch import nn

from mmshop.models.fusion.base import Projections
from mmshop.registry import FUSIONS


@FUSIONS.register("weighted")
class WeightedFusion(nn.Module):
    """The classic ``s = a*v + (1-a)*t`` generalised to n modalities: softmax weights over
    projected modality features. ``weights()`` reads them back."""

    def __init__(self, input_dims: dict[str, int], dim: int = 256) -> None:
        super().__init__()
        self.project = Projections(input_dims, dim)
        self.logits = nn.Parameter(torch.zeros(len(self.project.keys)))
        self.output_dim = dim

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        stacked = self.project(features)
        alpha = torch.softmax(self.logits, dim=0).to(stacked.dtype)
        return (stacked * alpha.view(1, -1, 1)).sum(dim=1)

    def weights(self) -> dict[str, float]:
        """The learned modality weights (they sum to 1)."""
        alpha = torch.softmax(self.logits.detach(), dim=0).tolist()
        return dict(zip(self.project.keys, alpha, strict=True))
