"""Evaluation report: ``report.md``, ``report.html``, ``metrics.json`` and ``figures/*.png``.

Both documents are rendered from one list of blocks, so they always hold the same content.
Every file is replaced atomically; other files in ``out_dir`` are left alone.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mmshop.errors import DataError
from mmshop.evaluation.metrics import classification_metrics, confusion_subset, most_confused
from mmshop.utils.io import atomic_directory, atomic_write_text

FIGURES = "figures"
MAX_CLASS_ROWS = 30
MAX_CONFUSION_CLASSES = 15


# ----------------------------------------------------------------- document model
@dataclass
class _Heading:
    text: str
    level: int = 2


@dataclass
class _Para:
    text: str


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class _Image:
    path: str
    alt: str


_Block = _Heading | _Para | _Table | _Image

_MD_SPECIAL = re.compile(r"([\\`*|\[\]])")


def _md(text: str) -> str:
    """Escape text for Markdown (including raw HTML, which renderers would execute)."""
    text = re.sub(r"&(?=#?\w+;)", "&amp;", str(text))
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _render_md(title: str, blocks: list[_Block]) -> str:
    out = [f"# {_md(title)}", ""]
    for block in blocks:
        if isinstance(block, _Heading):
            out += ["#" * block.level + " " + _md(block.text), ""]
        elif isinstance(block, _Para):
            out += [_md(block.text), ""]
        elif isinstance(block, _Table):
            out.append("| " + " | ".join(_md(h) for h in block.header) + " |")
            out.append("|" + "|".join("---" for _ in block.header) + "|")
            out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in block.rows]
            out.append("")
        else:
            out += [f"![{_md(block.alt)}]({block.path})", ""]
    return "\n".join(out)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def _render_html(title: str, blocks: list[_Block]) -> str:
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for block in blocks:
        if isinstance(block, _Heading):
            out.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, _Para):
            out.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, _Table):
            out.append("<table><thead><tr>")
            out.append("".join(f"<th>{esc(h)}</th>" for h in block.header))
            out.append("</tr></thead><tbody>")
            for row in block.rows:
                out.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
            out.append("</tbody></table>")
        else:
            out.append(f'<p><img src="{esc(block.path)}" alt="{esc(block.alt)}"></p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------ helpers
def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _jsonable(value: Any) -> Any:
    """Plain JSON data; NaN/inf become null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "label"
    slug, i = base, 1
    while slug in taken:
        i += 1
        slug = f"{base}_{i}"
    taken.add(slug)
    return slug


def _read_history(path: Path) -> list[dict]:
    records = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"training history file not found: {path}") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {lineno}: not valid JSON ({exc.msg})") from exc
    return records


# ------------------------------------------------------------------------ figures
def _plain_label(text: str, width: int = 28) -> str:
    text = str(text)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.replace("$", r"\$")  # no mathtext


