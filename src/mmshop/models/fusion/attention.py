"""Attention fusion: a small Transformer over one token per modality plus a summary token."""

from __future__ import annotations

import torch
from torch import nn

from mmshop.errors import ConfigError
from mmshop.models.fusion.base import Projections
from mmshop.registry import FUSIONS


@FUSIONS.register("attention")
class AttentionFusion(nn.Module):
    """Modality tokens (projected + a learned modality embedding) and a [CLS] token go through
    ``layers`` Transformer layers; the [CLS] output is the fused vector."""

    def __init__(
        self,
        input_dims: dict[str, int],
        dim: int = 256,
        layers: int = 1,
        heads: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"attention fusion dim ({dim}) must be divisible by heads ({heads})")
        self.project = Projections(input_dims, dim)
        m = len(self.project.keys)
        self.modality_embedding = nn.Parameter(torch.zeros(1, m, dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.modality_embedding, std=0.02)
        nn.init.normal_(self.cls, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, 2 * dim, dropout, batch_first=True, norm_first=True, activation="gelu"
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.output_dim = dim

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = self.project(features) + self.modality_embedding
        cls = self.cls.expand(tokens.shape[0], -1, -1)
        out = self.encoder(torch.cat([cls, tokens], dim=1))
        return self.norm(out[:, 0])
