"""MultimodalPredictor: the front class that learns label columns from a catalogue."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmshop import __version__
from mmshop.data.catalog import Catalog, holdout
from mmshop.data.dataset import BatchIterator
from mmshop.data.roles import ColumnRoles
from mmshop.errors import ConfigError, DataError, ModelLoadError
from mmshop.evaluation.metrics import classification_metrics
from mmshop.models.cascade import EmbeddingCache, attach_embeddings
from mmshop.models.io import (
    check_format,
    load_weights,
    read_json,
    save_weights,
    verify_model_dir,
    write_model_dir,
)
from mmshop.models.multimodal import MultimodalModel, build_model
from mmshop.models.spec import InputSpec
from mmshop.predictor.backbones import (
    backbone_references,
    model_config_for_load,
    write_backbone_files,
)
from mmshop.predictor.config import PredictorConfig
from mmshop.predictor.encoders import check_encoder_options, encoder_overrides
from mmshop.predictor.features import FeatureProcessors, default_cache_dir
from mmshop.predictor.inference import run_model
from mmshop.training.lora import count_parameters
from mmshop.training.losses import MultiTaskCrossEntropy, balanced_class_weights
from mmshop.training.seed import seed_everything, set_threads
from mmshop.training.trainer import Trainer, TrainHistory
from mmshop.utils.io import atomic_write_text

FORMAT = "mmshop.multimodal_predictor"
FORMAT_VERSION = 1

Rows = Catalog | pd.DataFrame | str | Path | Sequence[Mapping[str, Any]]


class MultimodalPredictor:
    """Learn one or more label columns from images, text and table columns of a catalogue.

    >>> p = MultimodalPredictor(labels=["articleType"])
    >>> p.fit(cat.split("train"), val=cat.split("val"))
    >>> p.evaluate(cat.split("test"))["articleType"]["accuracy"]

    Pretrained backbones: ``text_encoder="hf:PATH"`` / ``image_encoder="hf:PATH"`` (a local
    checkpoint folder, ``hf:minilm`` or a hub id) with ``mode`` ``frozen`` (cascade: embeddings
    computed once, only fusion and heads train), ``lora`` or ``full``. The same choice in config
    keys: ``overrides={"model.encoders.text": {"name": "hf_text", "options": {...}}}``.
    """

    def __init__(
        self,
        labels: Sequence[str] | None = None,
        *,
        config: PredictorConfig | None = None,
        overrides: Mapping[str, Any] | None = None,
        work_dir: str | Path | None = None,
        text_encoder: str | None = None,
        image_encoder: str | None = None,
        mode: str | None = None,
    ) -> None:
        if config is None:
            config = PredictorConfig(labels=list(labels or []))
        elif labels is not None and list(labels) != list(config.labels):
            raise ConfigError(f"labels {list(labels)} differ from config.labels {config.labels}")
        chosen = encoder_overrides(text_encoder, image_encoder, mode, config.model)
        changes = {**chosen, **dict(overrides or {})}
        self.config = config.replace(changes) if changes else config
        check_encoder_options(self.config.model)
        self.work_dir = Path(work_dir) if work_dir else None
        self.processors: FeatureProcessors | None = None
        self.model: MultimodalModel | None = None
        self.history: TrainHistory | None = None
        self.training_info: dict[str, Any] = {}
        self._base_refs: dict[str, Any] | None = None

    # ------------------------------------------------------------------ training
    def fit(
        self, train: Rows, val: Rows | None = None, *, resume: bool = False, progress: bool = True
    ) -> MultimodalPredictor:
        """Fit processors on ``train``, train with early stopping on ``val``; returns self."""
        cfg = self.config
        seed_everything(cfg.trainer.seed)
        set_threads(cfg.trainer.num_threads)
        train_cat = self._catalog(train, strict=True).with_labels(list(cfg.labels))
        if val is None:
            train_cat, val_cat = holdout(train_cat, cfg.val_fraction, cfg.trainer.seed)
        else:
            val_cat = self._catalog(val, strict=True).with_labels(list(cfg.labels))
        self.processors = procs = FeatureProcessors.fit(train_cat, cfg)
        cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else None
        train_arrays = procs.arrays(train_cat, cache_dir, progress)
        val_arrays = procs.arrays(val_cat, cache_dir, progress)
        y_train = procs.labels.transform(train_cat.df)
        y_val = procs.labels.transform(val_cat.df)

        self.model = model = build_model(cfg.model, procs.input_spec())
        cascade = self._embedding_cache()
        train_arrays = attach_embeddings(
            model, train_arrays, procs.image, cascade, cfg.eval_batch_size, progress
        )
        val_arrays = attach_embeddings(
            model, val_arrays, procs.image, cascade, cfg.eval_batch_size, progress
        )
        weights = None
        if cfg.class_weight_power > 0:
            weights = {
                label: balanced_class_weights(
                    np.bincount(y[y >= 0], minlength=procs.labels.num_classes(label)),
                    power=cfg.class_weight_power,
                )
                for label, y in y_train.items()
            }
        loss = MultiTaskCrossEntropy(class_weights=weights, label_smoothing=cfg.label_smoothing)
        batches = BatchIterator(
            train_arrays,
            y_train,
            batch_size=cfg.batch_size,
            shuffle=True,
            seed=cfg.trainer.seed,
            image_processor=procs.image,
            augment=bool(procs.image and procs.image.config.augment),
        )
        trainer_cfg = cfg.trainer.replace(
            {
                "progress": cfg.trainer.progress and progress,
                # a backbone's own lr unless the user set that prefix
                "param_groups": {**model.lr_multipliers(), **cfg.trainer.param_groups},
            }
        )

        def evaluate(m: MultimodalModel) -> dict[str, float]:
            return self._score(m, val_arrays, y_val)

        work = self.work_dir or Path(tempfile.mkdtemp(prefix="mmshop-run-"))
        trainer = Trainer(model, trainer_cfg, loss, evaluate, out_dir=work)
        self.history = trainer.fit(batches, resume=resume)
        self.training_info = {
            "train_rows": len(train_cat),
            "val_rows": len(val_cat),
            "quarantined": train_cat.report.to_dict().get("issues", [])[:1000],
            "quarantine_summary": train_cat.report.summary(),
            "data_fingerprint": train_cat.fingerprint,
            "best_epoch": self.history.best_epoch,
            "best_score": self.history.best_score,
            "train_seconds": self.history.seconds,
            "fusion_weights": model.fusion_weights(),
            "work_dir": str(work),
            "parameters": self.parameter_counts(),
            "cascade": cascade.events,
        }
        return self

    def parameter_counts(self) -> dict[str, Any]:
        """Trainable and total parameters, plus per pretrained encoder its backbone's size and
        the share of it that trains (LoRA: the adapters)."""
        _, model = self._ready()
        counts: dict[str, Any] = count_parameters(model)
        for modality, encoder in model.encoders.items():
            per = getattr(encoder, "parameter_counts", None)
            if callable(per):
                counts.setdefault("backbones", {})[modality] = per()
        return counts

    def merge_adapters(self) -> MultimodalPredictor:
        """Fold LoRA adapters into their backbones (for export); those encoders become fully
        tuned ones, so :meth:`save` then stores every weight and the base is no longer needed."""
        _, model = self._ready()
        merged = [m for m, e in model.encoders.items() if getattr(e, "mode", None) == "lora"]
        if not merged:
            raise ConfigError("merge_adapters: no encoder of this predictor uses LoRA")
        for modality in merged:
            model.encoders[modality].merge_adapters()
        self.config = self.config.replace(
            {f"model.encoders.{m}.options.mode": "full" for m in merged}
        )
        return self

    def _embedding_cache(self) -> EmbeddingCache:
        root = Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()
        return EmbeddingCache(root / "embeddings")

    def _score(
        self, model: MultimodalModel, arrays: Any, y: dict[str, np.ndarray]
    ) -> dict[str, float]:
        assert self.processors is not None
        probs, _ = run_model(model, arrays, self.processors.image, self.config.eval_batch_size)
        out: dict[str, float] = {}
        scores = []
        for label, p in probs.items():
            m = classification_metrics(y[label], p.argmax(1), self.processors.labels.classes[label])
            out[f"{label}/accuracy"] = m["accuracy"]
            out[f"{label}/macro_f1"] = m["macro_f1"]
            scores.append((m["accuracy"] + m["macro_f1"]) / 2)
        out["score"] = float(np.mean(scores))
        return out

    # ---------------------------------------------------------------- prediction
    def _ready(self) -> tuple[FeatureProcessors, MultimodalModel]:
        if self.processors is None or self.model is None:
            raise ModelLoadError("this predictor is not trained: call fit() or load() first")
        return self.processors, self.model

    def _catalog(self, rows: Rows, strict: bool) -> Catalog:
        roles = self.processors.prediction_roles() if self.processors else None
        if isinstance(rows, Catalog):
            return rows if roles is None else _with_roles(rows, roles)
        given = roles.to_dict() if roles is not None else None
        if isinstance(rows, str | Path):
            return Catalog.open(rows, roles=given, strict=strict)
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        return Catalog.from_frame(df, root=Path.cwd(), roles=given, strict=strict)

    def _run(self, rows: Rows, drop: Iterable[str] = (), embeddings: bool = False):
        procs, model = self._ready()
        cat = self._catalog(rows, strict=False)
        cache_dir = Path(self.config.cache_dir) if self.config.cache_dir else None
        arrays = procs.arrays(cat, cache_dir, progress=len(cat) > 5000)
        arrays = attach_embeddings(
            model,
            arrays,
            procs.image,
            self._embedding_cache(),
            self.config.eval_batch_size,
            progress=len(cat) > 5000,
        )
        probs, emb = run_model(
            model, arrays, procs.image, self.config.eval_batch_size, tuple(drop), embeddings
        )
        return cat, arrays, probs, emb

    def predict_proba(self, rows: Rows) -> dict[str, pd.DataFrame]:
        """Class probabilities per label: a DataFrame indexed by product id, one column a class."""
        procs, _ = self._ready()
        cat, _, probs, _ = self._run(rows)
        return {
            label: pd.DataFrame(p, index=cat.ids(), columns=procs.labels.classes[label])
            for label, p in probs.items()
        }

    def predict(self, rows: Rows) -> pd.DataFrame:
        """Predicted class and confidence per label, plus ``notes`` on missing/unseen inputs."""
        procs, _ = self._ready()
        cat, arrays, probs, _ = self._run(rows)
        out = pd.DataFrame({"id": cat.ids()})
        for label, p in probs.items():
            classes = np.asarray(procs.labels.classes[label], dtype=object)
            out[label] = classes[p.argmax(1)]
            out[f"{label}_confidence"] = p.max(1).round(4)
        out["notes"] = _row_notes(cat, arrays, procs)
        return out

    def embed(self, rows: Rows) -> np.ndarray:
        """Fused product embeddings ``[N, D]`` (float32), in row order."""
        _, _, _, emb = self._run(rows, embeddings=True)
        assert emb is not None
        return emb

    def evaluate(
        self, rows: Rows, drop_modalities: Iterable[str] = ()
    ) -> dict[str, dict[str, float]]:
        """Accuracy, macro-F1 and weighted-F1 per label on labelled rows."""
        results = self.evaluate_detailed(rows, drop_modalities)
        return {
            label: {k: r["metrics"][k] for k in ("accuracy", "macro_f1", "weighted_f1", "n")}
            for label, r in results.items()
        }

    def evaluate_detailed(
        self, rows: Rows, drop_modalities: Iterable[str] = ()
    ) -> dict[str, dict[str, Any]]:
        procs, _ = self._ready()
        cat = self._catalog(rows, strict=False).with_labels(list(self.config.labels))
        _, _, probs, _ = self._run(cat, drop=drop_modalities)
        y = procs.labels.transform(cat.df)
        out = {}
        for label, p in probs.items():
            classes = procs.labels.classes[label]
            pred = p.argmax(1)
            out[label] = {
                "metrics": classification_metrics(y[label], pred, classes),
                "y_true": y[label],
                "y_pred": pred,
                "proba": p,
                "class_names": classes,
            }
        return out

    def report(self, rows: Rows, out_dir: str | Path, ablation: bool = True) -> Path:
        """Write an evaluation report (Markdown + HTML + figures) for labelled rows."""
        from mmshop.predictor.reporting import write_predictor_report

        return write_predictor_report(self, rows, Path(out_dir), ablation=ablation)

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Save as a folder of config.json, model.safetensors and processor states (atomic).

        Frozen and LoRA-tuned pretrained backbones are not stored (only the adapters, fusion,
        heads and other encoders are); config.json records each base checkpoint and its hash.
        """
        procs, model = self._ready()
        spec = procs.input_spec()
        backbones = backbone_references(model, self._base_refs)

        def write(tmp: Path) -> None:
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "mmshop_version": __version__,
                "config": self.config.to_dict(),
                "input_spec": spec.to_dict(),
            }
            if backbones:
                meta["backbones"] = backbones
            atomic_write_text(tmp / "config.json", json.dumps(meta, indent=2))
            save_weights(model, tmp / "model.safetensors", exclude=model.external_state_keys())
            write_backbone_files(tmp, model)
            procs.save(tmp / "processors")
            info = dict(self.training_info)
            if self.history is not None:
                info["history"] = self.history.epochs
            atomic_write_text(tmp / "training.json", json.dumps(info, indent=2, default=str))

        return write_model_dir(Path(path), write)

    @classmethod
    def load(
        cls, path: str | Path, base_checkpoints: Mapping[str, str] | None = None
    ) -> MultimodalPredictor:
        """Load a saved predictor; a tampered, partial or mismatched folder is a ModelLoadError.

        A model with frozen or LoRA-tuned pretrained encoders needs their base checkpoints with
        unchanged weights; ``base_checkpoints={"text": FOLDER}`` gives a moved one's new place.
        """
        path = Path(path)
        verify_model_dir(path, required=("config.json", "model.safetensors"))
        meta = read_json(path / "config.json")
        check_format(meta, path, FORMAT, FORMAT_VERSION)
        try:
            config = PredictorConfig.from_dict(meta["config"])
            spec = InputSpec.from_dict(meta["input_spec"])
        except (KeyError, ConfigError) as exc:
            raise ModelLoadError(
                f"{path}/config.json is not a valid predictor config: {exc}"
            ) from exc
        self = cls(config=config)
        self.processors = FeatureProcessors.load(path / "processors")
        if self.processors.input_spec() != spec:
            raise ModelLoadError(f"{path}: processors do not match the saved input spec")
        backbones = meta.get("backbones") or {}
        model_config = model_config_for_load(path, config.model, backbones, base_checkpoints)
        try:
            self.model = build_model(model_config, spec)
        except ConfigError as exc:
            raise ModelLoadError(f"{path}: cannot rebuild the model: {exc}") from exc
        load_weights(
            self.model, path / "model.safetensors", external=self.model.external_state_keys()
        )
        self._base_refs = backbones or None
        self.model.eval()
        info = path / "training.json"
        self.training_info = read_json(info) if info.exists() else {}
        return self


