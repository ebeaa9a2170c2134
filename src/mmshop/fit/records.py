"""Fit-feedback records: the raw JSON-lines formats and cleaned tables -> one canonical frame.

The canonical fit frame has one row per (customer, item, size) review with columns
``user_id``, ``item_id``, ``size`` (labels as text), ``fit`` (``small`` / ``fit`` / ``large``),
``category``, ``review_date`` (datetime, NaT when unknown) and the body fields of
:class:`~mmshop.fit.measurements.BodyProfile` (canonical units, NaN when missing).

Bad input loses nothing silently: a record without a usable user, item, size or fit label is
quarantined; an impossible or unreadable measurement is blanked (the row is kept, since every
measurement is optional). Both are listed in the :class:`ParseReport` with the row and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmshop.errors import DataError
from mmshop.fit.measurements import (
    CM_PER_IN,
    CUPS,
    KG_PER_LB,
    LIMITS,
    BodyProfile,
    is_missing,
    parse_age,
    parse_body_type,
    parse_bust_size,
    parse_cup,
    parse_length,
    parse_weight,
)

FIT_LABELS = ["small", "fit", "large"]
BODY_NUMERIC = BodyProfile.numeric_fields()
BODY_COLUMNS = [*BODY_NUMERIC, "body_type"]
CANONICAL = ["user_id", "item_id", "size", "fit", "category", "review_date", *BODY_COLUMNS]

_RAW_PARSERS: dict[str, Any] = {
    "height": lambda v: {"height_cm": parse_length("height_cm", v, "in")},
    "weight": lambda v: {"weight_kg": parse_weight(v, "lbs")},
    "bust size": lambda v: dict(zip(("bust_band", "cup"), parse_bust_size(v), strict=True)),
    "bra size": lambda v: {"bust_band": parse_bust_size(v)[0]},
    "cup size": lambda v: {"cup": parse_cup(v)},
    "bust": lambda v: {"bust_cm": parse_length("bust_cm", v, "in")},
    "waist": lambda v: {"waist_cm": parse_length("waist_cm", v, "in")},
    "hips": lambda v: {"hips_cm": parse_length("hips_cm", v, "in")},
    "age": lambda v: {"age": parse_age(v)},
    "body type": lambda v: {"body_type": parse_body_type(v)},
}
"""Raw key -> parser. Bare numbers follow the public formats: inches for lengths, lbs for weight."""


@dataclass
class ParseReport:
    """What happened to bad input: quarantined rows and blanked fields, each with a reason."""

    rows_in: int = 0
    rows_out: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    blanked: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.rows_out}/{self.rows_in} rows kept, {len(self.quarantined)} quarantined, "
            f"{len(self.blanked)} impossible or unreadable measurements blanked"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "quarantined": self.quarantined,
            "blanked": self.blanked,
        }


def _id(value: Any) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _fit_label(value: Any) -> str | None:
    if is_missing(value):
        return None
    text = str(value).strip().lower()
    return text if text in FIT_LABELS else None


def _date(value: Any) -> pd.Timestamp:
    if is_missing(value):
        return pd.NaT
    return pd.to_datetime(value, errors="coerce", format="mixed")


def parse_record(record: dict[str, Any], row: int, report: ParseReport) -> dict[str, Any] | None:
    """One raw RentTheRunway / ModCloth record -> a canonical row (None when quarantined)."""
    out: dict[str, Any] = {c: np.nan for c in BODY_NUMERIC}
    out["body_type"] = None
    for key in ("user_id", "item_id", "size"):
        out[key] = _id(record.get(key))
    out["fit"] = _fit_label(record.get("fit"))
    missing = [k for k in ("user_id", "item_id", "size", "fit") if out[k] is None]
    if missing:
        report.quarantined.append(
            {"row": row, "field": missing[0], "reason": f"missing or unknown {missing[0]}"}
        )
        return None
    out["category"] = _id(record.get("category"))
    out["review_date"] = _date(record.get("review_date"))
    for key, parser in _RAW_PARSERS.items():
        value = record.get(key)
        if is_missing(value):
            continue
        try:
            parsed = parser(value)
        except DataError as exc:
            name = str(exc).split(":", 1)[0]
            report.blanked.append({"row": row, "field": name, "reason": str(exc)})
            continue
        out.update({k: v for k, v in parsed.items() if v is not None})
    return out


def read_raw_records(
    source: str | Path | Iterable[dict[str, Any]],
) -> tuple[pd.DataFrame, ParseReport]:
    """Read raw JSON lines (a path) or an iterable of dicts into a canonical fit frame.

    Report rows are line numbers of the file (1-based; blank lines are skipped, not counted).
    """
    report = ParseReport()
    rows: list[dict[str, Any]] = []
    for row, record in _records(source, report):
        report.rows_in += 1
        if record is None:
            continue
        parsed = parse_record(record, row, report)
        if parsed is not None:
            rows.append(parsed)
    frame = pd.DataFrame(rows, columns=CANONICAL)
    frame = _typed(frame)
    report.rows_out = len(frame)
    return frame, report


def _records(
    source: str | Path | Iterable[dict[str, Any]], report: ParseReport
) -> Iterable[tuple[int, dict[str, Any] | None]]:
    """``(row, record)``: the line number for files, the 1-based position for iterables."""
    if not isinstance(source, str | Path):
        for row, record in enumerate(source, start=1):
            if not isinstance(record, dict):
                report.quarantined.append(
                    {"row": row, "field": None, "reason": "a record must be a mapping"}
                )
                record = None
            yield row, record
        return
    path = Path(source)
    if not path.is_file():
        raise DataError(f"fit records file not found: {path}")
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                report.quarantined.append(
                    {"row": line_no, "field": None, "reason": f"not valid JSON: {exc.msg}"}
                )
                yield line_no, None
                continue
            if not isinstance(record, dict):
                report.quarantined.append(
                    {"row": line_no, "field": None, "reason": "a line must be a JSON object"}
                )
                yield line_no, None
                continue
            yield line_no, record


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for col in BODY_NUMERIC:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(np.float64)
    for col in ("user_id", "item_id", "size", "fit", "category", "body_type"):
        frame[col] = frame[col].astype(object)
    frame["review_date"] = pd.to_datetime(frame["review_date"], errors="coerce")
    return frame.reset_index(drop=True)


_CLEAN_NUMERIC = {
    "height_cm": ("height_in", CM_PER_IN),
    "weight_kg": ("weight_lbs", KG_PER_LB),
    "bust_band": ("bust_size_num", 1.0),
    "age": ("age", 1.0),
}


def from_clean_table(
    df: pd.DataFrame, require_labels: bool = True
) -> tuple[pd.DataFrame, ParseReport]:
    """The cleaned RentTheRunway table (``weight_lbs``, ``height_in``, ``bust_size_num`` ...)
    or a table already in canonical columns -> canonical fit frame, with the same checks.

    ``require_labels=False`` (rows to predict) needs only ``item_id`` and ``size``."""
    report = ParseReport(rows_in=len(df))
    required = ["user_id", "item_id", "size", "fit"] if require_labels else ["item_id", "size"]
    absent = [c for c in required if c not in df.columns]
    if absent:
        raise DataError(f"fit table is missing column(s) {absent} (has {list(df.columns)})")
    out = pd.DataFrame(index=df.index)
    for col in ("user_id", "item_id", "size"):
        out[col] = [_id(v) for v in df[col].tolist()] if col in df.columns else None
    out["fit"] = [_fit_label(v) for v in df["fit"].tolist()] if "fit" in df.columns else None
    out["category"] = [_id(v) for v in df["category"]] if "category" in df else None
    out["review_date"] = (
        pd.to_datetime(df["review_date"], errors="coerce") if "review_date" in df else pd.NaT
    )
    for col in BODY_NUMERIC:
        if col in df.columns:
            out[col] = pd.to_numeric(df[col], errors="coerce").astype(np.float64)
        elif col in _CLEAN_NUMERIC and _CLEAN_NUMERIC[col][0] in df.columns:
            source, factor = _CLEAN_NUMERIC[col]
            out[col] = pd.to_numeric(df[source], errors="coerce").astype(np.float64) * factor
        else:
            out[col] = np.nan
    if "cup" not in df.columns and "bust_size_letter" in df.columns:
        index = {c: float(i) for i, c in enumerate(CUPS)}
        letters = df["bust_size_letter"].astype(object)
        out["cup"] = [index.get(str(v).lower(), np.nan) if not is_missing(v) else np.nan
                      for v in letters]  # fmt: skip
    body = df["body_type"] if "body_type" in df.columns else pd.Series(None, index=df.index)
    out["body_type"] = [parse_body_type(v) for v in body.tolist()]
    positions = np.arange(len(df))
    for col in BODY_NUMERIC:
        low, high = LIMITS[col]
        values = out[col].to_numpy()
        bad = np.isfinite(values) & ((values < low) | (values > high))
        for pos in positions[bad]:
            report.blanked.append(
                {
                    "row": int(pos),
                    "field": col,
                    "reason": f"{col}: {values[pos]:g} is not a possible value"
                    f" (allowed {low:g}..{high:g})",
                }
            )
        out.loc[bad, col] = np.nan
    keep = np.ones(len(df), dtype=bool)
    for col in required:
        bad = out[col].isna().to_numpy()
        for pos in positions[bad & keep]:
            report.quarantined.append(
                {"row": int(pos), "field": col, "reason": f"missing or unknown {col}"}
            )
        keep &= ~bad
    frame = _typed(out.loc[keep, CANONICAL].copy())
    report.rows_out = len(frame)
    return frame, report


def load_fit_table(path: str | Path) -> tuple[pd.DataFrame, ParseReport]:
    """Open a fit table by extension: ``.jsonl``/``.json`` raw records, ``.parquet`` or ``.csv``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"fit data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return read_raw_records(path)
    if suffix == ".parquet":
        return from_clean_table(pd.read_parquet(path))
    if suffix == ".csv":
        return from_clean_table(pd.read_csv(path))
    raise DataError(f"unsupported fit data file type '{suffix}' for {path} (jsonl, parquet, csv)")
