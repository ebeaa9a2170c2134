"""Tabular encoder: embeddings for categorical ids, numeric values with missing flags, an MLP."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mmshop.errors import ConfigError
from mmshop.models.spec import InputSpec
from mmshop.registry import ENCODERS


@ENCODERS.register("mlp")
class TabularMLP(nn.Module):
    """One embedding table per categorical column (id 0 = unknown) plus numeric features -> MLP."""

    modality = "tabular"

    def __init__(
        self, spec: InputSpec, dim: int = 64, embed_dim: int = 16, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if not spec.cardinalities and not spec.num_numeric:
            raise ConfigError("tabular encoder needs categorical or numeric columns")
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, min(embed_dim, max(2, n))) for n in spec.cardinalities
        )
        in_dim = sum(e.embedding_dim for e in self.embeddings) + spec.num_numeric
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim)
        )
        self.output_dim = dim

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.embeddings:
            cat = batch["tabular_cat"]
            parts += [emb(cat[:, i]) for i, emb in enumerate(self.embeddings)]
        if "tabular_num" in batch and batch["tabular_num"].shape[1]:
            parts.append(batch["tabular_num"].float())
        return self.mlp(torch.cat(parts, dim=1))
