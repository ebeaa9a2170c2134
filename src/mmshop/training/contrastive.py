"""Contrastive image-text losses (CLIP InfoNCE, SigLIP) that read model outputs by name.

Both losses read ``outputs["image_embeds"]`` and ``outputs["text_embeds"]`` (``[B, D]``, any
norm: they are L2-normalised here), ``outputs["logit_scale"]`` (a scalar in log space: the
similarity multiplier is ``exp(logit_scale)``) and, for SigLIP, ``outputs["logit_bias"]``.

When ``outputs["text_bank"]`` (``[G, D]``, fixed text embeddings, one per text group) is
present, the CLIP loss's image-to-text side contrasts each image with the whole bank instead of
the batch's texts; ``batch["group"]`` then gives each row's bank index (see
:meth:`mmshop.search.model.TwoTowerModel.set_text_bank`).

Rows that describe the same thing (e.g. two products with the same title) should not push each
other apart. When ``batch["group"]`` (int64 ``[B]``) is present, every pair of rows with equal
group ids counts as a positive pair; without it only the diagonal is positive.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mmshop.errors import ConfigError
from mmshop.registry import LOSSES


def _embeds(outputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    missing = [k for k in ("image_embeds", "text_embeds", "logit_scale") if k not in outputs]
    if missing:
        raise ConfigError(
            f"contrastive loss needs outputs {missing}; the model returned {sorted(outputs)}"
        )
    image = F.normalize(outputs["image_embeds"].float(), dim=-1)
    text = F.normalize(outputs["text_embeds"].float(), dim=-1)
    if image.shape != text.shape:
        raise ConfigError(
            f"image_embeds {tuple(image.shape)} and text_embeds {tuple(text.shape)} differ"
        )
    return image, text


def positive_mask(batch: dict, n: int, device: torch.device) -> torch.Tensor:
    """bool ``[B, B]``: True where row i's image and row j's text describe the same thing."""
    group = batch.get("group") if isinstance(batch, dict) else None
    if group is None:
        return torch.eye(n, dtype=torch.bool, device=device)
    group = torch.as_tensor(group, device=device).reshape(-1)
    if group.numel() != n:
        raise ConfigError(f"batch['group'] has {group.numel()} entries for a batch of {n}")
    return group.unsqueeze(0) == group.unsqueeze(1)


def clip_loss(
    image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor, positives: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Symmetric InfoNCE over normalised embeddings; multi-positive rows share the target mass.

    With ``positives`` the identity this is exactly CLIP's loss:
    ``(CE(s * I T^T, arange) + CE(s * T I^T, arange)) / 2``.
    """
    logits = logit_scale.float().exp() * image @ text.t()
    target = positives.float()
    target = target / target.sum(dim=1, keepdim=True)
    i2t = -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    t2i = -(target.t() * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return {"i2t_loss": i2t, "t2i_loss": t2i, "loss": (i2t + t2i) / 2}


def bank_clip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    bank: torch.Tensor,
    logit_scale: torch.Tensor,
    group: torch.Tensor,
    positives: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """CLIP loss whose image-to-text side scores every bank text: ``CE(s * I B^T, group)``.

    The text-to-image side stays in-batch (images change as they train; texts do not).
    """
    scale = logit_scale.float().exp()
    if group.min() < 0 or group.max() >= bank.shape[0]:
        raise ConfigError(f"batch['group'] must index the text bank of {bank.shape[0]} rows")
    i2t = F.cross_entropy(scale * image @ F.normalize(bank.float(), dim=-1).t(), group)
    target = positives.float().t()
    target = target / target.sum(dim=1, keepdim=True)
    t2i = -(target * F.log_softmax(scale * text @ image.t(), dim=1)).sum(dim=1).mean()
    return {"i2t_loss": i2t, "t2i_loss": t2i, "loss": (i2t + t2i) / 2}


def siglip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
    positives: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Pairwise sigmoid loss: ``-sum_ij log sigmoid(z_ij (s x_i.y_j + b)) / B``, z = +1/-1."""
    logits = logit_scale.float().exp() * image @ text.t() + logit_bias.float()
    signs = positives.float() * 2.0 - 1.0
    loss = -F.logsigmoid(signs * logits).sum() / image.shape[0]
    return {"loss": loss}


@LOSSES.register("clip")
class ClipLoss:
    """CLIP's symmetric InfoNCE with the model's learnable temperature (``logit_scale``)."""

    def __call__(self, outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        image, text = _embeds(outputs)
        positives = positive_mask(batch, image.shape[0], image.device)
        bank = outputs.get("text_bank")
        if bank is None:
            return clip_loss(image, text, outputs["logit_scale"], positives)
        if bank.ndim != 2 or bank.shape[1] != image.shape[1]:
            raise ConfigError(f"text_bank {tuple(bank.shape)} does not fit {tuple(image.shape)}")
        group = batch.get("group") if isinstance(batch, dict) else None
        if group is None:
            raise ConfigError("a text bank needs batch['group'] (each row's bank index)")
        group = torch.as_tensor(group, device=image.device).reshape(-1).long()
        return bank_clip_loss(image, text, bank, outputs["logit_scale"], group, positives)


@LOSSES.register("siglip")
class SigLipLoss:
    """SigLIP's sigmoid loss; needs ``outputs["logit_bias"]`` besides ``logit_scale``."""

    def __call__(self, outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        image, text = _embeds(outputs)
        if "logit_bias" not in outputs:
            raise ConfigError("siglip loss needs outputs['logit_bias'] (a learnable scalar)")
        positives = positive_mask(batch, image.shape[0], image.device)
        return siglip_loss(image, text, outputs["logit_scale"], outputs["logit_bias"], positives)


def init_logit_scale(temperature: float) -> float:
    """The log-space scale for an initial softmax temperature (CLIP: 0.07 -> log(1/0.07))."""
    if not 0 < temperature <= 10:
        raise ConfigError(f"temperature must be in (0, 10], got {temperature}")
    return math.log(1.0 / temperature)
