"""Training data for the title decoder: cached images + target ids, batches, time budget."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mmshop.caption.config import CaptionConfig
from mmshop.caption.vocab import BOS, PAD, Vocabulary
from mmshop.data.cache import FeatureCache
from mmshop.data.catalog import Catalog
from mmshop.data.processors.image import ImageProcessor
from mmshop.errors import DataError


def default_cache_dir() -> Path:
    """``$MMSHOP_CACHE_DIR/features`` or ``~/.cache/mmshop/features``."""
    import os

    env = os.environ.get("MMSHOP_CACHE_DIR")
    return (Path(env) if env else Path.home() / ".cache" / "mmshop") / "features"


def titles_of(catalog: Catalog, column: str) -> list[str]:
    """The title column as clean strings ("" where missing); a missing column is an error."""
    if column not in catalog.df.columns:
        raise DataError(
            f"catalogue {catalog.source} has no title column '{column}' "
            f"(set title_column); columns: {list(catalog.df.columns)}"
        )
    return [
        "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
        for v in catalog.df[column].tolist()
    ]


def values_of(catalog: Catalog, column: str | None) -> list[str | None] | None:
    """An attribute column as strings/None, or None when the column is not there."""
    if not column or column not in catalog.df.columns:
        return None
    out: list[str | None] = []
    for v in catalog.df[column].tolist():
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
        out.append(text or None)
    return out


@dataclass
class CaptionData:
    """Decoded images (uint8 ``[N,H,W,3]``, maybe a memmap), targets ``[N, max_len]`` and
    the catalogue row of each kept example; ``skipped`` counts rows left out, by reason."""

    images: np.ndarray
    rows: np.ndarray
    targets: np.ndarray | None
    skipped: dict[str, int]


def load_images(
    catalog: Catalog, image: ImageProcessor, cache_dir: str | None, progress: bool
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str, str]]]:
    """Decoded images of every row (disk cache keyed by content), their mask and problems."""
    if not catalog.roles.image:
        raise DataError(f"catalogue {catalog.source} has no image column to caption")
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    arrays = FeatureCache(root).build(catalog, image, None, None, progress=progress)
    assert arrays.image is not None and arrays.image_mask is not None
    return arrays.image, np.asarray(arrays.image_mask, dtype=bool), arrays.problems


def caption_data(
    catalog: Catalog,
    image: ImageProcessor,
    config: CaptionConfig,
    vocab: Vocabulary | None,
    progress: bool,
) -> CaptionData:
    """Rows with a usable image (and, when ``vocab`` is given, a non-empty title)."""
    images, mask, _ = load_images(catalog, image, config.cache_dir, progress)
    keep = mask.copy()
    skipped = {"no_image": int((~mask).sum())}
    targets = None
    if vocab is not None:
        titles = titles_of(catalog, config.title_column)
        has_title = np.array([bool(t) for t in titles], dtype=bool)
        skipped["empty_title"] = int((mask & ~has_title).sum())
        keep &= has_title
        rows = np.flatnonzero(keep)
        targets = vocab.encode_batch([titles[i] for i in rows], config.max_len)
    rows = np.flatnonzero(keep)
    return CaptionData(images, rows, targets, skipped)


def teacher_forcing(targets: Tensor) -> Tensor:
    """Decoder inputs: BOS then the targets shifted right (the last position dropped)."""
    start = torch.full_like(targets[:, :1], BOS)
    return torch.cat([start, targets[:, :-1]], dim=1)


def trim(targets: Tensor) -> Tensor:
    """Drop trailing columns that are padding in every row (same loss, less work)."""
    used = targets.ne(PAD).any(dim=0).nonzero()
    return targets[:, : int(used[-1]) + 1] if len(used) else targets[:, :1]


class CaptionBatches:
    """Shuffled training batches ``{"image", "tokens_in", "targets"}`` with augmentation.

    ``steps`` caps the batches per epoch (a time budget); ``deadline`` (a ``perf_counter``
    value) ends an epoch early once passed (after at least one batch).
    """

    def __init__(
        self,
        data: CaptionData,
        processor: ImageProcessor,
        batch_size: int,
        seed: int,
        augment: bool,
    ) -> None:
        self.data, self.processor, self.size, self.seed = data, processor, batch_size, seed
        self.augment = augment
        self.epoch = 0
        self.steps: int | None = None
        self.deadline: float | None = None

    @property
    def full_steps(self) -> int:
        return (len(self.data.rows) + self.size - 1) // self.size

    def __len__(self) -> int:
        return self.full_steps if self.steps is None else min(self.steps, self.full_steps)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batch(self, positions: np.ndarray, generator: torch.Generator | None) -> dict[str, Tensor]:
        positions = np.sort(positions)  # sequential reads from the image memmap
        assert self.data.targets is not None
        x = self.processor.to_tensor(np.asarray(self.data.images[self.data.rows[positions]]))
        if generator is not None:
            x = self.processor.augment(x, generator)
        targets = trim(torch.from_numpy(self.data.targets[positions]))
        return {"image": x, "tokens_in": teacher_forcing(targets), "targets": targets}

    def __iter__(self):
        order = np.random.default_rng(self.seed + self.epoch).permutation(len(self.data.rows))
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        for k in range(len(self)):
            if k and self.deadline is not None and time.perf_counter() > self.deadline:
                return
            idx = order[k * self.size : (k + 1) * self.size]
            yield self.batch(idx, gen if self.augment else None)


def caption_loss(label_smoothing: float):
    """Token cross-entropy (padding ignored) with label smoothing, as ``{"loss": ...}``."""

    def loss(outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        logits = outputs["logits"]
        value = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            batch["targets"].reshape(-1),
            ignore_index=PAD,
            label_smoothing=label_smoothing,
        )
        return {"loss": value}

    return loss


@torch.inference_mode()
def mean_loss(model: nn.Module, batches: list[dict[str, Tensor]]) -> float:
    """Mean token cross-entropy (no smoothing) over fixed validation batches."""
    total, count = 0.0, 0
    for batch in batches:
        logits = model(batch)["logits"]
        targets = batch["targets"]
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            targets.reshape(-1),
            ignore_index=PAD,
            reduction="sum",
        )
        total += float(loss)
        count += int(targets.ne(PAD).sum())
    return total / max(count, 1)


def plan_budget(
    model: nn.Module,
    batches: CaptionBatches,
    loss_fn: Any,
    epochs: int,
    max_minutes: float,
    eval_rows: int,
    probe_steps: int = 6,
) -> dict[str, Any]:
    """Fit training into ``max_minutes``: time a few steps on a copy of the model, then cut
    the epoch count (or, if one full epoch does not fit, the batches per epoch)."""
    probe = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-4)
    order = np.arange(len(batches.data.rows))
    times = []
    gen = torch.Generator().manual_seed(0) if batches.augment else None
    for k in range(probe_steps + 2):
        idx = order[(k * batches.size) % max(len(order), 1) :][: batches.size]
        start = time.perf_counter()
        batch = batches.batch(idx, gen)
        loss = loss_fn(probe(batch), batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k >= 2:  # the first steps pay one-off allocation and warm-up costs
            times.append(time.perf_counter() - start)
    step = float(np.median(times))
    # evaluation is a forward pass only: about a third of a training step per batch of rows
    eval_seconds = eval_rows / batches.size * step / 3.0
    budget = max_minutes * 60.0
    full = batches.full_steps
    per_epoch = full * step + eval_seconds
    fit_epochs = int(budget // per_epoch)
    if fit_epochs >= 1:
        planned_epochs, steps = min(epochs, fit_epochs), None
    else:
        planned_epochs, steps = 1, max(1, int((budget - eval_seconds) // step))
    return {
        "seconds_per_step": round(step, 4),
        "epochs": planned_epochs,
        "steps_per_epoch": steps or full,
        "full_steps_per_epoch": full,
    }
