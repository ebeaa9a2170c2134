"""Image settings of a pretrained checkpoint, read from its ``preprocessor_config.json``."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from mmshop.data.processors.image import ImageProcessorConfig
from mmshop.errors import ConfigError

log = logging.getLogger(__name__)

PREPROCESSOR_FILE = "preprocessor_config.json"
# PIL resampling codes used in Hugging Face image-processor configs
_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}


def _hw(value: Any, name: str) -> tuple[int, int] | None:
    """``{"height", "width"}`` or an int -> (h, w); ``{"shortest_edge"}`` -> None."""
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, dict) and "height" in value and "width" in value:
        return (int(value["height"]), int(value["width"]))
    if isinstance(value, dict) and "shortest_edge" in value:
        return None
    raise ConfigError(f"{PREPROCESSOR_FILE}: cannot read '{name}' = {value!r}")


def _model_image_size(config: dict[str, Any]) -> int | None:
    vision = config.get("vision_config") or {}
    size = vision.get("image_size", config.get("image_size"))
    return int(size) if isinstance(size, int) else None


def checkpoint_image_config(
    path: str | Path, model_config: dict[str, Any], base: ImageProcessorConfig
) -> ImageProcessorConfig:
    """``base`` (augmentation, limits) with size, resize mode, resampling and mean/std of the
    checkpoint at ``path``. Without a preprocessor config the model's ``image_size`` is used
    with mean/std 0.5 (and a warning)."""
    file = Path(path) / PREPROCESSOR_FILE
    if not file.is_file():
        side = _model_image_size(model_config)
        if side is None:
            raise ConfigError(
                f"checkpoint {path} has no {PREPROCESSOR_FILE} and no image_size in its config"
            )
        log.warning("%s has no %s; using %dx%d, mean/std 0.5", path, PREPROCESSOR_FILE, side, side)
        return dataclasses.replace(
            base, size=(side, side), mean=(0.5,) * 3, std=(0.5,) * 3, resize="stretch",
            shortest_edge=None,
        )  # fmt: skip
    try:
        pre = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file} is not valid JSON: {exc}") from exc
    size_value = pre.get("size", _model_image_size(model_config))
    size = _hw(size_value, "size") if size_value is not None else None
    shortest = size_value.get("shortest_edge") if isinstance(size_value, dict) else None
    resize, target = "stretch", size
    if pre.get("do_center_crop") and pre.get("crop_size") is not None:
        resize, target = "center_crop", _hw(pre["crop_size"], "crop_size")
    elif size is None and shortest:  # shortest edge only, no crop: a square at that side
        resize, target = "center_crop", (int(shortest), int(shortest))
    if target is None:
        raise ConfigError(f"{file}: no usable image size (size={size_value!r})")
    if pre.get("do_resize") is False:
        log.warning("%s says do_resize=false; images are still resized to %s", file, target)
    mean = tuple(pre.get("image_mean", (0.5, 0.5, 0.5)))
    std = tuple(pre.get("image_std", (0.5, 0.5, 0.5)))
    if pre.get("do_normalize") is False:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if len(mean) == 1:
        mean, std = mean * 3, std * 3
    resample = pre.get("resample", 2)
    resample = _PIL_RESAMPLE.get(resample, "bicubic") if isinstance(resample, int) else "bicubic"
    return dataclasses.replace(
        base,
        size=(int(target[0]), int(target[1])),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        resize=resize,
        shortest_edge=int(shortest) if resize == "center_crop" and shortest else None,
        resample=resample,
    )
