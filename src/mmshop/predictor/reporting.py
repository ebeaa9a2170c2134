"""The evaluation report of a predictor: metrics, confusion, curves and a modality ablation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmshop import __version__
from mmshop.evaluation.report import write_report

if TYPE_CHECKING:
    from mmshop.predictor.core import MultimodalPredictor, Rows


def modality_ablation(
    predictor: MultimodalPredictor, rows: Rows, full: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, float]]:
    """Metric per label with each modality removed at test time (``none`` = the full model)."""
    _procs, model = predictor._ready()
    results = {"none": full or predictor.evaluate_detailed(rows)}
    if len(model.modalities) > 1:
        for modality in model.modalities:
            results[modality] = predictor.evaluate_detailed(rows, drop_modalities=[modality])
    table: dict[str, dict[str, float]] = {}
    for removed, per_label in results.items():
        row = {}
        for label, r in per_label.items():
            row[f"{label} accuracy"] = r["metrics"]["accuracy"]
            row[f"{label} macro-F1"] = r["metrics"]["macro_f1"]
        table[removed] = row
    return table


def write_predictor_report(
    predictor: MultimodalPredictor, rows: Rows, out_dir: Path, ablation: bool = True
) -> Path:
    """Evaluate on labelled ``rows`` and write report.md / report.html / figures to ``out_dir``."""
    _procs, model = predictor._ready()
    full = predictor.evaluate_detailed(rows)
    label_results = {
        label: {k: r[k] for k in ("y_true", "y_pred", "class_names")} for label, r in full.items()
    }
    history = None
    work = predictor.training_info.get("work_dir")
    if work and (Path(work) / "metrics.jsonl").exists():
        history = Path(work) / "metrics.jsonl"
    extra: dict[str, Any] = {
        "mmshop version": __version__,
        "modalities": ", ".join(model.modalities),
        "fusion": predictor.config.model.fusion.name,
        "training data fingerprint": predictor.training_info.get("data_fingerprint", "?"),
        "best epoch": predictor.training_info.get("best_epoch", "?"),
        "quarantined at training": predictor.training_info.get("quarantine_summary", "?"),
    }
    weights = model.fusion_weights()
    if weights:
        extra["learned modality weights"] = json.dumps({k: round(v, 3) for k, v in weights.items()})
    table = modality_ablation(predictor, rows, full) if ablation else None
    return write_report(
        out_dir,
        title="mmshop evaluation report",
        label_results=label_results,
        history_path=history,
        ablation=table,
        extra=extra,
    )
