"""Batches in the contract format (docs/contracts.md) from cached arrays, plus a naive baseline."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np
import torch

from mmshop.data.cache import CachedArrays, _active, _row_ids, encode_texts
from mmshop.data.processors.image import ImageProcessor
from mmshop.data.processors.tabular import TabularProcessor, tabular_mask
from mmshop.data.processors.text import TextProcessor, nonempty
from mmshop.errors import ConfigError, DataError

MODALITIES = ("image", "text", "tabular")
Batch = dict[str, Any]


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def _gather(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``arr[idx]`` reading rows in ascending order (friendly to memmaps), then permuted back."""
    order = np.argsort(idx, kind="stable")
    block = arr[idx[order]]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return block[inverse]


class BatchIterator:
    """Iterates contract batches over ``arrays`` (optionally a subset ``indices`` of rows).

    Every selected row appears exactly once per epoch (the last batch may be smaller unless
    ``drop_last``). Call :meth:`set_epoch` before each epoch to reshuffle; the order and the
    augmentation depend only on ``(seed, epoch)``. Images are augmented only when ``augment``
    and ``image_processor.config.augment`` are both true. Modalities in ``drop_modalities``
    are sent as if missing (blank/pad/zero values, mask False). A modality with precomputed
    ``arrays.embeddings`` is sent as ``<modality>_embedding`` instead of its raw input.
    """

    def __init__(
        self,
        arrays: CachedArrays,
        labels: dict[str, np.ndarray] | None,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        image_processor: ImageProcessor | None = None,
        augment: bool = False,
        indices: np.ndarray | None = None,
        drop_modalities: Collection[str] = (),
        drop_last: bool = False,
    ) -> None:
        if batch_size <= 0:
            raise ConfigError(f"batch_size must be > 0, got {batch_size}")
        unknown = set(drop_modalities) - set(MODALITIES)
        if unknown:
            raise ConfigError(f"unknown modalities in drop_modalities: {sorted(unknown)}")
        if (
            arrays.image is not None
            and image_processor is None
            and "image" not in arrays.embeddings
        ):
            raise ConfigError("arrays have images, so BatchIterator needs an image_processor")
        n = len(arrays)
        self.arrays = arrays
        self.labels = {k: np.asarray(v, dtype=np.int64) for k, v in (labels or {}).items()}
        for name, values in self.labels.items():
            if values.shape != (n,):
                raise DataError(f"labels '{name}' has shape {values.shape}, expected ({n},)")
        self.indices = (
            np.arange(n, dtype=np.int64) if indices is None else np.asarray(indices, np.int64)
        )
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise DataError(f"indices out of range for {n} rows")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.image_processor = image_processor
        self.augment = bool(
            augment and image_processor is not None and image_processor.config.augment
        )
        self.drop = frozenset(drop_modalities)
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle order and augmentation stream for ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.indices)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def order(self) -> np.ndarray:
        """Row indices in this epoch's order."""
        if not self.shuffle:
            return self.indices.copy()
        rng = np.random.default_rng(_epoch_seed(self.seed, self.epoch))
        return self.indices[rng.permutation(len(self.indices))]

    def iter_indices(self) -> Iterator[np.ndarray]:
        """The row indices of each batch, in the same order as iterating batches."""
        order = self.order()
        for b in range(len(self)):
            yield order[b * self.batch_size : (b + 1) * self.batch_size]

    def __iter__(self) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(_epoch_seed(self.seed + 1, self.epoch))
        for idx in self.iter_indices():
            yield self.batch(idx, generator)

    def batch(self, idx: np.ndarray, generator: torch.Generator | None = None) -> Batch:
        """The contract batch for row indices ``idx`` (augmented only if a generator is given)."""
        a = self.arrays
        idx = np.asarray(idx, dtype=np.int64)
        b = len(idx)
        out: Batch = {}
        for modality, emb in a.embeddings.items():
            if modality in self.drop:
                out[f"{modality}_embedding"] = torch.zeros((b, emb.shape[1]), dtype=torch.float32)
            else:
                out[f"{modality}_embedding"] = torch.from_numpy(
                    np.asarray(emb[idx], dtype=np.float32)
                )
        if a.image is not None and "image" in a.embeddings:
            out["mask:image"] = self._mask("image", a.image_mask, idx)
        elif a.image is not None:
            proc = self.image_processor
            assert proc is not None
            if "image" in self.drop:
                h, w = a.image.shape[1:3]
                out["image"] = proc.to_tensor(np.broadcast_to(proc.blank(), (b, h, w, 3)).copy())
            else:
                out["image"] = proc.to_tensor(_gather(a.image, idx))
                if self.augment and generator is not None:
                    out["image"] = proc.augment(out["image"], generator)
            out["mask:image"] = self._mask("image", a.image_mask, idx)
        if a.text is not None and "text" in a.embeddings:
            out["mask:text"] = self._mask("text", a.text_mask, idx)
        elif a.text is not None:
            attention = a.text_attention_mask
            if "text" in self.drop:
                out["text"] = torch.zeros((b, a.text.shape[1]), dtype=torch.int64)
                if attention is not None:
                    out["text_attention_mask"] = torch.zeros(
                        (b, a.text.shape[1]), dtype=torch.int64
                    )
            else:
                out["text"] = torch.from_numpy(a.text[idx].astype(np.int64))
                if attention is not None:
                    out["text_attention_mask"] = torch.from_numpy(attention[idx].astype(np.int64))
            out["mask:text"] = self._mask("text", a.text_mask, idx)
        if a.tabular_cat is not None and a.tabular_num is not None:
            if "tabular" in self.drop:
                cat = np.zeros((b, a.tabular_cat.shape[1]), dtype=np.int64)
                num = np.zeros((b, a.tabular_num.shape[1]), dtype=np.float32)
                num[:, 1::2] = 1.0
            else:
                cat = a.tabular_cat[idx].astype(np.int64, copy=False)
                num = a.tabular_num[idx].astype(np.float32, copy=False)
            out["tabular_cat"] = torch.from_numpy(cat)
            out["tabular_num"] = torch.from_numpy(num)
            out["mask:tabular"] = self._mask("tabular", a.tabular_mask, idx)
        out["labels"] = {k: torch.from_numpy(v[idx]) for k, v in self.labels.items()}
        return out

    def _mask(self, modality: str, mask: np.ndarray | None, idx: np.ndarray) -> torch.Tensor:
        if modality in self.drop or mask is None:
            return torch.zeros(len(idx), dtype=torch.bool)
        return torch.from_numpy(mask[idx].copy())


