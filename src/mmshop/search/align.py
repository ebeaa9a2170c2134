"""Contrastive alignment training on the engine's Trainer: batches, captions, retrieval eval."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from mmshop.data.cache import CachedArrays, encode_texts
from mmshop.data.catalog import Catalog, holdout
from mmshop.data.dataset import BatchIterator, _epoch_seed
from mmshop.data.processors.image import ImageProcessor
from mmshop.data.processors.text import TextProcessor
from mmshop.errors import DataError, ModelLoadError
from mmshop.evaluation.retrieval import retrieval_metrics
from mmshop.models.cascade import EmbeddingCache, attach_embeddings, compute_embeddings
from mmshop.models.io import verify_model_dir
from mmshop.registry import ENCODERS, LOSSES
from mmshop.search.config import AlignConfig
from mmshop.search.encoder import (
    default_cache_dir,
    load_text_processor,
    pair_arrays,
    text_view,
)
from mmshop.search.model import TwoTowerModel, build_two_tower
from mmshop.training import contrastive as _contrastive  # noqa: F401  (registers the losses)
from mmshop.training.seed import seed_everything, set_threads
from mmshop.training.trainer import Trainer

if TYPE_CHECKING:
    from mmshop.search.encoder import SearchEncoder


class CaptionBank:
    """Extra captions per row (attribute values in templates), tokenized once.

    ``choices[i]`` holds indices into ``strings`` / ``tokens`` (``-1`` where the row has no value).
    """

    def __init__(self, df: pd.DataFrame, columns: Sequence[str], templates: Sequence[str]) -> None:
        absent = [c for c in columns if c not in df.columns]
        if absent:
            raise DataError(f"caption column(s) {absent} not in the catalogue: {list(df.columns)}")
        index: dict[str, int] = {}
        choices = np.full((len(df), len(columns) * len(templates)), -1, dtype=np.int64)
        for c, column in enumerate(columns):
            for r, value in enumerate(df[column].tolist()):
                if value is None or value != value or not str(value).strip():
                    continue
                for t, template in enumerate(templates):
                    text = template.format(str(value).strip())
                    choices[r, c * len(templates) + t] = index.setdefault(text, len(index))
        self.strings = list(index)
        self.choices = choices
        self.tokens: np.ndarray | None = None
        self.attention: np.ndarray | None = None
        self.embeddings: np.ndarray | None = None

    def tokenize(self, text: Any) -> None:
        encoded = encode_texts(text, self.strings)
        self.tokens = encoded["text"]
        self.attention = encoded.get("text_attention_mask")

    def arrays(self) -> CachedArrays:
        """The captions as text-only model inputs (after :meth:`tokenize`)."""
        assert self.tokens is not None, "tokenize first"
        return CachedArrays(text=self.tokens, text_attention_mask=self.attention)

    def embed(self, encoder: torch.nn.Module, batch_size: int = 256) -> None:
        """Precompute a frozen text encoder's outputs for the captions (cascade training)."""
        self.embeddings = compute_embeddings(self.arrays(), "text", encoder, None, batch_size)


