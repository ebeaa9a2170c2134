"""FitModel: train on fit feedback, predict small / fit / large, recommend a size; save / load."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mmshop import __version__
from mmshop.errors import ConfigError, DataError, ModelLoadError, QueryError
from mmshop.evaluation.metrics import classification_metrics, roc_auc_ovr
from mmshop.fit.config import FitConfig
from mmshop.fit.features import ArrayBatches, FitFeatures, size_value
from mmshop.fit.measurements import BodyProfile
from mmshop.fit.network import FitNet
from mmshop.fit.records import BODY_COLUMNS, FIT_LABELS, from_clean_table
from mmshop.models.io import (
    check_format,
    load_weights,
    read_json,
    save_weights,
    verify_model_dir,
    write_model_dir,
)
from mmshop.models.spec import InputSpec
from mmshop.training.losses import MultiTaskCrossEntropy
from mmshop.training.trainer import Trainer

FORMAT = "mmshop.fit"
FORMAT_VERSION = 1


@dataclass
class SizeOption:
    """Predicted outcome of one size: probabilities of small, fit and large."""

    size: str
    small: float
    fit: float
    large: float


@dataclass
class SizeAdvice:
    """The recommended size, its probability of fitting, and what the advice rests on."""

    item_id: str
    size: str
    fit_probability: float
    options: list[SizeOption]
    measurements_used: list[str]
    measurements_missing: list[str]
    new_customer: bool
    new_item: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["options"] = [o.__dict__ for o in self.options]
        return out


@dataclass
class _Catalogue:
    """What the model knows about items: category and sizes seen in training."""

    item_category: dict[str, str] = field(default_factory=dict)
    item_sizes: dict[str, list[str]] = field(default_factory=dict)
    category_sizes: dict[str, list[str]] = field(default_factory=dict)
    sizes: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, frame: pd.DataFrame) -> _Catalogue:
        def ordered(values: Iterable[Any]) -> list[str]:
            def key(label: str) -> tuple[float, str]:
                value = size_value(label)
                return (value if value == value else float("inf"), label)

            return sorted({str(v) for v in values}, key=key)

        out = cls()
        cats = frame.dropna(subset=["category"]).drop_duplicates("item_id", keep="last")
        out.item_category = dict(
            zip(cats["item_id"].astype(str), cats["category"].astype(str), strict=True)
        )
        out.item_sizes = {str(k): ordered(g) for k, g in frame.groupby("item_id")["size"]}
        out.category_sizes = {
            str(k): ordered(g)
            for k, g in frame.dropna(subset=["category"]).groupby("category")["size"]
        }
        out.sizes = ordered(frame["size"])
        return out


_CLEAN_SOURCES = ("weight_lbs", "height_in", "bust_size_num", "bust_size_letter")


def _canonical(frame: pd.DataFrame, require_labels: bool = False) -> pd.DataFrame:
    """Accept canonical frames or the cleaned RentTheRunway columns (converted to canonical)."""
    if any(c in frame.columns for c in _CLEAN_SOURCES):
        converted, _ = from_clean_table(frame, require_labels=require_labels)
        return converted
    out = frame.copy()
    for col in ("user_id", "item_id", "size"):
        if col in out.columns:
            out[col] = out[col].map(lambda v: None if pd.isna(v) else str(v))
    return out


class FitModel:
    """Predicts whether a size of an item will be small, fit or large for a customer.

    Train with :meth:`fit` on a canonical fit frame (:mod:`mmshop.fit.records`); ask with
    :meth:`predict_proba` / :meth:`predict` or :meth:`recommend_size`.
    """

    def __init__(
        self, config: FitConfig | None = None, overrides: Mapping[str, Any] | None = None
    ) -> None:
        base = config or FitConfig()
        self.config = base.replace(dict(overrides)) if overrides else base
        self.features: FitFeatures | None = None
        self.network: FitNet | None = None
        self.catalogue = _Catalogue()
        self.offsets = np.zeros(3, dtype=np.float64)
        self.training_info: dict[str, Any] = {}

    # ----------------------------------------------------------------- training
    def _split(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        n_val = max(1, round(len(frame) * self.config.val_fraction))
        dates = frame.get("review_date")
        if dates is not None and dates.notna().all():
            order = np.argsort(dates.to_numpy(), kind="stable")
        else:
            order = np.random.default_rng(self.config.trainer.seed).permutation(len(frame))
        return frame.iloc[order[:-n_val]], frame.iloc[order[-n_val:]]

    def fit(
        self,
        frame: pd.DataFrame,
        val: pd.DataFrame | None = None,
        work_dir: str | Path | None = None,
    ) -> FitModel:
        """Train on ``frame``; ``val`` (default: the latest ``val_fraction`` of rows) is used
        for early stopping on macro AUC and to set the class offsets for macro-F1."""
        frame = _canonical(frame, require_labels=True)
        absent = [c for c in ("user_id", "item_id", "size", "fit") if c not in frame.columns]
        if absent:
            raise DataError(f"fit training data lacks column(s) {absent}")
        if len(frame) < 10:
            raise DataError(f"fit training data has {len(frame)} rows; need at least 10")
        bad = sorted(set(frame["fit"].dropna()) - set(FIT_LABELS))
        if bad:
            raise DataError(f"fit: unknown label(s) {bad}; expected {FIT_LABELS}")
        if val is None:
            train, val = self._split(frame)
        else:
            train, val = frame, _canonical(val, require_labels=True)
        cfg = self.config
        self.features = FitFeatures.fit(train, cfg.min_user_rows, cfg.min_item_rows)
        self.catalogue = _Catalogue.build(train)
        spec = InputSpec(
            cardinalities=self.features.tabular.cardinalities,
            num_numeric=self.features.tabular.num_features,
        )
        torch.manual_seed(cfg.trainer.seed)
        self.network = FitNet(
            spec,
            len(self.features.users),
            len(self.features.items),
            cfg.dim,
            cfg.body_dim,
            cfg.dropout,
            cfg.user_dropout,
            cfg.item_dropout,
        )
        labels = {"fit": self._labels(train)}
        batches = ArrayBatches(
            self.features.transform(train, training=True),
            labels,
            cfg.batch_size,
            True,
            cfg.trainer.seed,
        )
        val_arrays = self.features.transform(val)
        val_y = self._labels(val)

        def evaluate(model: torch.nn.Module) -> dict[str, float]:
            proba = self._proba_arrays(val_arrays, model)
            auc = roc_auc_ovr(val_y, proba)
            return {"macro_auc": float("nan") if auc is None else auc}

        with tempfile.TemporaryDirectory(prefix="mmshop-fit-") as tmp:
            out = Path(work_dir) if work_dir else Path(tmp)
            trainer = Trainer(self.network, cfg.trainer, MultiTaskCrossEntropy(), evaluate, out)
            history = trainer.fit(batches)
        self.network.eval()
        val_proba = self._proba_arrays(val_arrays, self.network)
        if cfg.calibrate:
            self.offsets = _best_offsets(val_y, val_proba)
        self.training_info = {
            "rows_train": len(train),
            "rows_val": len(val),
            "best_epoch": history.best_epoch,
            "val_macro_auc": history.best_score,
            "offsets": self.offsets.tolist(),
            "seconds": round(history.seconds, 1),
            "history": history.epochs,
        }
        return self

    @staticmethod
    def _labels(frame: pd.DataFrame) -> np.ndarray:
        index = {label: i for i, label in enumerate(FIT_LABELS)}
        return np.array([index.get(v, -100) for v in frame["fit"]], dtype=np.int64)

    # ---------------------------------------------------------------- inference
    def _ready(self) -> tuple[FitFeatures, FitNet]:
        if self.features is None or self.network is None:
            raise ConfigError("the fit model is not trained; call fit() or FitModel.load()")
        return self.features, self.network

    def _proba_arrays(self, arrays: dict[str, np.ndarray], model: torch.nn.Module) -> np.ndarray:
        batches = ArrayBatches(arrays, None, self.config.eval_batch_size, False)
        was_training = model.training
        model.eval()
        out = []
        with torch.inference_mode():
            for batch in batches:
                out.append(torch.softmax(model(batch)["logits"]["fit"], dim=1).numpy())
        model.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, 3), np.float32)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """``[N, 3]`` probabilities of small, fit, large (columns in ``FIT_LABELS`` order)."""
        features, network = self._ready()
        return self._proba_arrays(features.transform(_canonical(frame)), network)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class ids from probabilities with the calibrated offsets (better macro-F1)."""
        return (np.log(np.clip(proba, 1e-9, 1.0)) + self.offsets).argmax(axis=1)

    def predict(self, frame: pd.DataFrame) -> list[str]:
        return [FIT_LABELS[i] for i in self.decide(self.predict_proba(frame))]

    def evaluate(self, frame: pd.DataFrame) -> dict[str, float]:
        """Macro AUC (one-vs-rest), macro-F1 and accuracy on labelled rows."""
        frame = _canonical(frame)
        proba = self.predict_proba(frame)
        y = self._labels(frame)
        metrics = classification_metrics(y, self.decide(proba), FIT_LABELS)
        auc = roc_auc_ovr(y, proba)
        return {
            "macro_auc": float("nan") if auc is None else auc,
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "n": metrics["n"],
        }

    # ------------------------------------------------------------ size advice
    def known_item(self, item_id: str) -> bool:
        return self.features is not None and str(item_id) in self.features.items

    def candidate_sizes(self, item_id: str, category: str | None = None) -> list[str]:
        """Sizes the item was seen in; for a new item, its category's sizes."""
        item_id = str(item_id)
        if item_id in self.catalogue.item_sizes:
            return self.catalogue.item_sizes[item_id]
        if category is not None and str(category) in self.catalogue.category_sizes:
            return self.catalogue.category_sizes[str(category)]
        if category is not None:
            raise QueryError(
                f"category: unknown category '{category}' for new item '{item_id}'; known: "
                f"{sorted(self.catalogue.category_sizes)[:20]}"
            )
        raise QueryError(
            f"item_id: unknown item '{item_id}'; give its category for a cold-start estimate"
        )

    def recommend_size(
        self,
        body: BodyProfile | Mapping[str, Any] | None,
        item_id: str,
        user_id: str | None = None,
        category: str | None = None,
        sizes: Iterable[Any] | None = None,
    ) -> SizeAdvice:
        """The size of ``item_id`` most likely to fit, with that probability.

        ``body``: a :class:`BodyProfile` or raw measurements (``{"height": "5' 8\\"",
        "weight": "137lbs", "bust size": "34d"}``); any subset, or None. ``user_id`` adds the
        customer's learned offset when known. ``category`` is needed for an item the model has
        not seen. ``sizes`` limits the candidates (labels must be known sizes).
        """
        self._ready()
        profile = _profile(body)
        item_id = str(item_id)
        candidates = self.candidate_sizes(item_id, category)
        if sizes is not None:
            asked = [str(s) for s in sizes]
            if not asked:
                raise QueryError("size: give at least one size label, or none for all sizes")
            unknown = [s for s in asked if s not in set(self.catalogue.sizes)]
            if unknown:
                raise QueryError(
                    f"size: unknown size label(s) {unknown}; known sizes: {self.catalogue.sizes}"
                )
            candidates = asked
        item_category = self.catalogue.item_category.get(item_id, category)
        row = {**profile.to_dict(), "item_id": item_id, "category": item_category}
        row["user_id"] = None if user_id is None else str(user_id)
        frame = pd.DataFrame([{**row, "size": s} for s in candidates])
        proba = self.predict_proba(frame)
        best = int(proba[:, 1].argmax())
        options = [
            SizeOption(s, float(p[0]), float(p[1]), float(p[2]))
            for s, p in zip(candidates, proba, strict=True)
        ]
        used = profile.given
        missing = [c for c in BODY_COLUMNS if c not in used]
        new_customer = user_id is None or str(user_id) not in self.features.users  # type: ignore[union-attr]
        new_item = not self.known_item(item_id)
        note = _note(float(proba[best, 1]), used, new_customer, new_item)
        return SizeAdvice(
            item_id=item_id,
            size=candidates[best],
            fit_probability=float(proba[best, 1]),
            options=options,
            measurements_used=used,
            measurements_missing=missing,
            new_customer=new_customer,
            new_item=new_item,
            note=note,
        )

    # ------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Save as config.json (settings + fitted state) and model.safetensors, atomically."""
        features, network = self._ready()

        def write(tmp: Path) -> None:
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "mmshop_version": __version__,
                "config": self.config.to_dict(),
                "features": features.to_dict(),
                "catalogue": self.catalogue.__dict__,
                "offsets": self.offsets.tolist(),
                "training": {k: v for k, v in self.training_info.items() if k != "history"},
            }
            (tmp / "config.json").write_text(json.dumps(meta), encoding="utf-8")
            save_weights(network, tmp / "model.safetensors")
            history = self.training_info.get("history", [])
            (tmp / "training.json").write_text(json.dumps(history, default=str), "utf-8")

        return write_model_dir(Path(path), write)

    @classmethod
    def load(cls, path: str | Path) -> FitModel:
        """Load a saved fit model; a changed or partial folder is a ModelLoadError."""
        path = Path(path)
        verify_model_dir(path, required=("config.json", "model.safetensors"))
        meta = read_json(path / "config.json")
        check_format(meta, path, FORMAT, FORMAT_VERSION)
        try:
            self = cls(FitConfig.from_dict(meta["config"]))
            self.features = FitFeatures.from_dict(meta["features"])
            self.catalogue = _Catalogue(**meta["catalogue"])
            self.offsets = np.asarray(meta["offsets"], dtype=np.float64)
        except (KeyError, TypeError, ConfigError) as exc:
            raise ModelLoadError(f"{path}/config.json is not a valid fit model: {exc}") from exc
        cfg, feats = self.config, self.features
        spec = InputSpec(
            cardinalities=feats.tabular.cardinalities, num_numeric=feats.tabular.num_features
        )
        self.network = FitNet(
            spec, len(feats.users), len(feats.items), cfg.dim, cfg.body_dim, cfg.dropout
        )
        load_weights(self.network, path / "model.safetensors")
        self.network.eval()
        self.training_info = dict(meta.get("training", {}))
        return self


