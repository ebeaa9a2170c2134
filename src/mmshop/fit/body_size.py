"""BodySizeModel: body measurements (height, weight, age, ...) -> a size label such as M.

The labels are ordered (``BodySizeConfig.sizes``), so besides accuracy the model reports the
share of predictions within one size of the truth. Built from the engine's tabular MLP encoder,
a linear head, the generic trainer and its cross-entropy loss.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from mmshop import __version__
from mmshop.data.processors.tabular import TabularProcessor
from mmshop.errors import ConfigError, DataError, ModelLoadError
from mmshop.evaluation.metrics import classification_metrics
from mmshop.fit.config import BodySizeConfig
from mmshop.fit.features import ArrayBatches
from mmshop.fit.measurements import LIMITS, BodyProfile
from mmshop.models.io import (
    check_format,
    load_weights,
    read_json,
    save_weights,
    verify_model_dir,
    write_model_dir,
)
from mmshop.models.spec import InputSpec
from mmshop.registry import ENCODERS
from mmshop.training.losses import MultiTaskCrossEntropy
from mmshop.training.trainer import Trainer

FORMAT = "mmshop.body_size"
FEATURES = ["height_cm", "weight_kg", "age", "bmi"]
_ALIASES = {"height": "height_cm", "weight": "weight_kg"}


@dataclass
class SizeEstimate:
    """The most likely size, its probability, and the probability of being within one size."""

    size: str
    probability: float
    within_one_probability: float
    probabilities: dict[str, float]
    measurements_used: list[str]


def body_table(df: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Columns ``height``/``weight`` (cm/kg) or canonical names -> canonical body columns.

    Impossible values are blanked and listed as ``{"row", "field", "reason"}``.
    """
    out = df.rename(columns={k: v for k, v in _ALIASES.items() if k in df.columns}).copy()
    issues: list[dict[str, Any]] = []
    for col in ("height_cm", "weight_kg", "age"):
        if col not in out.columns:
            out[col] = np.nan
        values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=np.float64, copy=True)
        low, high = LIMITS[col]
        bad = np.isfinite(values) & ((values < low) | (values > high))
        for pos in np.flatnonzero(bad):
            issues.append(
                {
                    "row": int(pos),
                    "field": col,
                    "reason": f"{col}: {values[pos]:g} is not a possible value "
                    f"(allowed {low:g}..{high:g})",
                }
            )
        values[bad] = np.nan
        out[col] = values
    out["bmi"] = out["weight_kg"] / (out["height_cm"] / 100.0) ** 2
    return out, issues