class NaiveDataset(torch.utils.data.Dataset):
    """The per-item baseline: decodes the image and tokenizes the text in ``__getitem__``.

    Items are the per-row slices of a contract batch (no augmentation); ``naive_collate``
    stacks them into the same batch dict :class:`BatchIterator` yields.
    """

    def __init__(
        self,
        catalog: Any,
        image: ImageProcessor | None = None,
        text: TextProcessor | None = None,
        tabular: TabularProcessor | None = None,
        labels: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.catalog = catalog
        self.image, self.text, self.tabular = _active(catalog, image, text, tabular)
        self.labels = {k: np.asarray(v, dtype=np.int64) for k, v in (labels or {}).items()}
        self.ids = _row_ids(catalog)
        self._texts = list(catalog.texts()) if self.text is not None else []

    def __len__(self) -> int:
        return len(self.catalog)

    def __getitem__(self, i: int) -> Batch:
        item: Batch = {}
        if self.image is not None:
            path = self.catalog.image_path(i)
            ok = False
            pixels = self.image.blank()
            if path is not None:
                with contextlib.suppress(DataError):
                    pixels, ok = self.image.load(path), True
            item["image"] = self.image.to_tensor(pixels)[0]
            item["mask:image"] = torch.tensor(ok)
        if self.text is not None:
            text = self._texts[i]
            encoded = encode_texts(self.text, [text])
            ids = encoded["text"]
            item["text"] = torch.from_numpy(ids[0].astype(np.int64))
            tokens = ids
            if "text_attention_mask" in encoded:
                tokens = encoded["text_attention_mask"]
                item["text_attention_mask"] = torch.from_numpy(tokens[0].astype(np.int64))
            item["mask:text"] = torch.tensor(bool(nonempty([text])[0] and tokens.any()))
        if self.tabular is not None:
            cat, num = self.tabular.transform(self.catalog.df.iloc[[i]])
            item["tabular_cat"] = torch.from_numpy(cat[0])
            item["tabular_num"] = torch.from_numpy(num[0])
            item["mask:tabular"] = torch.tensor(bool(tabular_mask(cat, num)[0]))
        item["labels"] = {k: torch.tensor(v[i]) for k, v in self.labels.items()}
        return item


def naive_collate(items: list[Batch]) -> Batch:
    """Stack :class:`NaiveDataset` items into a contract batch."""
    if not items:
        raise DataError("cannot collate an empty list of items")
    out: Batch = {}
    for key in items[0]:
        if key == "labels":
            continue
        out[key] = torch.stack([it[key] for it in items])
    if "image" in out:
        out["image"] = out["image"].contiguous(memory_format=torch.channels_last)
    out["labels"] = {k: torch.stack([it["labels"][k] for it in items]) for k in items[0]["labels"]}
    return out
