"""Evaluation: classification metrics and the Markdown/HTML report."""

from mmshop.evaluation.metrics import (
    classification_metrics,
    confusion_subset,
    most_confused,
    roc_auc_ovr,
)
from mmshop.evaluation.report import write_report

__all__ = [
    "classification_metrics",
    "confusion_subset",
    "most_confused",
    "roc_auc_ovr",
    "write_report",
]