def text_groups(texts: Sequence[str], extra: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Group ids: equal (case-insensitive, trimmed) texts share an id. Returns (rows, extra)."""
    index: dict[str, int] = {}

    def ids(values: Sequence[str]) -> np.ndarray:
        return np.array(
            [index.setdefault(" ".join(str(v).lower().split()), len(index)) for v in values],
            dtype=np.int64,
        )

    return ids(texts), ids(extra)


class AlignBatches:
    """Training batches of (image, text, group); some texts swapped for captions per epoch."""

    def __init__(
        self,
        base: BatchIterator,
        groups: np.ndarray,
        captions: CaptionBank | None = None,
        caption_groups: np.ndarray | None = None,
        caption_prob: float = 0.0,
    ) -> None:
        self.base = base
        self.groups = groups
        self.captions = captions
        self.caption_groups = caption_groups
        self.caption_prob = caption_prob if captions is not None else 0.0

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        base = self.base
        generator = torch.Generator().manual_seed(_epoch_seed(base.seed + 1, base.epoch))
        rng = np.random.default_rng(_epoch_seed(base.seed + 2, base.epoch))
        for idx in base.iter_indices():
            batch = base.batch(idx, generator)
            group = self.groups[idx].copy()
            if self.caption_prob > 0:
                self._swap_captions(batch, group, idx, rng)
            batch["group"] = torch.from_numpy(group)
            batch.pop("labels", None)
            yield batch

    def _swap_captions(
        self, batch: dict[str, Any], group: np.ndarray, idx: np.ndarray, rng: np.random.Generator
    ) -> None:
        bank = self.captions
        assert bank is not None and bank.tokens is not None and self.caption_groups is not None
        pick = rng.integers(0, bank.choices.shape[1], size=len(idx))
        chosen = bank.choices[idx, pick]
        swap = (rng.random(len(idx)) < self.caption_prob) & (chosen >= 0)
        if not swap.any():
            return
        rows = np.flatnonzero(swap)
        group[rows] = self.caption_groups[chosen[rows]]
        if "text_embedding" in batch:  # frozen text encoder: swap its precomputed outputs
            assert bank.embeddings is not None
            emb = batch["text_embedding"].clone()
            emb[torch.from_numpy(rows)] = torch.from_numpy(bank.embeddings[chosen[rows]])
            batch["text_embedding"] = emb
            return
        text = batch["text"].clone()
        text[torch.from_numpy(rows)] = torch.from_numpy(bank.tokens[chosen[rows]].astype(np.int64))
        batch["text"] = text
        if bank.attention is not None and "text_attention_mask" in batch:
            mask = batch["text_attention_mask"].clone()
            mask[torch.from_numpy(rows)] = torch.from_numpy(
                bank.attention[chosen[rows]].astype(np.int64)
            )
            batch["text_attention_mask"] = mask


def _text_batch(arrays: CachedArrays, rows: np.ndarray) -> dict[str, torch.Tensor]:
    if "text" in arrays.embeddings:
        return {"text_embedding": torch.from_numpy(arrays.embeddings["text"][rows])}
    assert arrays.text is not None
    batch = {"text": torch.from_numpy(arrays.text[rows].astype(np.int64))}
    if arrays.text_attention_mask is not None:
        batch["text_attention_mask"] = torch.from_numpy(
            arrays.text_attention_mask[rows].astype(np.int64)
        )
    return batch


@torch.inference_mode()
def retrieval_eval(
    model: TwoTowerModel,
    arrays: CachedArrays,
    groups: np.ndarray,
    image: ImageProcessor,
    batch_size: int = 512,
) -> dict[str, float]:
    """Text-to-image retrieval on held-out rows: each distinct text queries all images."""
    assert arrays.image is not None and arrays.text is not None
    docs = np.flatnonzero(np.asarray(arrays.image_mask))
    _, first = np.unique(groups, return_index=True)
    queries = first[np.asarray(arrays.text_mask)[first]]
    if len(docs) == 0 or len(queries) == 0:
        raise DataError("validation rows have no usable image/text pair to evaluate retrieval")

    def image_batch(rows: np.ndarray) -> dict[str, torch.Tensor]:
        if "image" in arrays.embeddings:
            return {"image_embedding": torch.from_numpy(arrays.embeddings["image"][rows])}
        assert arrays.image is not None
        return {"image": image.to_tensor(arrays.image[rows])}

    image_emb = np.concatenate(
        [
            model.encode_image(image_batch(docs[s : s + batch_size])).float().numpy()
            for s in range(0, len(docs), batch_size)
        ]
    )
    text_emb = np.concatenate(
        [
            model.encode_text(_text_batch(arrays, queries[s : s + batch_size])).float().numpy()
            for s in range(0, len(queries), batch_size)
        ]
    )
    m = retrieval_metrics(text_emb, image_emb, groups[queries], groups[docs], ks=(1, 10))
    return {k: m[k] for k in ("recall@1", "recall@10", "hit@10", "mrr@10")}


@torch.inference_mode()
def text_bank(
    model: TwoTowerModel,
    arrays: CachedArrays,
    groups: np.ndarray,
    captions: CaptionBank | None,
    caption_groups: np.ndarray,
    batch_size: int = 512,
) -> torch.Tensor:
    """One (locked) text embedding per group id ``[G, D]``: rows first, then captions."""
    size = int(max(groups.max(initial=-1), caption_groups.max(initial=-1))) + 1
    bank = torch.zeros((size, model.embed_dim))
    was = model.training
    model.eval()
    try:
        sources = [(arrays, groups)]
        if captions is not None and len(caption_groups):
            cap = captions.arrays()
            if captions.embeddings is not None:
                cap.embeddings["text"] = captions.embeddings
            sources.append((cap, caption_groups))
        for source, ids in sources:
            _, first = np.unique(ids, return_index=True)
            for s in range(0, len(first), batch_size):
                rows = first[s : s + batch_size]
                bank[torch.from_numpy(ids[rows])] = model.encode_text(_text_batch(source, rows))
    finally:
        model.train(was)
    return bank


def _text_processor(config: AlignConfig, texts: list[str], captions: CaptionBank | None) -> Any:
    """The text tower's tokenizer: a pretrained encoder's own, the one of ``text_init``, a
    given ``tokenizer.json``, or a WordPiece vocabulary built on the titles and captions."""
    make = getattr(ENCODERS.get(config.text_encoder.name), "make_processor", None)
    if callable(make):
        return make(config.text_encoder.options, config.text)
    if config.text_init:
        return load_text_processor(Path(config.text_init) / "text")
    if config.tokenizer_file:
        return TextProcessor.from_tokenizer_file(config.tokenizer_file, config.text)
    return TextProcessor(config.text).fit(texts + (captions.strings if captions else []))


def _load_text_tower(model: TwoTowerModel, path: Path) -> None:
    """Copy the text encoder (and projection, unless locked) from a saved search model."""
    verify_model_dir(path, required=("config.json", "model.safetensors"))
    state = load_file(str(path / "model.safetensors"))
    prefixes = ("text_encoder.",) if model.lock_text else ("text_encoder.", "text_proj.")
    wanted = {k: v for k, v in state.items() if k.startswith(prefixes)}
    own = model.state_dict()
    bad = [k for k, v in wanted.items() if k not in own or own[k].shape != v.shape]
    if not wanted or bad:
        raise ModelLoadError(f"text tower in {path} does not fit this model: {bad[:5]}")
    model.load_state_dict(wanted, strict=False)


def train_alignment(
    cls: type[SearchEncoder],
    train: Catalog,
    val: Catalog | None,
    config: AlignConfig,
    work_dir: str | Path | None,
    progress: bool,
) -> SearchEncoder:
    """Fit processors, build the towers and train them contrastively; returns the encoder."""
    start = time.perf_counter()
    seed_everything(config.trainer.seed)
    set_threads(config.trainer.num_threads)
    train_v = text_view(train, config.text_columns)
    if val is None:
        train_v, val_v = holdout(train_v, config.val_fraction, config.trainer.seed, min_rows=2)
    else:
        val_v = text_view(val, config.text_columns)
    config = config.replace({"text_columns": list(train_v.roles.text)})
    captions = None
    if config.caption_prob > 0:
        captions = CaptionBank(train_v.df, config.caption_columns, config.caption_templates)
    texts = train_v.texts()
    image = ImageProcessor(config.image)
    text = _text_processor(config, texts, captions)
    train_arrays = pair_arrays(train_v, image, text, config.cache_dir, progress)
    val_arrays = pair_arrays(val_v, image, text, config.cache_dir, progress)

    model = build_two_tower(config, cls.input_spec(image, text))
    if config.text_init:
        _load_text_tower(model, Path(config.text_init))
    # frozen pretrained towers run once per row, not once per step
    root = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    cascade = EmbeddingCache(root / "embeddings")
    train_arrays = attach_embeddings(
        model, train_arrays, image, cascade, config.eval_batch_size, progress
    )
    val_arrays = attach_embeddings(
        model, val_arrays, image, cascade, config.eval_batch_size, progress
    )
    usable = np.flatnonzero(np.asarray(train_arrays.image_mask) & train_arrays.text_mask)
    if len(usable) < 2:
        raise DataError("fewer than 2 training rows have both a usable image and text")
    caption_texts = captions.strings if captions else []
    groups, caption_groups = text_groups(texts, caption_texts)
    if captions is not None:
        captions.tokenize(text)
        if "text" in train_arrays.embeddings:
            captions.embed(model.text_encoder, config.eval_batch_size)
    if not config.group_same_text:
        groups = np.arange(len(texts), dtype=np.int64)
        caption_groups = len(texts) + np.arange(len(caption_texts), dtype=np.int64)
    if config.negatives == "bank":
        model.set_text_bank(
            text_bank(model, train_arrays, groups, captions, caption_groups, config.eval_batch_size)
        )
    base = BatchIterator(
        train_arrays,
        None,
        batch_size=min(config.batch_size, len(usable)),
        shuffle=True,
        seed=config.trainer.seed,
        image_processor=image,
        augment=config.image.augment,
        indices=usable,
        drop_last=True,
    )
    batches = AlignBatches(base, groups, captions, caption_groups, config.caption_prob)
    val_groups, _ = text_groups(val_v.texts())

    def evaluate(m: TwoTowerModel) -> dict[str, float]:
        return retrieval_eval(m, val_arrays, val_groups, image, config.eval_batch_size)

    trainer_cfg = config.trainer if progress else config.trainer.replace({"progress": False})
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="mmshop-align-"))
    loss = LOSSES.build(config.loss)
    try:
        history = Trainer(model, trainer_cfg, loss, evaluate, out_dir=work).fit(batches)
    finally:
        model.set_text_bank(None)
    model.eval()
    info = {
        "train_rows": len(train_v),
        "train_pairs": len(usable),
        "val_rows": len(val_v),
        "data_fingerprint": train_v.fingerprint,
        "best_epoch": history.best_epoch,
        "best_score": history.best_score,
        "monitor": trainer_cfg.monitor,
        "train_seconds": history.seconds,
        "total_seconds": time.perf_counter() - start,
        "temperature": float(np.exp(-model.logit_scale.detach().item())),
        "history": history.epochs,
        "cascade": cascade.events,
        "work_dir": str(work),
    }
    return cls(config, image, text, model, info)
