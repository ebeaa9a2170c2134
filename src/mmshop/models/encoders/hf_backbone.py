"""Loading a ``transformers`` backbone (one tower of it) from a checkpoint folder."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from mmshop.errors import ConfigError, require
from mmshop.utils.checkpoints import Checkpoint

# Attributes of dual-tower models (CLIP, SigLIP, Chinese-CLIP) that belong to each tower.
_TOWER_PARTS = {
    "text": ("text_model", "text_projection"),
    "image": ("vision_model", "visual_projection"),
}
_PAIR_PARAMS = ("logit_scale", "logit_bias")  # used only to compare the two towers
_INPUT_NAME = {"text": "input_ids", "image": "pixel_values"}


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' info/warning logs and progress bars while loading."""
    transformers = require("transformers", "hf")
    logging = transformers.utils.logging
    verbosity = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def is_dual_tower(model: nn.Module) -> bool:
    return callable(getattr(model, "get_text_features", None)) and callable(
        getattr(model, "get_image_features", None)
    )


def load_backbone(
    checkpoint: Checkpoint, tower: str, pretrained: bool = True
) -> tuple[nn.Module, bool, set[str]]:
    """Load ``checkpoint`` as an ``AutoModel`` in float32 and keep the ``tower`` it needs.

    Returns ``(model, dual, initialized)``: ``dual`` is True for dual-tower models (the other
    tower is dropped), ``initialized`` names weights the checkpoint did not hold (freshly
    initialised, so a saved model must store them). ``pretrained=False`` builds the
    architecture from ``config.json`` only (weights come from a saved model).
    """
    transformers = require("transformers", "hf")
    path = str(checkpoint.path)
    initialized: set[str] = set()
    try:
        with quiet_transformers():
            if pretrained:
                model, info = transformers.AutoModel.from_pretrained(
                    path, dtype=torch.float32, output_loading_info=True
                )
                initialized = set(info.get("missing_keys", ()))
            else:
                config = transformers.AutoConfig.from_pretrained(path)
                model = transformers.AutoModel.from_config(config, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot load checkpoint {checkpoint.ref} ({path}): {exc}") from exc
    dual = is_dual_tower(model)
    if dual:
        other = "image" if tower == "text" else "text"
        for name in _TOWER_PARTS[other]:
            if getattr(model, name, None) is not None:
                setattr(model, name, None)
        for name in _PAIR_PARAMS:
            model._parameters.pop(name, None)
        keep = {k for k in model.state_dict()}
        initialized &= keep
    elif getattr(model, "main_input_name", _INPUT_NAME[tower]) != _INPUT_NAME[tower]:
        raise ConfigError(
            f"checkpoint {checkpoint.ref} is a '{checkpoint.model_type}' model without a "
            f"{tower} tower (it reads '{model.main_input_name}')"
        )
    model.float()
    return model, dual, initialized