class _SizeNet(nn.Module):
    def __init__(self, spec: InputSpec, n_sizes: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.body = ENCODERS.build("mlp", spec, dim=hidden, dropout=dropout)
        self.head = nn.Sequential(nn.GELU(), nn.Linear(hidden, n_sizes))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        body = self.body(batch)
        return {"logits": {"size": self.head(body)}, "embedding": body}


class BodySizeModel:
    """Recommends a size label from body measurements alone (no item, no history)."""

    def __init__(
        self, config: BodySizeConfig | None = None, overrides: Mapping[str, Any] | None = None
    ) -> None:
        base = config or BodySizeConfig()
        self.config = base.replace(dict(overrides)) if overrides else base
        self.tabular: TabularProcessor | None = None
        self.network: _SizeNet | None = None
        self.training_info: dict[str, Any] = {}
        #: The configured sizes that occur in the training data, in order; "within one size"
        #: is measured on this scale (a data set without XS has S next to XXS).
        self.classes: list[str] = list(self.config.sizes)

    def _labels(self, df: pd.DataFrame) -> np.ndarray:
        if "size" not in df.columns:
            raise DataError(f"column 'size' is missing (columns: {list(df.columns)})")
        index = {s: i for i, s in enumerate(self.config.sizes)}
        labels = [str(v).strip().upper() if not pd.isna(v) else None for v in df["size"]]
        unknown = [(i, v) for i, v in enumerate(labels) if v is not None and v not in index]
        if unknown:
            row, value = unknown[0]
            raise DataError(
                f"size: unknown size label '{value}' in row {row} "
                f"({len(unknown)} such rows); known sizes: {self.config.sizes}"
            )
        classes = {s: i for i, s in enumerate(self.classes)}
        return np.array([classes.get(v, -100) if v else -100 for v in labels], dtype=np.int64)

    def _arrays(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        assert self.tabular is not None
        cat, num = self.tabular.transform(table)
        return {"tabular_cat": cat, "tabular_num": num}

    def fit(self, df: pd.DataFrame, work_dir: str | Path | None = None) -> BodySizeModel:
        """Train on rows with height/weight/age (any may be missing) and a ``size`` label."""
        cfg = self.config
        self.classes = list(cfg.sizes)
        present = set(self._labels(df).tolist())
        self.classes = [s for i, s in enumerate(cfg.sizes) if i in present]
        if len(self.classes) < 2:
            raise DataError(f"size: need at least two different sizes, got {self.classes}")
        y = self._labels(df)
        table, issues = body_table(df)
        if len(df) < 10:
            raise DataError(f"body-size training data has {len(df)} rows; need at least 10")
        order = np.random.default_rng(cfg.trainer.seed).permutation(len(df))
        n_val = max(1, round(len(df) * cfg.val_fraction))
        val_idx, train_idx = order[:n_val], order[n_val:]
        self.tabular = TabularProcessor([], FEATURES).fit(table.iloc[train_idx])
        spec = InputSpec(num_numeric=self.tabular.num_features)
        torch.manual_seed(cfg.trainer.seed)
        self.network = _SizeNet(spec, len(self.classes), cfg.hidden, cfg.dropout)
        arrays = self._arrays(table)
        train_arrays = {k: v[train_idx] for k, v in arrays.items()}
        val_arrays = {k: v[val_idx] for k, v in arrays.items()}
        batches = ArrayBatches(
            train_arrays, {"size": y[train_idx]}, cfg.batch_size, True, cfg.trainer.seed
        )

        def evaluate(model: nn.Module) -> dict[str, float]:
            pred = self._proba(val_arrays, model).argmax(1)
            return _scores(y[val_idx], pred, self.classes)

        with tempfile.TemporaryDirectory(prefix="mmshop-size-") as tmp:
            out = Path(work_dir) if work_dir else Path(tmp)
            history = Trainer(
                self.network, cfg.trainer, MultiTaskCrossEntropy(), evaluate, out
            ).fit(batches)
        self.network.eval()
        self.training_info = {
            "rows": len(df),
            "blanked": len(issues),
            "best_epoch": history.best_epoch,
            "val_score": history.best_score,
            "seconds": round(history.seconds, 1),
        }
        return self

    def _proba(self, arrays: dict[str, np.ndarray], model: nn.Module) -> np.ndarray:
        model.eval()
        out = []
        with torch.inference_mode():
            for batch in ArrayBatches(arrays, None, 8192, False):
                out.append(torch.softmax(model(batch)["logits"]["size"], 1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))

    def _ready(self) -> _SizeNet:
        if self.tabular is None or self.network is None:
            raise ConfigError("the size model is not trained; call fit() or BodySizeModel.load()")
        return self.network

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """``[N, len(sizes)]`` probabilities per size label."""
        network = self._ready()
        table, _ = body_table(df)
        return self._proba(self._arrays(table), network)

    def evaluate(self, df: pd.DataFrame) -> dict[str, float]:
        """Accuracy, macro-F1 and within-one-size accuracy on labelled rows.

        Rows whose size is a configured label absent from training are not scored."""
        y = self._labels(df)
        return _scores(y, self.predict_proba(df).argmax(1), self.classes)

    def recommend(self, body: BodyProfile | Mapping[str, Any]) -> SizeEstimate:
        """The size for one body; impossible measurements raise DataError naming the field."""
        profile = body if isinstance(body, BodyProfile) else BodyProfile.from_raw(dict(body))
        used = [f for f in ("height_cm", "weight_kg", "age") if getattr(profile, f) is not None]
        row = pd.DataFrame([{f: getattr(profile, f) for f in ("height_cm", "weight_kg", "age")}])
        proba = self.predict_proba(row)[0]
        best = int(proba.argmax())
        window = proba[max(0, best - 1) : best + 2].sum()
        return SizeEstimate(
            size=self.classes[best],
            probability=float(proba[best]),
            within_one_probability=float(window),
            probabilities={s: float(p) for s, p in zip(self.classes, proba, strict=True)},
            measurements_used=used,
        )

    def save(self, path: str | Path) -> Path:
        network = self._ready()
        assert self.tabular is not None

        def write(tmp: Path) -> None:
            meta = {
                "format": FORMAT,
                "format_version": 1,
                "mmshop_version": __version__,
                "config": self.config.to_dict(),
                "tabular": self.tabular.to_dict(),  # type: ignore[union-attr]
                "classes": self.classes,
                "training": self.training_info,
            }
            (tmp / "config.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
            save_weights(network, tmp / "model.safetensors")

        return write_model_dir(Path(path), write)

    @classmethod
    def load(cls, path: str | Path) -> BodySizeModel:
        path = Path(path)
        verify_model_dir(path, required=("config.json", "model.safetensors"))
        meta = read_json(path / "config.json")
        check_format(meta, path, FORMAT)
        try:
            self = cls(BodySizeConfig.from_dict(meta["config"]))
            self.tabular = TabularProcessor.from_dict(meta["tabular"])
            self.classes = [str(c) for c in meta["classes"]]
        except (KeyError, ConfigError) as exc:
            raise ModelLoadError(f"{path}/config.json is not a valid size model: {exc}") from exc
        cfg = self.config
        spec = InputSpec(num_numeric=self.tabular.num_features)
        self.network = _SizeNet(spec, len(self.classes), cfg.hidden, cfg.dropout)
        load_weights(self.network, path / "model.safetensors")
        self.network.eval()
        self.training_info = dict(meta.get("training", {}))
        return self


def _scores(y: np.ndarray, pred: np.ndarray, sizes: list[str]) -> dict[str, float]:
    keep = y >= 0
    m = classification_metrics(y, pred, sizes)
    within = float((np.abs(y[keep] - pred[keep]) <= 1).mean()) if keep.any() else float("nan")
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "within_one": within}
