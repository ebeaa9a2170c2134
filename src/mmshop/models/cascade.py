"""Cascade training: run each frozen encoder once per catalogue and train on its outputs.

A frozen pretrained encoder (``encoder.cascade`` True) gives the same vector for a row in every
epoch, so :func:`attach_embeddings` computes those vectors once and stores them in
``CachedArrays.embeddings``; batches then carry ``<modality>_embedding`` and only fusion and
heads (and trainable encoders of other modalities) run per step. Vectors are cached on disk
under ``<root>/<key>/`` keyed by the arrays' content key (catalogue + processors) and the
encoder's :meth:`cascade_identity` (checkpoint hash, pooling, ...).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mmshop.data.cache import CachedArrays
from mmshop.data.dataset import BatchIterator
from mmshop.utils.io import atomic_directory, atomic_write_text

log = logging.getLogger(__name__)

FORMAT = 1
_RAW = {
    "image": ("image", "image_mask"),
    "text": ("text", "text_mask", "text_attention_mask"),
}


def cascade_encoders(model: nn.Module) -> dict[str, nn.Module]:
    """The model's encoders whose outputs may be precomputed (frozen pretrained ones)."""
    encoders = getattr(model, "encoders", {})
    return {m: e for m, e in encoders.items() if getattr(e, "cascade", False) and m in _RAW}


class EmbeddingCache:
    """Precomputed encoder outputs on disk; ``hits`` / ``misses`` count loads / computations."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root).expanduser() if root is not None else None
        self.hits = 0
        self.misses = 0
        self.events: list[dict[str, Any]] = []

    def key(self, arrays: CachedArrays, modality: str, encoder: nn.Module) -> str | None:
        """Content key: the modality's inputs (catalogue + its processor) and the encoder."""
        inputs = arrays.modality_keys.get(modality) or arrays.key
        if not inputs:
            return None
        payload = {
            "format": FORMAT,
            "arrays": inputs,
            "rows": len(arrays),
            "modality": modality,
            "encoder": encoder.cascade_identity(),
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(
        self,
        arrays: CachedArrays,
        modality: str,
        encoder: nn.Module,
        image_processor: Any,
        batch_size: int,
        progress: bool,
    ) -> np.ndarray:
        """The ``[N, D]`` outputs of ``encoder`` for every row, from disk or computed now."""
        start = time.perf_counter()
        key = self.key(arrays, modality, encoder)
        target = self.root / key if self.root is not None and key else None
        if target is not None and target.exists():
            try:
                emb = self._load(target, len(arrays), encoder.output_dim)
                self.hits += 1
                self._event(modality, "hit", start, len(arrays))
                return emb
            except Exception as exc:  # damaged entry: recompute rather than fail
                log.warning("embedding cache %s is unusable (%s); recomputing", target, exc)
        self.misses += 1
        emb = compute_embeddings(arrays, modality, encoder, image_processor, batch_size, progress)
        if target is not None:
            with atomic_directory(target) as tmp:
                np.save(tmp / "embedding.npy", emb, allow_pickle=False)
                meta = {"format": FORMAT, "key": key, "rows": len(arrays), "dim": emb.shape[1]}
                atomic_write_text(tmp / "meta.json", json.dumps(meta))
        self._event(modality, "miss", start, len(arrays))
        return emb

    def _event(self, modality: str, what: str, start: float, rows: int) -> None:
        seconds = round(time.perf_counter() - start, 3)
        self.events.append({"modality": modality, "cache": what, "rows": rows, "seconds": seconds})

    @staticmethod
    def _load(directory: Path, rows: int, dim: int) -> np.ndarray:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        emb = np.load(directory / "embedding.npy", allow_pickle=False)
        if meta.get("format") != FORMAT or emb.shape != (rows, dim) or emb.dtype != np.float32:
            raise ValueError(f"shape {emb.shape} / format {meta.get('format')} do not match")
        return emb


@torch.inference_mode()
def compute_embeddings(
    arrays: CachedArrays,
    modality: str,
    encoder: nn.Module,
    image_processor: Any,
    batch_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Run ``encoder.encode`` over the rows that have ``modality`` (others stay zero).

    Text rows are batched by token count so that each batch carries little padding.
    """
    only = {name: getattr(arrays, name) for name in _RAW[modality]}
    view = CachedArrays(ids=list(arrays.ids), **only)
    present = np.flatnonzero(np.asarray(getattr(view, f"{modality}_mask")))
    if modality == "text" and view.text_attention_mask is not None and len(present):
        lengths = view.text_attention_mask[present].sum(axis=1)
        present = present[np.argsort(lengths, kind="stable")]
    out = np.zeros((len(arrays), encoder.output_dim), dtype=np.float32)
    batches = BatchIterator(
        view, None, batch_size, shuffle=False, image_processor=image_processor, indices=present
    )
    was_training = encoder.training
    encoder.eval()
    try:
        with tqdm(
            total=len(present), desc=f"{modality} embeddings", unit="row", disable=not progress
        ) as bar:
            for idx in batches.iter_indices():
                out[idx] = encoder.encode(batches.batch(idx)).float().cpu().numpy()
                bar.update(len(idx))
    finally:
        encoder.train(was_training)
    return out


def attach_embeddings(
    model: nn.Module,
    arrays: CachedArrays,
    image_processor: Any,
    cache: EmbeddingCache,
    batch_size: int = 256,
    progress: bool = False,
) -> CachedArrays:
    """``arrays`` plus the precomputed outputs of every frozen encoder of ``model``."""
    encoders = cascade_encoders(model)
    if not encoders:
        return arrays
    embeddings = dict(arrays.embeddings)
    for modality, encoder in encoders.items():
        if modality in embeddings or getattr(arrays, modality) is None:
            continue
        embeddings[modality] = cache.get(
            arrays, modality, encoder, image_processor, batch_size, progress
        )
    return dataclasses.replace(arrays, embeddings=embeddings)
