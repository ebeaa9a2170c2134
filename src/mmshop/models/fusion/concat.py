"""Concatenation fusion."""

from __future__ import annotations

import torch
from torch import nn

from mmshop.errors import ConfigError
from mmshop.registry import FUSIONS


@FUSIONS.register("concat")
class ConcatFusion(nn.Module):
    """Concatenate modality features (sorted by name), then LayerNorm."""

    def __init__(self, input_dims: dict[str, int], dim: int | None = None) -> None:
        super().__init__()
        if not input_dims:
            raise ConfigError("a fusion needs at least one modality")
        self.keys = sorted(input_dims)
        total = sum(input_dims.values())
        self.proj = nn.Linear(total, dim) if dim else nn.Identity()
        self.output_dim = dim or total
        self.norm = nn.LayerNorm(self.output_dim)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.norm(self.proj(torch.cat([features[k] for k in self.keys], dim=1)))