def _profile(body: BodyProfile | Mapping[str, Any] | None) -> BodyProfile:
    if body is None:
        return BodyProfile()
    if isinstance(body, BodyProfile):
        return body
    if isinstance(body, Mapping):
        return BodyProfile.from_raw(dict(body))
    raise DataError(f"body: expected measurements as a mapping, got {type(body).__name__}")


def _note(p_fit: float, used: list[str], new_customer: bool, new_item: bool) -> str:
    level = "high" if p_fit >= 0.8 else "medium" if p_fit >= 0.6 else "low"
    parts = [f"{level} confidence ({p_fit:.0%} chance it fits)"]
    parts.append(f"based on {', '.join(used)}" if used else "no measurements given")
    if new_customer:
        parts.append("new customer: body measurements only")
    if new_item:
        parts.append("new item: category average")
    return "; ".join(parts)


def _best_offsets(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Offsets for log-probabilities of small and large (fit fixed at 0) maximising macro-F1."""
    keep = y >= 0
    y, logp = y[keep], np.log(np.clip(proba[keep], 1e-9, 1.0))
    if len(np.unique(y)) < 2:
        return np.zeros(3)
    grid = np.arange(-1.0, 3.01, 0.1)
    best, best_f1 = np.zeros(3), -1.0
    for a in grid:
        for b in grid:
            offsets = np.array([a, 0.0, b])
            pred = (logp + offsets).argmax(axis=1)
            f1 = classification_metrics(y, pred, FIT_LABELS)["macro_f1"]
            if f1 > best_f1 + 1e-9:
                best, best_f1 = offsets, f1
    return best
