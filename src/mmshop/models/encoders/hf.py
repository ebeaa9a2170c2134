"""Encoders over any ``transformers`` checkpoint: ``hf_text`` and ``hf_vision``.

Both take ``checkpoint`` (a local folder, ``hf:minilm`` or a hub id), a training ``mode``:

- ``frozen``: the backbone never trains; its outputs can be computed once per catalogue
  (``<modality>_embedding`` batch key, see :mod:`mmshop.models.cascade`);
- ``lora``: LoRA adapters (``peft``) on the attention projections train, the base is frozen;
- ``full``: every backbone weight trains,

plus ``pooling``, ``normalize``, ``lora`` settings and ``backbone_lr_scale`` (the backbone's lr
as a fraction of the trainer's lr). Dual-tower checkpoints (CLIP, SigLIP, Chinese-CLIP) serve
either tower, or both through two encoders; sentence-transformers folders use their own pooling
and normalisation. Text uses the checkpoint's tokenizer (``text_attention_mask``) and images its
preprocessing; :meth:`make_processor` builds those processors.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from mmshop.errors import ConfigError
from mmshop.models.encoders.hf_backbone import load_backbone
from mmshop.models.spec import InputSpec
from mmshop.registry import ENCODERS
from mmshop.training.lora import (
    LoraSettings,
    apply_lora,
    count_parameters,
    is_lora_key,
    merge_lora,
)
from mmshop.utils.checkpoints import (
    Checkpoint,
    package_version,
    resolve_checkpoint,
    st_pooling_modes,
    weight_files,
)

MODES = ("frozen", "lora", "full")
DEFAULT_LR_SCALE = {"lora": 0.5, "full": 0.025}
# SigLIP pools the last position and was trained on fixed-length padding without a mask.
_FIXED_LENGTH = ("siglip", "siglip2")
_CASCADE_FORMAT = 1


def _peft_free_name(key: str) -> str:
    """A backbone state-dict key as it is without peft wrapping."""
    key = key.removeprefix("base_model.model.")
    return key.replace(".base_layer.", ".")


class HFEncoder(nn.Module):
    """Shared machinery of the pretrained encoders (see the module docstring)."""

    modality: ClassVar[str] = ""
    needs_checkpoint: ClassVar[bool] = True
    poolings: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        spec: InputSpec,
        checkpoint: str,
        mode: str = "frozen",
        pooling: str = "auto",
        normalize: bool | None = None,
        lora: Mapping[str, Any] | None = None,
        backbone_lr_scale: float | None = None,
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        self.check_options(
            {"checkpoint": checkpoint, "mode": mode, "pooling": pooling, "normalize": normalize,
             "lora": lora, "backbone_lr_scale": backbone_lr_scale, "pretrained": pretrained}
        )  # fmt: skip
        self.checkpoint: Checkpoint = resolve_checkpoint(checkpoint)
        self.mode = mode
        self.lora_settings = LoraSettings.from_dict(dict(lora or {}))
        backbone, self.dual, initialized = load_backbone(self.checkpoint, self.modality, pretrained)
        self._initialized = initialized
        self._configure(backbone)
        self.pooling = self._resolve_pooling(pooling)
        st = self.checkpoint.sentence_transformers
        self.normalize = bool(st and st["normalize"]) if normalize is None else bool(normalize)
        self.backbone = backbone
        self.output_dim = self._probe_dim(spec)
        self.backbone_params = count_parameters(backbone)["total"]
        self.backbone_lr_scale = (
            DEFAULT_LR_SCALE.get(mode, 0.0) if backbone_lr_scale is None else backbone_lr_scale
        )
        if mode == "frozen":
            backbone.requires_grad_(False)
            backbone.eval()
        elif mode == "lora":
            self.backbone = apply_lora(backbone, self.checkpoint.model_type, self.lora_settings)

    # ------------------------------------------------------------------ options
    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Validate options without loading anything; ConfigError names the bad one."""
        name = getattr(cls, "registry_name", cls.__name__)
        allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "spec"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ConfigError(f"{name}: unknown option(s) {unknown}; valid: {sorted(allowed)}")
        checkpoint = options.get("checkpoint")
        if not isinstance(checkpoint, str) or not checkpoint.strip():
            raise ConfigError(
                f"{name}: option 'checkpoint' (a folder, hf:minilm or a hub id) is required"
            )
        mode = options.get("mode", "frozen")
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, got {mode!r}")
        pooling = options.get("pooling", "auto")
        if pooling not in cls.poolings:
            raise ConfigError(f"pooling must be one of {list(cls.poolings)}, got {pooling!r}")
        if options.get("normalize") not in (None, True, False):
            raise ConfigError(
                f"normalize must be true, false or null, got {options['normalize']!r}"
            )
        lora = options.get("lora")
        if lora is not None and not isinstance(lora, Mapping):
            raise ConfigError(f"lora must be a mapping of LoRA settings, got {lora!r}")
        LoraSettings.from_dict(dict(lora or {}))
        scale = options.get("backbone_lr_scale")
        if scale is not None and (
            isinstance(scale, bool) or not isinstance(scale, int | float) or scale < 0
        ):
            raise ConfigError(f"backbone_lr_scale must be a number >= 0 or null, got {scale!r}")

    @classmethod
    def default_options(cls, checkpoint: str, mode: str = "frozen") -> dict[str, Any]:
        """Every option spelled out, so each can be overridden by key later."""
        return {
            "checkpoint": checkpoint,
            "mode": mode,
            "pooling": "auto",
            "normalize": None,
            "lora": LoraSettings().to_dict(),
            "backbone_lr_scale": None,
        }

    # ------------------------------------------------------------------ subclass hooks
    def _configure(self, backbone: nn.Module) -> None:
        """Inspect the backbone before wrapping (signatures, families)."""

    def _resolve_pooling(self, pooling: str) -> list[str]:
        raise NotImplementedError

    def _probe_input(self, spec: InputSpec) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def encode(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Run the backbone on the raw inputs of ``batch`` -> ``[B, output_dim]``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ running
    @torch.no_grad()
    def _probe_dim(self, spec: InputSpec) -> int:
        was = self.backbone.training
        self.backbone.eval()
        try:
            return int(self.encode(self._probe_input(spec)).shape[-1])
        finally:
            self.backbone.train(was)

    @property
    def cascade(self) -> bool:
        """True when outputs may be precomputed once (frozen backbone)."""
        return self.mode == "frozen"

    def forward(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if self.mode == "frozen":
            precomputed = batch.get(f"{self.modality}_embedding")
            if precomputed is not None:
                return precomputed.float()
            with torch.no_grad():
                return self.encode(batch)
        return self.encode(batch)

    def train(self, mode: bool = True) -> HFEncoder:
        super().train(mode)
        if self.mode == "frozen":
            self.backbone.eval()  # no dropout: outputs must match the cached embeddings
        return self

    def _finish(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(pooled, dim=-1) if self.normalize else pooled

    # ------------------------------------------------------------------ saving / training
    def external_state_keys(self) -> set[str]:
        """State-dict keys (relative to this encoder) that come from the base checkpoint and
        are therefore not saved: the whole backbone when frozen, all but the adapters with
        LoRA, nothing when fully fine-tuned. Weights the checkpoint lacked are always saved."""
        if self.mode == "full":
            return set()
        out = set()
        for key in self.backbone.state_dict():
            if self.mode == "lora" and is_lora_key(key):
                continue
            if _peft_free_name(key) in self._initialized:
                continue
            out.add(f"backbone.{key}")
        return out

    def lr_multipliers(self) -> dict[str, float]:
        """lr multipliers by parameter-name prefix relative to this encoder."""
        if self.mode == "frozen":
            return {}
        return {"backbone": float(self.backbone_lr_scale)}

    def base_reference(self) -> dict[str, Any]:
        """What a saved model records about the base checkpoint it needs."""
        if self.mode == "full" and not weight_files(self.checkpoint.root):
            # built from a saved model's config files: its weights live in that model
            ref = {"checkpoint": self.checkpoint.ref, "path": str(self.checkpoint.root),
                   "sha256": None, "model_type": self.checkpoint.model_type}  # fmt: skip
        else:
            ref = self.checkpoint.reference()
        ref.update(mode=self.mode, transformers=package_version("transformers"))
        if self.mode == "lora":
            ref["lora"] = self.lora_settings.to_dict()
        return ref

    def cascade_identity(self) -> dict[str, Any]:
        """Everything the precomputed embeddings depend on (keys their disk cache)."""
        identity: dict[str, Any] = {
            "format": _CASCADE_FORMAT,
            "encoder": type(self).__name__,
            "weights": self.checkpoint.sha256,
            "model_type": self.checkpoint.model_type,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "transformers": package_version("transformers"),
        }
        if self._initialized:  # freshly initialised weights: hash their values too
            h = hashlib.sha256()
            state = self.backbone.state_dict()
            for key in sorted(self._initialized):
                h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
            identity["initialized"] = h.hexdigest()
        return identity

    def parameter_counts(self) -> dict[str, Any]:
        """Backbone size (without adapters), trainable backbone parameters and their share."""
        trainable = sum(p.numel() for p in self.backbone.parameters() if p.requires_grad)
        return {
            "backbone_params": self.backbone_params,
            "backbone_trainable": trainable,
            "trainable_fraction": trainable / max(1, self.backbone_params),
        }

    def merge_adapters(self) -> None:
        """Fold LoRA adapters into the backbone; the encoder becomes a ``full`` one."""
        if self.mode != "lora":
            raise ConfigError(
                f"merge_adapters: the {self.modality} encoder is '{self.mode}', not 'lora'"
            )
        self.backbone = merge_lora(self.backbone)
        self.backbone.requires_grad_(True)
        self.mode = "full"


@ENCODERS.register("hf_text")
class HFTextEncoder(HFEncoder):
    """Text through a transformers checkpoint (BERT, MiniLM, RoBERTa, Chinese BERT, the text
    tower of CLIP / SigLIP / Chinese-CLIP, sentence-transformers folders).

    ``pooling``: ``auto`` (sentence-transformers config, else ``projection`` for dual towers,
    else ``mean``), ``mean``, ``cls``, ``max``, ``mean_sqrt_len``, ``last``, ``pooler``
    (the model's pooler output) or ``projection`` (dual towers: the shared-space embedding).
    """

    modality = "text"
    poolings = ("auto", "mean", "cls", "max", "mean_sqrt_len", "last", "pooler", "projection")

    @classmethod
    def make_processor(cls, options: Mapping[str, Any], base: Any) -> Any:
        """The checkpoint's tokenizer, ``base.max_length`` capped by the model's limits."""
        from mmshop.data.processors.hf_text import HFTextProcessor

        ckpt = resolve_checkpoint(options["checkpoint"])
        text_cfg = ckpt.config.get("text_config") or ckpt.config
        caps = [text_cfg.get("max_position_embeddings")]
        if ckpt.sentence_transformers:
            caps.append(ckpt.sentence_transformers.get("max_seq_length"))
        caps = [int(c) for c in caps if isinstance(c, int) and c > 0]
        return HFTextProcessor.from_checkpoint(ckpt.path, base.max_length, min(caps, default=None))

    def _configure(self, backbone: nn.Module) -> None:
        self.fixed_length = self.checkpoint.model_type in _FIXED_LENGTH

    def _resolve_pooling(self, pooling: str) -> list[str]:
        if pooling != "auto":
            if pooling == "projection" and not self.dual:
                raise ConfigError(
                    "pooling 'projection' needs a dual-tower checkpoint (CLIP, SigLIP)"
                )
            return [pooling]
        st = self.checkpoint.sentence_transformers
        if st is not None:
            modes = st_pooling_modes(st["pooling"])
            unsupported = [m for m in modes if m not in self.poolings]
            if unsupported:
                raise ConfigError(
                    f"{self.checkpoint.ref}: pooling mode(s) {unsupported} are not supported"
                )
            return modes
        return ["projection"] if self.dual else ["mean"]

    def _probe_input(self, spec: InputSpec) -> dict[str, torch.Tensor]:
        ids = torch.tensor([[1, 2]], dtype=torch.long)
        return {"text": ids, "text_attention_mask": torch.ones_like(ids)}

    def encode(self, batch: Mapping[str, Any]) -> torch.Tensor:
        ids = batch["text"]
        attention = batch.get("text_attention_mask")
        attention = ids.ne(0) if attention is None else attention.bool()
        empty = ~attention.any(dim=1)
        if bool(empty.any()):  # a row with no token (empty or dropped text): attend position 0
            attention = attention.clone()
            attention[empty, 0] = True
        if not self.fixed_length:  # drop columns that are padding in every row
            used = attention.any(dim=0).nonzero().flatten()
            lo, hi = int(used[0]), int(used[-1]) + 1
            ids, attention = ids[:, lo:hi], attention[:, lo:hi]
        kwargs: dict[str, Any] = {"input_ids": ids}
        if not self.fixed_length:
            kwargs["attention_mask"] = attention.long()
        run = self.backbone.get_text_features if self.dual else self.backbone
        out = run(**kwargs)
        if self.fixed_length:
            attention = torch.ones_like(attention)
        return self._finish(torch.cat([self._pool(m, out, attention) for m in self.pooling], -1))

    def _pool(self, mode: str, out: Any, attention: torch.Tensor) -> torch.Tensor:
        if mode in ("pooler", "projection"):
            if out.pooler_output is None:
                raise ConfigError(f"{self.checkpoint.ref} has no pooler output; use pooling 'mean'")
            return out.pooler_output
        hidden = out.last_hidden_state
        mask = attention.unsqueeze(-1).to(hidden.dtype)
        if mode == "cls":
            return hidden[:, 0]
        if mode == "last":
            last = attention.long().sum(1).clamp(min=1) - 1
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        if mode == "max":
            return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).amax(1)
        total = (hidden * mask).sum(1)
        count = mask.sum(1).clamp(min=1.0)
        return total / (count.sqrt() if mode == "mean_sqrt_len" else count)


@ENCODERS.register("hf_vision")
class HFVisionEncoder(HFEncoder):
    """Images through a transformers checkpoint (ViT, DeiT, DINOv2, ConvNeXt, ... or the vision
    tower of CLIP / SigLIP / Chinese-CLIP), preprocessed with the checkpoint's size and mean/std.

    ``pooling``: ``auto`` (``projection`` for dual towers, ``cls`` for token models, else the
    pooler output), ``cls``, ``mean``, ``pooler`` or ``projection``.
    """

    modality = "image"
    poolings = ("auto", "cls", "mean", "pooler", "projection")

    @classmethod
    def make_processor(cls, options: Mapping[str, Any], base: Any) -> Any:
        """An ImageProcessor with the checkpoint's size, resize mode and mean/std."""
        from mmshop.data.processors.hf_image import checkpoint_image_config
        from mmshop.data.processors.image import ImageProcessor

        ckpt = resolve_checkpoint(options["checkpoint"])
        return ImageProcessor(checkpoint_image_config(ckpt.path, ckpt.config, base))

    def _configure(self, backbone: nn.Module) -> None:
        fn = backbone.get_image_features if self.dual else backbone.forward
        self._interpolate = "interpolate_pos_encoding" in inspect.signature(fn).parameters

    def _resolve_pooling(self, pooling: str) -> list[str]:
        if pooling == "projection" and not self.dual:
            raise ConfigError("pooling 'projection' needs a dual-tower checkpoint (CLIP, SigLIP)")
        if pooling == "auto" and self.dual:
            return ["projection"]
        return [pooling]  # plain "auto" is settled by the first output (see _pool)

    def _probe_input(self, spec: InputSpec) -> dict[str, torch.Tensor]:
        if spec.image_size is not None:
            h, w = spec.image_size
        else:
            vision = self.checkpoint.config.get("vision_config") or self.checkpoint.config
            side = vision.get("image_size", 224)
            h = w = int(side[0] if isinstance(side, list | tuple) else side)
        return {"image": torch.zeros(1, 3, h, w)}

    def encode(self, batch: Mapping[str, Any]) -> torch.Tensor:
        pixels = batch["image"].float().contiguous()
        kwargs: dict[str, Any] = {"pixel_values": pixels}
        if self._interpolate:
            kwargs["interpolate_pos_encoding"] = True
        run = self.backbone.get_image_features if self.dual else self.backbone
        out = run(**kwargs)
        return self._finish(self._pool(self.pooling[0], out))

    def _pool(self, mode: str, out: Any) -> torch.Tensor:
        hidden = getattr(out, "last_hidden_state", None)
        pooler = getattr(out, "pooler_output", None)
        if mode == "auto":
            if hidden is not None and hidden.ndim == 3:
                mode = "cls"
            else:
                mode = "pooler" if pooler is not None else "mean"
            self.pooling = [mode]
        if mode in ("pooler", "projection"):
            if pooler is None:
                raise ConfigError(f"{self.checkpoint.ref} has no pooler output; use pooling 'cls'")
            return pooler.flatten(1)
        if hidden is None:
            raise ConfigError(f"{self.checkpoint.ref} returns no hidden states to pool")
        if mode == "cls":
            if hidden.ndim != 3:
                raise ConfigError(f"{self.checkpoint.ref} has no tokens; use pooling 'mean'")
            return hidden[:, 0]
        return hidden.mean(1) if hidden.ndim == 3 else hidden.flatten(2).mean(-1)
