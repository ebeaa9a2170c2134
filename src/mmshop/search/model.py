"""The alignment model: an image tower and a text tower projected into one normalised space."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmshop.errors import ConfigError
from mmshop.models.spec import InputSpec
from mmshop.registry import ENCODERS
from mmshop.search.config import AlignConfig

# importing the package registers the built-in encoders
from mmshop.models import encoders as _encoders  # noqa: F401  isort: skip


def _projection(in_dim: int, out_dim: int, hidden: int) -> nn.Module:
    if hidden <= 0:
        return nn.Linear(in_dim, out_dim, bias=False)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))


def _build_encoder(component: Any, spec: InputSpec) -> nn.Module:
    cls = ENCODERS.get(component.name)
    try:
        return cls(spec, **component.options)
    except TypeError as exc:
        raise ConfigError(
            f"encoder '{component.name}': bad options {component.options}: {exc}"
        ) from exc


class TwoTowerModel(nn.Module):
    """Maps a batch to ``{"image_embeds", "text_embeds", "logit_scale", "logit_bias"}``.

    Embeddings are L2-normalised ``[B, D]``; each is present only when the batch has that
    modality. ``logit_scale`` is learnable in log space and clamped at ``log(max_logit_scale)``.
    With ``lock_text`` the text encoder is frozen (kept in eval mode) and has no projection.
    """

    def __init__(
        self,
        image_encoder: nn.Module,
        text_encoder: nn.Module,
        embed_dim: int,
        proj_hidden: int = 0,
        temperature: float = 0.07,
        logit_bias: float = -10.0,
        max_logit_scale: float = 100.0,
        lock_text: bool = False,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.lock_text = lock_text
        if lock_text:
            embed_dim = text_encoder.output_dim
            self.text_proj: nn.Module = nn.Identity()
            for p in text_encoder.parameters():
                p.requires_grad_(False)
        else:
            self.text_proj = _projection(text_encoder.output_dim, embed_dim, proj_hidden)
        self.image_proj = _projection(image_encoder.output_dim, embed_dim, proj_hidden)
        self.embed_dim = embed_dim
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.logit_bias = nn.Parameter(torch.tensor(float(logit_bias)))
        self.max_log_scale = math.log(max_logit_scale)
        self.register_buffer("text_bank", None, persistent=False)

    @property
    def encoders(self) -> dict[str, nn.Module]:
        """The towers by modality (cascade training precomputes the frozen ones' outputs)."""
        return {"image": self.image_encoder, "text": self.text_encoder}

    def set_text_bank(self, bank: torch.Tensor | None) -> None:
        """Fixed text embeddings ``[G, D]`` (one per text group) sent to the loss while training
        as ``outputs["text_bank"]``: every image is then contrasted with every training text,
        not only the batch's. Only valid when the text side cannot change (``lock_text``)."""
        if bank is not None:
            if not self.lock_text:
                raise ConfigError("a text bank needs a locked text tower (lock_text=True)")
            if bank.ndim != 2 or bank.shape[1] != self.embed_dim:
                raise ConfigError(
                    f"text bank must be [G, {self.embed_dim}], got {tuple(bank.shape)}"
                )
            bank = F.normalize(bank.float(), dim=-1)
        self.text_bank = bank

    def train(self, mode: bool = True) -> TwoTowerModel:
        super().train(mode)
        if self.lock_text:
            self.text_encoder.eval()
        return self

    def encode_image(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Normalised image embeddings ``[B, D]`` from ``batch["image"]`` (or the frozen
        encoder's precomputed ``batch["image_embedding"]``)."""
        return F.normalize(self.image_proj(self.image_encoder(batch)).float(), dim=-1)

    def encode_text(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Normalised text embeddings ``[B, D]`` from ``batch["text"]`` (or the frozen
        encoder's precomputed ``batch["text_embedding"]``)."""
        if self.lock_text:
            with torch.no_grad():
                feats = self.text_encoder(batch)
        else:
            feats = self.text_encoder(batch)
        return F.normalize(self.text_proj(feats).float(), dim=-1)

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {
            "logit_scale": self.logit_scale.clamp(max=self.max_log_scale),
            "logit_bias": self.logit_bias,
        }
        if "image" in batch or "image_embedding" in batch:
            out["image_embeds"] = self.encode_image(batch)
        if "text" in batch or "text_embedding" in batch:
            out["text_embeds"] = self.encode_text(batch)
        if self.training and self.text_bank is not None:
            out["text_bank"] = self.text_bank
        return out


def build_two_tower(config: AlignConfig, spec: InputSpec) -> TwoTowerModel:
    """Build both towers from the registry (``config.image_encoder`` / ``config.text_encoder``)."""
    if spec.image_size is None or spec.vocab_size is None:
        raise ConfigError("cross-modal alignment needs both an image column and a text column")
    image = _build_encoder(config.image_encoder, spec)
    text = _build_encoder(config.text_encoder, spec)
    return TwoTowerModel(
        image,
        text,
        config.embed_dim,
        config.proj_hidden,
        config.temperature,
        config.logit_bias,
        config.max_logit_scale,
        config.lock_text,
    )
