"""Classification metrics on integer class ids; ``y_true == -100`` rows are ignored.

Macro averages are taken over the classes present in ``y_true`` (like scikit-learn with
``labels=<present classes>``), so classes that never occur in the evaluated rows neither help
nor hurt. ``per_class`` lists every class present in ``y_true`` or ``y_pred``; a class only
ever predicted shows support 0 and precision 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

IGNORE_INDEX = -100


def _valid(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).reshape(-1).astype(np.int64)
    p = np.asarray(y_pred).reshape(-1).astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} rows but y_pred has {p.size}")
    keep = t != IGNORE_INDEX
    return t[keep], p[keep]


def _name(class_names: list[str], idx: int) -> str:
    return str(class_names[idx]) if 0 <= idx < len(class_names) else f"<class {idx}>"


def _confusion(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """Full confusion matrix (rows = true, cols = predicted) over ids ``0..k-1``."""
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _size(t: np.ndarray, p: np.ndarray, class_names: list[str]) -> int:
    if t.size and (t.min() < 0 or p.min() < 0):
        raise ValueError("class ids must be >= 0 (or -100 in y_true for 'no label')")
    top = max(int(t.max()) if t.size else -1, int(p.max()) if p.size else -1)
    return max(len(class_names), top + 1)


def classification_metrics(y_true: Any, y_pred: Any, class_names: list[str]) -> dict:
    """Accuracy, macro/weighted F1 and per-class precision/recall/F1/support.

    Returns ``{"accuracy", "macro_f1", "weighted_f1", "n", "per_class": {name: {...}}}``.
    Scores are NaN when no row has a label.
    """
    t, p = _valid(y_true, y_pred)
    n = int(t.size)
    if n == 0:
        nan = float("nan")
        return {"accuracy": nan, "macro_f1": nan, "weighted_f1": nan, "n": 0, "per_class": {}}
    k = _size(t, p, class_names)
    cm = _confusion(t, p, k)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = support + predicted
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    present = support > 0
    per_class: dict[str, dict[str, float | int]] = {}
    for idx in np.flatnonzero(present | (predicted > 0)):
        per_class[_name(class_names, int(idx))] = {
            "precision": float(precision[idx]),
            "recall": float(recall[idx]),
            "f1": float(f1[idx]),
            "support": int(support[idx]),
        }
    return {
        "accuracy": float(tp.sum() / n),
        "macro_f1": float(f1[present].mean()),
        "weighted_f1": float((f1 * support).sum() / support.sum()),
        "n": n,
        "per_class": per_class,
    }


def most_confused(
    y_true: Any, y_pred: Any, class_names: list[str], k: int = 10
) -> list[tuple[str, str, int]]:
    """The ``k`` most frequent (true class, predicted class, count) errors, largest first."""
    t, p = _valid(y_true, y_pred)
    if t.size == 0 or k <= 0:
        return []
    size = _size(t, p, class_names)
    cm = _confusion(t, p, size)
    np.fill_diagonal(cm, 0)
    rows, cols = np.nonzero(cm)
    counts = cm[rows, cols]
    order = np.lexsort((cols, rows, -counts))[:k]
    return [
        (_name(class_names, int(rows[i])), _name(class_names, int(cols[i])), int(counts[i]))
        for i in order
    ]


def confusion_subset(
    y_true: Any, y_pred: Any, class_names: list[str], max_classes: int = 15
) -> tuple[np.ndarray, list[str]]:
    """Confusion matrix (rows = true, cols = predicted) over the classes most involved in errors.

    Classes are ranked by errors made plus errors received (ties and, when there are few
    errors, the remaining slots go to the largest classes). Returns ``(matrix, names)``.
    """
    t, p = _valid(y_true, y_pred)
    if t.size == 0 or max_classes <= 0:
        return np.zeros((0, 0), dtype=np.int64), []
    size = _size(t, p, class_names)
    cm = _confusion(t, p, size)
    off = cm - np.diag(np.diag(cm))
    involvement = off.sum(axis=0) + off.sum(axis=1)
    support = cm.sum(axis=1)
    used = (support > 0) | (cm.sum(axis=0) > 0)
    candidates = np.flatnonzero(used)
    order = np.lexsort((candidates, -support[candidates], -involvement[candidates]))
    chosen = candidates[order][:max_classes]
    return cm[np.ix_(chosen, chosen)], [_name(class_names, int(i)) for i in chosen]


def roc_auc_ovr(y_true: Any, proba: Any) -> float | None:
    """Macro one-vs-rest ROC AUC over classes present in ``y_true`` (and not all rows).

    ``proba`` is ``[N, C]`` class scores. Returns ``None`` when fewer than two classes are
    present, so AUC is undefined.
    """
    from sklearn.metrics import roc_auc_score

    t = np.asarray(y_true).reshape(-1).astype(np.int64)
    scores = np.asarray(proba, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != t.size:
        raise ValueError(f"proba must be [N, C] with N={t.size}, got shape {scores.shape}")
    keep = t != IGNORE_INDEX
    t, scores = t[keep], scores[keep]
    aucs = []
    for cls in np.unique(t):
        if cls < 0 or cls >= scores.shape[1]:
            raise ValueError(f"class id {cls} has no column in proba ({scores.shape[1]} columns)")
        positive = t == cls
        if positive.all():
            continue
        aucs.append(roc_auc_score(positive, scores[:, cls]))
    if len(np.unique(t)) < 2 or not aucs:
        return None
    return float(np.mean(aucs))
