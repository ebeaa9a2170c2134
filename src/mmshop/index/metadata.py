"""Columnar product attributes for filters: categorical codes and numeric arrays per slot.

Filters are a dict ``{field: condition}``; fields are AND-ed. A condition is a value
(``"Footwear"``), a list of values (any of them), or for numeric fields a number, a
``(low, high)`` pair or ``{"min": .., "max": ..}`` (inclusive; ``None`` = open). Unknown fields
and unknown categorical values are errors that list what is valid.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmshop.errors import ModelLoadError, QueryError
from mmshop.utils.io import atomic_write_text

Filters = Mapping[str, Any]
_MISSING = -1
_RANGE = re.compile(r"^\s*(-?[\d.eE+-]*)\s*\.\.\s*(-?[\d.eE+-]*)\s*$")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


class MetadataStore:
    """Per-slot values of the filterable fields (``kinds``: field -> categorical | numeric)."""

    def __init__(self, kinds: Mapping[str, str]) -> None:
        bad = {f: k for f, k in kinds.items() if k not in ("categorical", "numeric")}
        if bad:
            raise QueryError(f"field kinds must be 'categorical' or 'numeric', got {bad}")
        self.kinds = dict(kinds)
        self.vocab: dict[str, list[str]] = {f: [] for f, k in kinds.items() if k == "categorical"}
        self._codes: dict[str, dict[str, int]] = {f: {} for f in self.vocab}
        self.columns: dict[str, np.ndarray] = {
            f: np.zeros(0, np.int32 if k == "categorical" else np.float64)
            for f, k in self.kinds.items()
        }
        self.size = 0

    @classmethod
    def infer_kinds(cls, df: pd.DataFrame, fields: Sequence[str]) -> dict[str, str]:
        """numeric when every present value parses as a number, else categorical."""
        kinds = {}
        for f in fields:
            if f not in df.columns:
                raise QueryError(
                    f"filter field '{f}' is not a catalogue column: {list(df.columns)}"
                )
            values = df[f].dropna()
            numeric = pd.to_numeric(values, errors="coerce")
            is_num = len(values) > 0 and bool(numeric.notna().all())
            kinds[f] = "numeric" if is_num else "categorical"
        return kinds

    # ------------------------------------------------------------------ writing
    def append(self, rows: pd.DataFrame) -> None:
        """Add one value per field for each row (missing fields or values become missing)."""
        n = len(rows)
        for f, kind in self.kinds.items():
            values = rows[f].tolist() if f in rows.columns else [None] * n
            if kind == "numeric":
                col = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
                new = col.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                codes = self._codes[f]
                vocab = self.vocab[f]
                new = np.empty(n, dtype=np.int32)
                for i, v in enumerate(values):
                    if _is_missing(v):
                        new[i] = _MISSING
                        continue
                    key = str(v).strip()
                    if key not in codes:
                        codes[key] = len(vocab)
                        vocab.append(key)
                    new[i] = codes[key]
            self.columns[f] = np.concatenate([self.columns[f], new])
        self.size += n

    def set_rows(self, slots: np.ndarray, rows: pd.DataFrame) -> None:
        """Overwrite the values of existing ``slots`` (used by compaction)."""
        tmp = MetadataStore(self.kinds)
        tmp.vocab, tmp._codes = self.vocab, self._codes
        tmp.append(rows)
        for f in self.kinds:
            self.columns[f][slots] = tmp.columns[f]

    def take(self, slots: np.ndarray) -> MetadataStore:
        """A store holding only ``slots``, in that order (same vocabularies)."""
        out = MetadataStore(self.kinds)
        out.vocab = {f: list(v) for f, v in self.vocab.items()}
        out._codes = {f: dict(c) for f, c in self._codes.items()}
        out.columns = {f: c[slots].copy() for f, c in self.columns.items()}
        out.size = len(slots)
        return out

    # ------------------------------------------------------------------ reading
    def row(self, slot: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f, kind in self.kinds.items():
            v = self.columns[f][slot]
            if kind == "numeric":
                out[f] = None if math.isnan(v) else float(v)
            else:
                out[f] = None if v == _MISSING else self.vocab[f][int(v)]
        return out

    def rows(self, slots: np.ndarray) -> list[dict[str, Any]]:
        """:meth:`row` for many slots at once (vectorised per field)."""
        out: list[dict[str, Any]] = [{} for _ in range(len(slots))]
        for f, kind in self.kinds.items():
            values = self.columns[f][slots].tolist()
            if kind == "numeric":
                for d, v in zip(out, values, strict=True):
                    d[f] = None if v != v else v
            else:
                vocab = self.vocab[f]
                for d, v in zip(out, values, strict=True):
                    d[f] = None if v == _MISSING else vocab[v]
        return out

    def _code(self, field: str, value: Any) -> int:
        codes = self._codes[field]
        key = str(value).strip()
        if key in codes:
            return codes[key]
        folded = {k.casefold(): c for k, c in codes.items()}
        if key.casefold() in folded:
            return folded[key.casefold()]
        known = sorted(self.vocab[field])
        shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise QueryError(f"unknown value '{value}' for filter field '{field}'; known: {shown}")

    def _numeric_mask(self, field: str, cond: Any) -> np.ndarray:
        col = self.columns[field]
        if isinstance(cond, Mapping):
            extra = set(cond) - {"min", "max"}
            if extra:
                raise QueryError(f"numeric filter '{field}' takes 'min'/'max', got {sorted(extra)}")
            low, high = cond.get("min"), cond.get("max")
        elif isinstance(cond, tuple | list) and len(cond) == 2:
            low, high = cond
        else:
            low = high = cond
        try:
            lo = -np.inf if low is None else float(low)
            hi = np.inf if high is None else float(high)
        except (TypeError, ValueError):
            raise QueryError(f"numeric filter '{field}' needs numbers, got {cond!r}") from None
        if lo > hi:
            raise QueryError(f"filter '{field}': min {lo} is greater than max {hi}")
        with np.errstate(invalid="ignore"):
            return (col >= lo) & (col <= hi)

    def mask(self, filters: Filters) -> np.ndarray:
        """bool ``[size]``: rows matching every condition."""
        keep = np.ones(self.size, dtype=bool)
        for field, cond in filters.items():
            if field not in self.kinds:
                valid = ", ".join(sorted(self.kinds)) or "(none)"
                raise QueryError(f"unknown filter field '{field}'; filterable fields: {valid}")
            if self.kinds[field] == "numeric":
                keep &= self._numeric_mask(field, cond)
                continue
            values = cond if isinstance(cond, list | tuple | set) else [cond]
            if not values:
                raise QueryError(f"filter '{field}' has an empty list of values")
            codes = np.array([self._code(field, v) for v in values], dtype=np.int32)
            keep &= np.isin(self.columns[field], codes)
        return keep

    # ------------------------------------------------------------------ files
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"kinds": self.kinds, "vocab": self.vocab, "size": self.size}
        atomic_write_text(directory / "fields.json", json.dumps(meta, ensure_ascii=False))
        for i, (_f, col) in enumerate(self.columns.items()):
            np.save(directory / f"field_{i}.npy", col, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> MetadataStore:
        try:
            meta = json.loads((directory / "fields.json").read_text(encoding="utf-8"))
            store = cls(meta["kinds"])
            store.vocab = {f: list(v) for f, v in meta["vocab"].items()}
            store._codes = {f: {v: i for i, v in enumerate(vs)} for f, vs in store.vocab.items()}
            for i, f in enumerate(store.kinds):
                store.columns[f] = np.load(directory / f"field_{i}.npy", allow_pickle=False)
            store.size = int(meta["size"])
        except (OSError, KeyError, ValueError) as exc:
            raise ModelLoadError(f"index metadata in {directory} is unreadable: {exc}") from exc
        if any(len(c) != store.size for c in store.columns.values()):
            raise ModelLoadError(f"index metadata in {directory} has inconsistent lengths")
        return store


def parse_filters(items: Sequence[str]) -> dict[str, Any]:
    """Parse CLI filters: ``field=value`` (repeat a field for any-of), ``field=lo..hi``,
    ``field>=x``, ``field<=x``."""
    out: dict[str, Any] = {}
    for item in items:
        m = re.match(r"^\s*([^=<>]+?)\s*(>=|<=|=)\s*(.*)$", item)
        if not m or not m.group(1) or m.group(3) == "":
            raise QueryError(
                f"filter '{item}' must look like field=value, field=lo..hi or field>=x"
            )
        field, op, raw = m.group(1), m.group(2), m.group(3).strip()
        if op != "=":
            bound = {"min": raw} if op == ">=" else {"max": raw}
            prev = out.get(field, {})
            out[field] = {**(prev if isinstance(prev, dict) else {}), **bound}
            continue
        rng = _RANGE.match(raw)
        if rng and (rng.group(1) or rng.group(2)):
            out[field] = {"min": rng.group(1) or None, "max": rng.group(2) or None}
            continue
        prev = out.get(field)
        if prev is None:
            out[field] = raw
        elif isinstance(prev, list):
            prev.append(raw)
        elif isinstance(prev, str):
            out[field] = [prev, raw]
        else:
            raise QueryError(f"filter field '{field}' mixes a range and values")
    return out