def _plot_confusion(matrix: np.ndarray, names: list[str], title: str, path: Path) -> None:
    from matplotlib.figure import Figure

    n = len(names)
    fig = Figure(figsize=(max(5.0, 0.55 * n + 3.0), max(4.0, 0.5 * n + 2.5)), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues", aspect="auto")
    labels = [_plain_label(x) for x in names]
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(_plain_label(title, 80), fontsize=10)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > threshold else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    fig.tight_layout()
    fig.savefig(path, format="png")


def _plot_history(records: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [r.get("epoch", i + 1) for i, r in enumerate(records)]

    def series(key: str) -> list[float]:
        vals = [r.get(key) for r in records]
        return [float(v) if isinstance(v, int | float) else float("nan") for v in vals]

    extra_losses = sorted(k for k in records[0] if k.endswith("_loss") and k != "train_loss")
    loss_keys = ["train_loss", *extra_losses]
    per_label = {k for r in records for k in r if k.endswith(("/accuracy", "/macro_f1"))}
    score_keys = [k for k in ("score",) if any(k in r for r in records)]
    score_keys += sorted(per_label)[:8]
    fig = Figure(figsize=(11, 4), dpi=100)
    ax1 = fig.add_subplot(1, 2, 1)
    for key in loss_keys:
        ax1.plot(epochs, series(key), marker="o", label=_plain_label(key, 40))
    ax1.set_xlabel("epoch")
    ax1.set_title("training loss")
    ax1.legend(fontsize=8)
    ax2 = fig.add_subplot(1, 2, 2)
    for key in score_keys:
        ax2.plot(epochs, series(key), marker="o", label=_plain_label(key, 40))
    ax2.set_xlabel("epoch")
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_title("validation")
    if score_keys:
        ax2.legend(fontsize=8)
    else:
        ax2.text(0.5, 0.5, "no validation metrics", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, format="png")


# -------------------------------------------------------------------------- report
def write_report(
    out_dir: Path,
    title: str,
    label_results: dict[str, dict],
    history_path: Path | None = None,
    ablation: dict[str, dict[str, float]] | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``report.md``, ``report.html``, ``metrics.json`` and ``figures/`` into ``out_dir``.

    ``label_results[label] = {"y_true", "y_pred", "class_names"}`` (``-100`` = unlabelled);
    ``ablation[modality_removed][metric] = value`` with a ``"none"`` row for the full model;
    ``history_path`` is a trainer ``metrics.jsonl``; ``extra`` is shown as key/value pairs.
    Returns the path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks: list[_Block] = [_Para(f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.")]
    data: dict[str, Any] = {"title": title, "labels": {}}
    figures: dict[str, tuple[str, Any]] = {}  # file name -> (kind, args)
    taken: set[str] = set()

    # Summary
    per_label: dict[str, dict] = {}
    for label, res in label_results.items():
        metrics = classification_metrics(res["y_true"], res["y_pred"], list(res["class_names"]))
        metrics["most_confused"] = most_confused(
            res["y_true"], res["y_pred"], list(res["class_names"]), k=10
        )
        per_label[label] = metrics
        data["labels"][label] = metrics
    blocks.append(_Heading("Summary"))
    if per_label:
        blocks.append(
            _Table(
                ["label", "accuracy", "macro-F1", "weighted-F1", "n", "classes"],
                [
                    [
                        label,
                        _fmt(m["accuracy"]),
                        _fmt(m["macro_f1"]),
                        _fmt(m["weighted_f1"]),
                        _fmt(m["n"]),
                        _fmt(sum(1 for c in m["per_class"].values() if c["support"] > 0)),
                    ]
                    for label, m in per_label.items()
                ],
            )
        )
        blocks.append(_Para("Macro averages are over the classes present in the evaluated rows."))
    else:
        blocks.append(_Para("No label results."))

    # Per label
    for label, metrics in per_label.items():
        res = label_results[label]
        blocks.append(_Heading(f"Label: {label}"))
        rows = sorted(metrics["per_class"].items(), key=lambda kv: (-kv[1]["support"], kv[0]))
        blocks.append(
            _Table(
                ["class", "precision", "recall", "F1", "support"],
                [
                    [
                        name,
                        _fmt(c["precision"]),
                        _fmt(c["recall"]),
                        _fmt(c["f1"]),
                        _fmt(c["support"]),
                    ]
                    for name, c in rows[:MAX_CLASS_ROWS]
                ],
            )
        )
        if len(rows) > MAX_CLASS_ROWS:
            blocks.append(
                _Para(
                    f"Showing the {MAX_CLASS_ROWS} largest of {len(rows)} classes; "
                    "all classes are in metrics.json."
                )
            )
        if metrics["most_confused"]:
            blocks.append(_Heading("Most confused (true → predicted)", 3))
            blocks.append(
                _Table(
                    ["true", "predicted", "count"],
                    [[a, b, str(n)] for a, b, n in metrics["most_confused"]],
                )
            )
            matrix, names = confusion_subset(
                res["y_true"], res["y_pred"], list(res["class_names"]), MAX_CONFUSION_CLASSES
            )
            fname = f"confusion_{_slug(label, taken)}.png"
            figures[fname] = ("confusion", (matrix, names, f"{label}: most confused classes"))
            blocks.append(_Image(f"{FIGURES}/{fname}", f"confusion matrix for {label}"))
        elif metrics["n"]:
            blocks.append(_Para("No errors."))

    # Training curves
    if history_path is not None:
        records = _read_history(Path(history_path))
        data["history"] = records
        blocks.append(_Heading("Training"))
        if records:
            figures["training_curves.png"] = ("history", (records,))
            blocks.append(_Image(f"{FIGURES}/training_curves.png", "training curves"))
            keys = ["epoch", "train_loss"] + [
                k for k in ("score", "lr", "seconds") if any(k in r for r in records)
            ]
            blocks.append(_Table(keys, [[_fmt(r.get(k)) for k in keys] for r in records]))
        else:
            blocks.append(_Para("The training history is empty."))

    # Ablation
    if ablation:
        data["ablation"] = ablation
        blocks.append(_Heading("Modality ablation"))
        metric_names = sorted({m for row in ablation.values() for m in row})
        base = ablation.get("none", {})
        order = (["none"] if "none" in ablation else []) + [k for k in ablation if k != "none"]
        rows = []
        for removed in order:
            row = [removed if removed != "none" else "none (full model)"]
            for m in metric_names:
                value = ablation[removed].get(m)
                cell = _fmt(value)
                ref = base.get(m)
                if removed != "none" and _is_num(value) and _is_num(ref):
                    cell += f" ({value - ref:+.4f})"
                row.append(cell)
            rows.append(row)
        blocks.append(_Table(["modality removed", *metric_names], rows))
        if base:
            blocks.append(_Para("Brackets: change versus the full model (row 'none')."))

    # Extra
    if extra:
        data["extra"] = extra
        blocks.append(_Heading("Run information"))
        blocks.append(_Table(["key", "value"], [[str(k), _fmt(v)] for k, v in extra.items()]))

    with atomic_directory(out_dir / FIGURES) as tmp:
        for fname, (kind, args) in figures.items():
            if kind == "confusion":
                _plot_confusion(*args, tmp / fname)
            else:
                _plot_history(*args, tmp / fname)

    atomic_write_text(
        out_dir / "metrics.json", json.dumps(_jsonable(data), indent=2, ensure_ascii=False)
    )
    atomic_write_text(out_dir / "report.html", _render_html(title, blocks))
    md_path = out_dir / "report.md"
    atomic_write_text(md_path, _render_md(title, blocks))
    return md_path


def _is_num(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.number)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
