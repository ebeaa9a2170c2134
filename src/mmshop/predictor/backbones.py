"""Saved predictors and the pretrained checkpoints they build on.

A saved predictor records, per pretrained encoder, its base checkpoint (reference, folder,
sha256 of the weight files, model type) and its mode. Frozen and LoRA encoders store only what
they trained, so loading needs the same base: it is located and its hash verified. A fully
fine-tuned encoder stores every weight plus the checkpoint's configs and tokenizer files under
``backbones/<modality>/``, so it loads without the base.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmshop.errors import ConfigError, MissingExtraError, ModelLoadError
from mmshop.models.config import ModelConfig
from mmshop.models.multimodal import MultimodalModel
from mmshop.utils.checkpoints import copy_non_weights, resolve_checkpoint

BACKBONES_DIR = "backbones"


def backbone_references(
    model: MultimodalModel, previous: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """What to record per pretrained encoder. A fully tuned encoder that was itself loaded from
    a saved model keeps the base it came from (``previous``) as provenance."""
    refs: dict[str, dict[str, Any]] = {}
    for modality, encoder in model.encoders.items():
        reference = getattr(encoder, "base_reference", None)
        if not callable(reference):
            continue
        if getattr(encoder, "mode", None) == "full" and previous and modality in previous:
            ref = {**previous[modality], "mode": "full"}
            ref.pop("lora", None)
        else:
            ref = reference()
        refs[modality] = ref
    return refs


def write_backbone_files(directory: Path, model: MultimodalModel) -> None:
    """Copy configs / tokenizer / processor files of fully tuned backbones (no weights)."""
    for modality, encoder in model.encoders.items():
        if getattr(encoder, "mode", None) == "full" and hasattr(encoder, "checkpoint"):
            copy_non_weights(encoder.checkpoint.root, directory / BACKBONES_DIR / modality)


def locate_base(modality: str, ref: Mapping[str, Any], override: str | None = None) -> str:
    """The reference to build a frozen / LoRA encoder from, after checking the weights' hash."""
    wanted = str(ref.get("sha256", ""))
    name = ref.get("checkpoint", "?")
    candidates = [override] if override else [ref.get("path"), ref.get("checkpoint")]
    problems: list[str] = []
    for candidate in [c for c in candidates if c]:
        try:
            found = resolve_checkpoint(str(candidate))
            digest = found.sha256
        except (ConfigError, MissingExtraError) as exc:
            problems.append(str(exc))
            continue
        if digest != wanted:
            raise ModelLoadError(
                f"the base checkpoint of the saved {modality} encoder has changed: {found.root} "
                f"has weights sha256 {digest[:16]}..., the model was trained on {name} with "
                f"{wanted[:16]}...; restore that checkpoint (or re-train on the new one)"
            )
        return str(candidate)
    where = f"at {override}" if override else f"at {ref.get('path')}"
    raise ModelLoadError(
        f"the saved {modality} encoder ({ref.get('mode')}) needs its base checkpoint {name} "
        f"({ref.get('model_type', '?')}, weights sha256 {wanted[:16]}...), not found {where}"
        f"{': ' + problems[-1] if problems else ''}. Put it back, or pass its new folder: "
        f"MultimodalPredictor.load(path, base_checkpoints={{'{modality}': FOLDER}})"
    )


def model_config_for_load(
    path: Path,
    model: ModelConfig,
    backbones: Mapping[str, Any],
    base_checkpoints: Mapping[str, str] | None = None,
) -> ModelConfig:
    """``model`` with each pretrained encoder pointed at what a saved folder needs."""
    overrides = dict(base_checkpoints or {})
    unknown = sorted(set(overrides) - set(backbones))
    if unknown:
        raise ModelLoadError(
            f"base_checkpoints names {unknown}, but {path} has pretrained encoders for "
            f"{sorted(backbones) or 'no modality'}"
        )
    for modality, ref in backbones.items():
        if modality not in model.encoders:
            raise ModelLoadError(f"{path}: config.json has no encoder for '{modality}'")
        options = dict(model.encoders[modality].options)
        options["mode"] = ref.get("mode", options.get("mode"))
        if ref.get("mode") == "full":
            files = Path(path) / BACKBONES_DIR / modality
            if not (files / "config.json").is_file():
                raise ModelLoadError(f"{path} is missing {BACKBONES_DIR}/{modality}/config.json")
            options.update(checkpoint=str(files), pretrained=False)
        else:
            options["checkpoint"] = locate_base(modality, ref, overrides.get(modality))
        model = model.replace({f"encoders.{modality}.options": options})
    return model
