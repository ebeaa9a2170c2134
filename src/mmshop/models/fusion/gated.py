"""Gated fusion: per-sample, per-modality sigmoid gates computed from all modalities."""

from __future__ import annotations

import torch
from torch import nn

from mmshop.models.fusion.base import Projections
from mmshop.registry import FUSIONS


@FUSIONS.register("gated")
class GatedFusion(nn.Module):
    """Gates ``g = sigmoid(W [p_1; ...; p_M])`` of shape ``[B, M, dim]`` weight each projection."""

    def __init__(self, input_dims: dict[str, int], dim: int = 256) -> None:
        super().__init__()
        self.project = Projections(input_dims, dim)
        m = len(self.project.keys)
        self.gate = nn.Linear(m * dim, m * dim)
        self.output_dim = dim
        self.last_gates: torch.Tensor | None = None

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        stacked = self.project(features)
        b, m, d = stacked.shape
        gates = torch.sigmoid(self.gate(stacked.reshape(b, m * d))).view(b, m, d)
        self.last_gates = gates.detach().mean(dim=(0, 2))
        return (gates * stacked).sum(dim=1)

    def weights(self) -> dict[str, float]:
        """Mean gate value per modality over the last batch (empty before the first call)."""
        if self.last_gates is None:
            return {}
        return dict(zip(self.project.keys, self.last_gates.tolist(), strict=True))
