"""Shared pieces of the fusion modules."""

from __future__ import annotations

import torch
from torch import nn

from mmshop.errors import ConfigError


class Projections(nn.Module):
    """Projects each modality to a common width with Linear + LayerNorm, in a fixed key order."""

    def __init__(self, input_dims: dict[str, int], dim: int) -> None:
        super().__init__()
        if not input_dims:
            raise ConfigError("a fusion needs at least one modality")
        self.keys = sorted(input_dims)
        self.proj = nn.ModuleDict(
            {k: nn.Sequential(nn.Linear(input_dims[k], dim), nn.LayerNorm(dim)) for k in self.keys}
        )

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Return ``[B, M, dim]`` stacked in sorted modality order."""
        missing = [k for k in self.keys if k not in features]
        if missing:
            raise KeyError(f"fusion expects modalities {self.keys}, missing {missing}")
        return torch.stack([self.proj[k](features[k]) for k in self.keys], dim=1)