def _with_roles(cat: Catalog, roles: ColumnRoles) -> Catalog:
    """View ``cat`` through the input columns the model was trained on (no re-validation)."""
    used = (roles.image, list(roles.text), list(roles.categorical), list(roles.numeric))
    have = (
        cat.roles.image,
        list(cat.roles.text),
        list(cat.roles.categorical),
        list(cat.roles.numeric),
    )
    if used == have:
        return cat
    absent = [c for c in [roles.image, *roles.text] if c and c not in cat.df.columns]
    if absent:
        raise DataError(
            f"catalogue {cat.source} lacks column(s) {absent} the model was trained on; "
            f"columns: {list(cat.df.columns)}"
        )
    merged = ColumnRoles(
        id=cat.roles.id,
        image=roles.image,
        text=list(roles.text),
        categorical=list(roles.categorical),
        numeric=list(roles.numeric),
        split=cat.roles.split,
    )
    return Catalog(
        cat.df, merged, cat.root, cat.report, cat.source, cat.labels, cat.strict, cat.split_seed
    )


def _row_notes(cat: Catalog, arrays: Any, procs: FeatureProcessors) -> list[str]:
    """Per row: which inputs were missing or unseen, with the validation reason when known."""
    ids = cat.ids()
    reasons: dict[tuple[str, str | None], str] = {}
    for issue in cat.report.issues:
        reasons.setdefault((issue.row_id, issue.column), issue.reason)
    notes: list[list[str]] = [[] for _ in range(len(cat))]
    if procs.image is not None:
        for i in np.flatnonzero(~np.asarray(arrays.image_mask)):
            why = reasons.get((ids[i], procs.roles.image))
            notes[i].append(f"no usable image ({why})" if why else "no usable image")
    if procs.text is not None:
        for i in np.flatnonzero(~np.asarray(arrays.text_mask)):
            notes[i].append("empty text")
    if procs.tabular is not None:
        for i, column, value in procs.tabular.unseen(cat.df):
            notes[i].append(f"unseen {column}={value!r}")
    return ["; ".join(n) for n in notes]
