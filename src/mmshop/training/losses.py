"""Multi-task losses that read model outputs by name (see docs/contracts.md)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from mmshop.errors import ConfigError
from mmshop.registry import LOSSES

IGNORE_INDEX = -100


@LOSSES.register("cross_entropy")
class MultiTaskCrossEntropy:
    """Sum of per-label cross-entropies over ``outputs["logits"]``.

    Targets come from ``batch["labels"][label]`` (int64, ``-100`` = no label). Each label's loss
    is the (class-weighted) mean over its valid targets; a label with no valid target in the
    batch contributes 0 (never NaN). Labels present in the logits but absent from
    ``batch["labels"]`` are skipped. The total ``"loss"`` is ``sum(task_weight * label_loss)``.
    """

    def __init__(
        self,
        class_weights: Mapping[str, torch.Tensor] | None = None,
        label_smoothing: float = 0.0,
        task_weights: Mapping[str, float] | None = None,
    ) -> None:
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.class_weights = {
            k: torch.as_tensor(v, dtype=torch.float32) for k, v in (class_weights or {}).items()
        }
        for name, w in self.class_weights.items():
            if w.ndim != 1 or bool((w < 0).any()):
                raise ConfigError(f"class_weights['{name}'] must be a 1-D non-negative tensor")
        self.task_weights = {k: float(v) for k, v in (task_weights or {}).items()}
        for name, w in self.task_weights.items():
            if not np.isfinite(w) or w < 0:
                raise ConfigError(f"task_weights['{name}'] must be finite and >= 0, got {w}")

    def _weight_for(self, label: str, logits: torch.Tensor) -> torch.Tensor | None:
        w = self.class_weights.get(label)
        if w is None:
            return None
        if w.shape[0] != logits.shape[-1]:
            raise ConfigError(
                f"class_weights['{label}'] has {w.shape[0]} entries but the model predicts "
                f"{logits.shape[-1]} classes"
            )
        if w.device != logits.device:
            w = w.to(logits.device)
            self.class_weights[label] = w
        return w

    def __call__(self, outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        logits_by_label: dict[str, torch.Tensor] = outputs["logits"]
        targets_by_label: dict[str, torch.Tensor] = batch.get("labels", {})
        result: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        for label, logits in logits_by_label.items():
            if label not in targets_by_label:
                continue
            target = targets_by_label[label].to(device=logits.device, dtype=torch.long)
            logits = logits.float()
            weight = self._weight_for(label, logits)
            per_item = F.cross_entropy(
                logits,
                target,
                weight=weight,
                ignore_index=IGNORE_INDEX,
                label_smoothing=self.label_smoothing,
                reduction="none",
            )
            valid = target != IGNORE_INDEX
            if weight is None:
                denom = valid.sum().to(per_item.dtype)
            else:
                denom = (weight[target.clamp(min=0)] * valid).sum()
            # Same value as reduction="mean", but 0 instead of NaN when nothing is valid.
            loss = per_item.sum() / denom.clamp(min=1e-12)
            result[f"{label}_loss"] = loss
            weighted = loss * self.task_weights.get(label, 1.0)
            total = weighted if total is None else total + weighted
        if total is None:
            raise ConfigError(
                "cross_entropy loss found no label present in both outputs['logits'] "
                f"{sorted(logits_by_label)} and batch['labels'] {sorted(targets_by_label)}"
            )
        result["loss"] = total
        return result


def balanced_class_weights(
    counts: np.ndarray | list[int], power: float = 0.5, max_weight: float = 10.0
) -> torch.Tensor:
    """Inverse-frequency class weights ``(n / (k * count)) ** power``, tamed for rare classes.

    ``k`` is the number of seen classes (count > 0); unseen classes get weight 0. Weights are
    scaled so the average weight *per training example* is 1 (the loss keeps its scale), then
    capped at ``max_weight`` so that a class seen once cannot dominate. ``power=0`` gives uniform
    weights, ``1`` fully balanced ones. Returns a float32 tensor of ``len(counts)``.
    """
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(f"counts must be 1-D, got shape {arr.shape}")
    if (arr < 0).any() or not np.isfinite(arr).all():
        raise ConfigError("counts must be finite and non-negative")
    if power < 0 or not np.isfinite(power):
        raise ConfigError(f"power must be finite and >= 0, got {power}")
    if not max_weight >= 1.0:
        raise ConfigError(f"max_weight must be >= 1, got {max_weight}")
    weights = np.zeros_like(arr)
    seen = arr > 0
    if seen.any():
        n, k = arr.sum(), int(seen.sum())
        weights[seen] = (n / (k * arr[seen])) ** power
        weights[seen] /= (arr[seen] * weights[seen]).sum() / n
        weights[seen] = np.minimum(weights[seen], max_weight)
    return torch.as_tensor(weights, dtype=torch.float32)
