"""Choosing encoders by a short string: ``"hf:PATH"`` (a pretrained checkpoint) or a name."""

from __future__ import annotations

from typing import Any

from mmshop.errors import ConfigError
from mmshop.models.config import ModelConfig
from mmshop.models.multimodal import MultimodalModel  # noqa: F401  (registers encoders)
from mmshop.registry import ENCODERS
from mmshop.utils.checkpoints import PREFIX

PRETRAINED = {"text": "hf_text", "image": "hf_vision"}


def encoder_overrides(
    text_encoder: str | None = None,
    image_encoder: str | None = None,
    mode: str | None = None,
    model: ModelConfig | None = None,
) -> dict[str, Any]:
    """Config overrides for ``text_encoder`` / ``image_encoder`` strings and a training ``mode``.

    ``"hf:PATH"`` (a folder, a hub id, or ``hf:minilm``) selects the pretrained encoder of that
    modality with every option spelled out; any other string is a registered encoder name with
    its default options. ``mode`` (frozen | lora | full) applies to the pretrained encoders
    chosen here, or else to those already in ``model``.
    """
    out: dict[str, Any] = {}
    pretrained = 0
    for modality, choice in (("text", text_encoder), ("image", image_encoder)):
        if choice is None:
            continue
        if choice.startswith(PREFIX):
            cls = ENCODERS.get(PRETRAINED[modality])
            options = cls.default_options(choice, mode or "frozen")
            out[f"model.encoders.{modality}"] = {"name": PRETRAINED[modality], "options": options}
            pretrained += 1
        else:
            cls = ENCODERS.get(choice)
            own = getattr(cls, "modality", modality)
            if own != modality:
                raise ConfigError(f"encoder '{choice}' is a {own} encoder, not a {modality} one")
            out[f"model.encoders.{modality}"] = {"name": choice, "options": {}}
    if mode is not None and not pretrained:
        existing = [
            m
            for m, c in (model.encoders.items() if model else [])
            if getattr(ENCODERS.get(c.name), "needs_checkpoint", False)
        ]
        if not existing:
            raise ConfigError(
                "mode applies to pretrained encoders: give text_encoder or image_encoder "
                "as 'hf:PATH'"
            )
        for m in existing:
            options = {**model.encoders[m].options, "mode": mode}  # type: ignore[union-attr]
            out[f"model.encoders.{m}.options"] = options
    return out


def check_encoder_options(model: ModelConfig) -> None:
    """Validate each encoder's options early (before any data is processed)."""
    for modality, component in model.encoders.items():
        cls = ENCODERS.get(component.name)
        own = getattr(cls, "modality", modality)
        if own != modality:
            raise ConfigError(f"model.encoders.{modality}: '{component.name}' is a {own} encoder")
        check = getattr(cls, "check_options", None)
        if callable(check):
            check(component.options)
