"""MultimodalModel: encoders per modality -> fusion -> head, with per-row missing modalities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmshop.errors import ConfigError
from mmshop.models.config import ModelConfig
from mmshop.models.spec import InputSpec
from mmshop.registry import ENCODERS, FUSIONS, HEADS

# importing the packages registers the built-in components
from mmshop.models import encoders as _encoders  # noqa: F401  isort: skip
from mmshop.models import fusion as _fusion  # noqa: F401  isort: skip
from mmshop.models import heads as _heads  # noqa: F401  isort: skip


def _build(registry: Any, name: str, *args: Any, **options: Any) -> nn.Module:
    cls = registry.get(name)
    try:
        return cls(*args, **options)
    except TypeError as exc:
        raise ConfigError(f"{registry.kind} '{name}': bad options {options}: {exc}") from exc


class MultimodalModel(nn.Module):
    """Maps a batch dict to ``{"embedding", "features", "logits"}``.

    A row whose modality is missing (``mask:<modality>`` False) gets a learned "missing" vector
    for it. During training whole modalities are dropped per row with ``modality_dropout`` (never
    all of a row's modalities), so the model copes with missing photos or text at prediction time.
    """

    def __init__(
        self,
        encoders: dict[str, nn.Module],
        fusion: nn.Module,
        head: nn.Module,
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not encoders:
            raise ConfigError("a model needs at least one modality encoder")
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.head = head
        self.modality_dropout = modality_dropout
        self.missing = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(e.output_dim)) for m, e in encoders.items()}
        )

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def _masks(self, batch: Mapping[str, Any], batch_size: int) -> dict[str, torch.Tensor]:
        device = next(self.parameters()).device
        masks = {}
        for m in self.encoders:
            mask = batch.get(f"mask:{m}")
            masks[m] = (
                torch.ones(batch_size, dtype=torch.bool, device=device)
                if mask is None
                else mask.to(torch.bool)
            )
        if self.training and self.modality_dropout > 0 and len(masks) > 1:
            keys = list(masks)
            drop = torch.rand(batch_size, len(keys), device=device) < self.modality_dropout
            present = torch.stack([masks[k] for k in keys], dim=1)
            kept = present & ~drop
            # never leave a row with nothing: fall back to what it had
            kept = torch.where(kept.any(dim=1, keepdim=True), kept, present)
            masks = {k: kept[:, i] for i, k in enumerate(keys)}
        return masks

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        features: dict[str, torch.Tensor] = {}
        batch_size = None
        for m, encoder in self.encoders.items():
            feat = encoder(batch)
            features[m] = feat
            batch_size = feat.shape[0]
        assert batch_size is not None
        masks = self._masks(batch, batch_size)
        for m, feat in features.items():
            missing = self.missing[m].to(feat.dtype).unsqueeze(0)
            features[m] = torch.where(masks[m].unsqueeze(1), feat, missing)
        fused = self.fusion(features)
        out: dict[str, Any] = {"embedding": fused, "features": features}
        out.update(self.head(fused))
        return out

    def external_state_keys(self) -> set[str]:
        """State-dict keys provided by base checkpoints (frozen or LoRA-tuned backbones), which
        a saved model does not store."""
        keys: set[str] = set()
        for m, encoder in self.encoders.items():
            external = getattr(encoder, "external_state_keys", None)
            if callable(external):
                keys |= {f"encoders.{m}.{k}" for k in external()}
        return keys

    def lr_multipliers(self) -> dict[str, float]:
        """lr multipliers by parameter-name prefix that encoders ask for (e.g. a backbone)."""
        out: dict[str, float] = {}
        for m, encoder in self.encoders.items():
            wanted = getattr(encoder, "lr_multipliers", None)
            if callable(wanted):
                out.update({f"encoders.{m}.{k}": v for k, v in wanted().items()})
        return out

    def fusion_weights(self) -> dict[str, float]:
        """Per-modality weights when the fusion exposes them (weighted, gated), else empty."""
        weights = getattr(self.fusion, "weights", None)
        return weights() if callable(weights) else {}


def build_model(config: ModelConfig, spec: InputSpec) -> MultimodalModel:
    """Build the encoders for the modalities ``spec`` has, then the fusion and head."""
    present = [m for m in spec.modalities if m in config.encoders]
    if not present:
        raise ConfigError(
            f"no modality to learn from: data has {spec.modalities or 'none'}, "
            f"encoders configured for {sorted(config.encoders)}"
        )
    encoders = {
        m: _build(ENCODERS, config.encoders[m].name, spec, **config.encoders[m].options)
        for m in present
    }
    dims = {m: e.output_dim for m, e in encoders.items()}
    fusion = _build(FUSIONS, config.fusion.name, dims, **config.fusion.options)
    head = _build(HEADS, config.head.name, fusion.output_dim, spec, **config.head.options)
    return MultimodalModel(encoders, fusion, head, config.modality_dropout)
