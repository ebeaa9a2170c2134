"""Multi-task classification head: one small MLP per label column."""

from __future__ import annotations

import torch
from torch import nn

from mmshop.errors import ConfigError
from mmshop.models.spec import InputSpec
from mmshop.registry import HEADS


@HEADS.register("classification")
class MultiTaskClassificationHead(nn.Module):
    """Returns ``{"logits": {label: [B, n_classes]}}`` for every label in ``spec.num_classes``."""

    def __init__(
        self, in_dim: int, spec: InputSpec, hidden: int = 256, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if not spec.num_classes:
            raise ConfigError("a classification head needs at least one label")
        self.tasks = nn.ModuleDict(
            {
                label: nn.Sequential(
                    nn.Dropout(dropout),
                    nn.Linear(in_dim, hidden),
                    nn.GELU(),
                    nn.Dropout(dropout),
                    nn.Linear(hidden, n),
                )
                for label, n in spec.num_classes.items()
            }
        )

    def forward(self, fused: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        return {"logits": {label: task(fused) for label, task in self.tasks.items()}}
