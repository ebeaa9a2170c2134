"""AttributeExtractor: a small Transformer token tagger (BIO) over catalogue-trained WordPiece
tokens, trained on weak labels made from the catalogue's attribute columns."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from mmshop.config import ConfigBase
from mmshop.data.processors.text import TextProcessor, TextProcessorConfig
from mmshop.errors import ConfigError, DataError, ModelLoadError
from mmshop.extract.labelling import (
    TYPES,
    LabelColumns,
    Span,
    WeakLabeller,
    from_bio,
    span_f1,
    to_bio,
    tokenize,
)
from mmshop.models.io import check_format, read_json, verify_model_dir, write_model_dir
from mmshop.reviews.inputs import clean_text
from mmshop.training.seed import seed_everything, set_threads
from mmshop.training.trainer import Trainer, TrainerConfig
from mmshop.utils.io import atomic_write_text

FORMAT = "mmshop.attribute_extractor"
FORMAT_VERSION = 1
TAGS = ["O", *[f"{p}-{t}" for t in TYPES for p in ("B", "I")]]
IGNORE = -100


@dataclass
class ExtractorConfig(ConfigBase):
    """Columns, tokenizer, tagger size and training settings of an AttributeExtractor."""

    columns: LabelColumns = field(default_factory=LabelColumns)
    text: TextProcessorConfig = field(
        default_factory=lambda: TextProcessorConfig(max_length=40, lowercase=False)
    )
    dim: int = 128
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    batch_size: int = 64
    val_fraction: float = 0.1
    max_chars: int = 1000
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(epochs=6, lr=2e-3, monitor="micro_f1")
    )

    def validate(self) -> None:
        if self.dim % self.heads:
            raise ConfigError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.layers < 1 or self.batch_size < 1:
            raise ConfigError("layers and batch_size must be >= 1")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")


class TokenTagger(nn.Module):
    """Token + position embeddings, pre-norm Transformer layers, a linear layer per token."""

    def __init__(self, vocab_size: int, max_length: int, cfg: ExtractorConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, cfg.dim, padding_idx=0)
        self.positions = nn.Parameter(torch.zeros(1, max_length, cfg.dim))
        nn.init.normal_(self.positions, std=0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, 2 * cfg.dim, cfg.dropout, batch_first=True, norm_first=True,
            activation="gelu",
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.out = nn.Linear(cfg.dim, len(TAGS))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ids = batch["text"]
        pad = ids.eq(0)
        pad[:, 0] &= ~pad.all(dim=1)
        x = self.tokens(ids) + self.positions[:, : ids.shape[1]]
        return {"tag_logits": self.out(self.norm(self.encoder(x, src_key_padding_mask=pad)))}


def _tag_loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
    logits = outputs["tag_logits"]
    loss = nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), batch["tags"].reshape(-1), ignore_index=IGNORE
    )
    return {"tag_loss": loss, "loss": loss}


class _Batches:
    def __init__(self, ids: np.ndarray, tags: np.ndarray, size: int, seed: int) -> None:
        self.ids, self.tags, self.size, self.seed, self.epoch = ids, tags, size, seed, 0

    def __len__(self) -> int:
        return (len(self.ids) + self.size - 1) // self.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = np.random.default_rng(self.seed + self.epoch).permutation(len(self.ids))
        for k in range(0, len(order), self.size):
            idx = order[k : k + self.size]
            yield {
                "text": torch.from_numpy(self.ids[idx].astype(np.int64)),
                "tags": torch.from_numpy(self.tags[idx]),
            }


@dataclass
class Encoded:
    """Token ids ``[N, L]``, tag ids ``[N, L]`` (first piece of each word) and piece->word."""

    ids: np.ndarray
    tags: np.ndarray
    first_piece: list[list[int]]  # per title: token position of each word's first piece


class AttributeExtractor:
    """Read brand, gender, colour and article type out of product titles.

    >>> ex = AttributeExtractor().fit(train_frame)        # weak labels from its columns
    >>> ex.predict(["Puma Men Black Running Shoes"])[0]
    {'BRAND': 'Puma', 'GENDER': 'Men', 'COLOUR': 'Black', 'TYPE': 'Shoes'}
    """

    def __init__(self, config: ExtractorConfig | None = None, **changes: Any) -> None:
        config = config or ExtractorConfig()
        self.config = config.replace(changes) if changes else config
        self.labeller = WeakLabeller(self.config.columns)
        self.text: TextProcessor | None = None
        self.model: TokenTagger | None = None
        self.info: dict[str, Any] = {}

    # ------------------------------------------------------------------ labels
    def weak_labels(self, frame: pd.DataFrame) -> tuple[list[list[str]], list[list[Span]]]:
        """Words and weak entity spans of every title in ``frame`` (rule: see labelling)."""
        cols = self.config.columns
        if cols.title not in frame.columns:
            raise DataError(f"title column '{cols.title}' missing; columns: {list(frame.columns)}")
        words, spans = [], []
        for k in range(len(frame)):
            title = _clean(frame[cols.title].iat[k], f"row {k + 1}", self.config.max_chars)
            ws = tokenize(title)
            values = {
                key: _cell(frame, getattr(cols, key), k)
                for key in ("colour", "type", "gender", "brand")
            }
            words.append(ws)
            spans.append(self.labeller.spans(ws, values))
        return words, spans

    def _encode(self, words: Sequence[list[str]], spans: Sequence[Sequence[Span]] | None):
        proc = self.text
        assert proc is not None
        length = proc.max_length
        offset = int(proc.cache_state()["offset"])
        n = len(words)
        ids = np.zeros((n, length), dtype=np.int32)
        tags = np.full((n, length), IGNORE, dtype=np.int64)
        first: list[list[int]] = []
        tag_index = {t: i for i, t in enumerate(TAGS)}
        encs = proc.tokenizer.encode_batch(
            [w if w else [""] for w in words], is_pretokenized=True, add_special_tokens=False
        )
        for i, enc in enumerate(encs):
            pieces = enc.ids[:length]
            ids[i, : len(pieces)] = np.asarray(pieces, dtype=np.int32) + offset
            positions: dict[int, int] = {}
            for pos, w in enumerate(enc.word_ids[:length]):
                if w is not None and w not in positions:
                    positions[w] = pos
            first.append([positions.get(w, -1) for w in range(len(words[i]))])
            if spans is not None:
                bio = to_bio(len(words[i]), spans[i])
                for w, pos in enumerate(first[-1]):
                    if pos >= 0:
                        tags[i, pos] = tag_index[bio[w]]
        return Encoded(ids, tags, first)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        train: pd.DataFrame,
        val: pd.DataFrame | None = None,
        *,
        work_dir: str | Path | None = None,
        progress: bool = True,
    ) -> AttributeExtractor:
        """Mine brands, make weak labels, train the tagger (early stopping on ``val``)."""
        cfg = self.config
        for name, frame in (("train", train), ("val", val)):
            if frame is not None and cfg.columns.title not in frame.columns:
                raise DataError(
                    f"{name} data has no title column '{cfg.columns.title}' (set columns.title); "
                    f"columns: {list(frame.columns)}"
                )
        if len(train) < (1 if val is not None else 2):
            raise DataError(
                f"need at least {1 if val is not None else 2} training titles (one is held out "
                f"for validation when no val data is given), got {len(train)}"
            )
        seed_everything(cfg.trainer.seed)
        set_threads(cfg.trainer.num_threads)
        if val is None:
            order = np.random.default_rng(cfg.trainer.seed).permutation(len(train))
            n_val = max(1, round(len(train) * cfg.val_fraction))
            val = train.iloc[np.sort(order[:n_val])]
            train = train.iloc[np.sort(order[n_val:])]
        titles = train[cfg.columns.title].fillna("").astype(str).tolist()
        self.labeller.fit(titles)
        words, spans = self.weak_labels(train)
        vwords, vspans = self.weak_labels(val)
        self.text = TextProcessor(cfg.text).fit(" ".join(w) for w in words)
        enc, venc = self._encode(words, spans), self._encode(vwords, None)
        self.model = TokenTagger(self.text.vocab_size, self.text.max_length, cfg)

        def evaluate(model: nn.Module) -> dict[str, float]:
            pred = self._decode(venc, model)
            scores = span_f1(vspans, pred)
            return {"micro_f1": scores["micro"], **{f"{k}_f1": scores[k] for k in TYPES}}

        work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="mmshop-extract-"))
        trainer_cfg = cfg.trainer.replace({"progress": cfg.trainer.progress and progress})
        batches = _Batches(enc.ids, enc.tags, cfg.batch_size, cfg.trainer.seed)
        history = Trainer(self.model, trainer_cfg, _tag_loss, evaluate, work).fit(batches)
        self.model.eval()
        labelled = count_types(spans)
        self.info = {
            "train_titles": len(words),
            "val_titles": len(vwords),
            "brands_mined": len(self.labeller.brands),
            "weak_spans": labelled,
            "best_epoch": history.best_epoch,
            "val_micro_f1": history.best_score,
        }
        return self

    # ---------------------------------------------------------------- prediction
    def _ready(self) -> tuple[TextProcessor, TokenTagger]:
        if self.text is None or self.model is None:
            raise ModelLoadError("this extractor is not trained: call fit() or load() first")
        return self.text, self.model

    @torch.inference_mode()
    def _decode(self, enc: Encoded, model: nn.Module | None = None) -> list[list[Span]]:
        model = model or self._ready()[1]
        was = model.training
        model.eval()
        out: list[list[Span]] = []
        for k in range(0, len(enc.ids), 512):
            batch = {"text": torch.from_numpy(enc.ids[k : k + 512].astype(np.int64))}
            best = model(batch)["tag_logits"].argmax(-1).numpy()
            for row, first in zip(best, enc.first_piece[k : k + 512], strict=True):
                tags = [TAGS[row[p]] if p >= 0 else "O" for p in first]
                out.append(from_bio(tags))
        model.train(was)
        return out

    def predict_spans(self, titles: Sequence[Any]) -> list[tuple[list[str], list[Span]]]:
        """Per title: its words and the predicted ``(start, end, type)`` word spans."""
        self._ready()
        if isinstance(titles, str | bytes):
            titles = [titles]
        words = []
        for k, t in enumerate(titles):
            text = _clean(t, f"title {k + 1}", self.config.max_chars)
            if not text:
                raise DataError(f"title {k + 1}: title is empty")
            words.append(tokenize(text))
        spans = self._decode(self._encode(words, None)) if words else []
        return list(zip(words, spans, strict=True))

    def predict(self, titles: Sequence[Any]) -> list[dict[str, str]]:
        """Per title: ``{type: text}`` for each attribute found (first span of each type)."""
        out = []
        for words, spans in self.predict_spans(titles):
            found: dict[str, str] = {}
            for start, end, kind in spans:
                found.setdefault(kind, " ".join(words[start:end]))
            out.append(found)
        return out

    def evaluate(self, frame: pd.DataFrame) -> dict[str, float]:
        """Entity-level F1 per type against the weak labels of ``frame``."""
        self._ready()
        words, gold = self.weak_labels(frame)
        return span_f1(gold, self._decode(self._encode(words, None)))

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """``extractor.json``, ``model.safetensors`` and ``text/`` (tokenizer), atomically."""
        text, model = self._ready()

        def write(tmp: Path) -> None:
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "config": self.config.to_dict(),
                "tags": TAGS,
                "brands": sorted(" ".join(b) for b in self.labeller.brands),
                "info": self.info,
            }
            atomic_write_text(tmp / "extractor.json", json.dumps(meta, indent=2))
            save_model(model, str(tmp / "model.safetensors"))
            text.save(tmp / "text")

        return write_model_dir(Path(path), write)

    @classmethod
    def load(cls, path: str | Path) -> AttributeExtractor:
        path = Path(path)
        verify_model_dir(path, required=("extractor.json", "model.safetensors"))
        meta = read_json(path / "extractor.json")
        check_format(meta, path, FORMAT, FORMAT_VERSION)
        if meta.get("tags") != TAGS:
            raise ModelLoadError(f"{path} tags {meta.get('tags')} differ from this mmshop's {TAGS}")
        try:
            config = ExtractorConfig.from_dict(meta["config"])
        except (KeyError, ConfigError) as exc:
            raise ModelLoadError(f"{path}/extractor.json has an invalid config: {exc}") from exc
        self = cls(config)
        self.labeller.brands = {tuple(b.split(" ")) for b in meta.get("brands", [])}
        self.text = TextProcessor.load(path / "text")
        self.model = TokenTagger(self.text.vocab_size, self.text.max_length, config)
        try:
            load_model(self.model, str(path / "model.safetensors"), strict=True)
        except (RuntimeError, ValueError) as exc:
            raise ModelLoadError(f"{path}: weights do not match the model: {exc}") from exc
        self.model.eval()
        self.info = meta.get("info") or {}
        return self


def _clean(value: Any, where: str, max_chars: int) -> str:
    return clean_text(value, where, max_chars, noun="title", limit_name="ExtractorConfig.max_chars")


def _cell(frame: pd.DataFrame, column: str | None, k: int) -> str | None:
    if column is None or column not in frame.columns:
        return None
    value = frame[column].iat[k]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def count_types(spans: Sequence[Sequence[Span]]) -> dict[str, int]:
    counts = dict.fromkeys(TYPES, 0)
    for ss in spans:
        for _, _, kind in ss:
            counts[kind] += 1
    return counts
