"""LoRA adapters on pretrained backbones with ``peft``: settings, target modules, merging."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from torch import nn

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError, require

# Attention projections adapted per architecture family (``model_type`` in config.json).
# Module names can change between transformers releases (ViT's are query/value before 5.0 and
# q_proj/v_proj after); when a family's names are absent the fallbacks below are tried.
FAMILY_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "camembert": ["query", "value"],
    "electra": ["query", "value"],
    "ernie": ["query", "value"],
    "vit": ["query", "value"],
    "deit": ["query", "value"],
    "dinov2": ["query", "value"],
    "clip": ["q_proj", "v_proj"],
    "siglip": ["q_proj", "v_proj"],
    "siglip2": ["q_proj", "v_proj"],
    "distilbert": ["q_lin", "v_lin"],
    "mpnet": ["q", "v"],
    "deberta-v2": ["query_proj", "value_proj"],
}
# Tried in order when the family is unknown (or its targets are absent, e.g. Chinese-CLIP's
# BERT text tower vs its CLIP-style vision tower).
FALLBACK_TARGETS = (
    ["query", "value"],
    ["q_proj", "v_proj"],
    ["q_lin", "v_lin"],
    ["query_proj", "value_proj"],
    ["q", "v"],
)


@dataclass
class LoraSettings(ConfigBase):
    """Rank ``r``, scaling ``alpha``, dropout on the adapter input, and optional explicit
    ``target_modules`` (module-name suffixes; default: chosen per architecture family)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: list[str] | None = None

    def validate(self) -> None:
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise ConfigError(f"lora.r must be an integer >= 1, got {self.r!r}")
        if (
            not isinstance(self.alpha, int | float)
            or isinstance(self.alpha, bool)
            or self.alpha <= 0
        ):
            raise ConfigError(f"lora.alpha must be a number > 0, got {self.alpha!r}")
        if not isinstance(self.dropout, int | float) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout!r}")
        if self.target_modules is not None and (
            not isinstance(self.target_modules, list)
            or not self.target_modules
            or not all(isinstance(t, str) and t for t in self.target_modules)
        ):
            raise ConfigError(
                "lora.target_modules must be a non-empty list of names, "
                f"got {self.target_modules!r}"
            )


def _linear_suffixes(module: nn.Module) -> set[str]:
    return {
        name.rsplit(".", 1)[-1] for name, m in module.named_modules() if isinstance(m, nn.Linear)
    }


def lora_targets(module: nn.Module, model_type: str, settings: LoraSettings) -> list[str]:
    """The module-name suffixes to adapt in ``module`` (explicit, per family, or detected)."""
    present = _linear_suffixes(module)
    if settings.target_modules is not None:
        absent = [t for t in settings.target_modules if t not in present]
        if absent:
            raise ConfigError(
                f"lora.target_modules {absent} match no Linear layer of this {model_type} model; "
                f"some Linear names: {sorted(present)[:12]}"
            )
        return list(settings.target_modules)
    family = FAMILY_TARGETS.get(model_type)
    for targets in ([family] if family else []) + list(FALLBACK_TARGETS):
        if all(t in present for t in targets):
            return list(targets)
    raise ConfigError(
        f"cannot choose LoRA target modules for model type '{model_type}'; set "
        f"lora.target_modules (Linear layer names include {sorted(present)[:12]})"
    )


def apply_lora(module: nn.Module, model_type: str, settings: LoraSettings) -> nn.Module:
    """Wrap ``module`` with LoRA adapters (base weights frozen); returns the peft model."""
    peft = require("peft", "hf")
    config = peft.LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=lora_targets(module, model_type, settings),
        bias="none",
    )
    with warnings.catch_warnings():  # peft calls APIs newer transformers mark deprecated
        warnings.simplefilter("ignore", FutureWarning)
        return peft.get_peft_model(module, config)


def merge_lora(module: nn.Module) -> nn.Module:
    """Fold the adapters into the base weights and return the plain model (for export)."""
    merge = getattr(module, "merge_and_unload", None)
    if not callable(merge):
        raise ConfigError("this backbone has no LoRA adapters to merge")
    return merge()


def is_lora_key(name: str) -> bool:
    """True for state-dict keys that belong to LoRA adapters."""
    return ".lora_" in name or name.startswith("lora_")


def count_parameters(module: nn.Module) -> dict[str, Any]:
    """``{"trainable", "total"}`` parameter counts (shared tensors counted once)."""
    seen: set[int] = set()
    trainable = total = 0
    for p in module.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return {"trainable": trainable, "total": total}
