"""The Catalog: a validated product table with column roles, image root and a quarantine report."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmshop.data.roles import SPLIT_NAME, ColumnRoles, infer_roles
from mmshop.data.validation import (
    BAD_SPLIT,
    DUPLICATE_ID,
    EMPTY_TEXT,
    ERROR,
    IMAGE_MISSING,
    MISSING_ID,
    MISSING_LABEL,
    WARNING,
    WRONG_TYPE,
    ValidationReport,
    check_images,
    resolve_image,
)
from mmshop.errors import ConfigError, DataError
from mmshop.utils.io import sha256_file

GENERATED_ID = "row_id"
SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "validation": "val",
    "valid": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
TEXT_SEPARATOR = " | "
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000


class Catalog:
    """Validated product rows (``df``, kept rows only) plus their roles, image root and report.

    Build one with :meth:`open` (or ``from_csv`` / ``from_parquet`` / ``from_jsonl`` /
    ``from_frame``). ``df`` has index ``0..n-1``, the id column as ``str``, text columns as
    ``str`` ("" when empty), categorical columns as ``str`` (NaN when missing), numeric columns
    as ``float`` (NaN when missing) and a split column with values ``train``/``val``/``test``.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        roles: ColumnRoles,
        root: str | Path,
        report: ValidationReport | None = None,
        source: str = "",
        labels: Sequence[str] = (),
        strict: bool = True,
        split_seed: int = 0,
    ) -> None:
        self.df = df
        self.roles = roles
        self.root = Path(root)
        self.report = report if report is not None else ValidationReport(n_rows=len(df))
        self.source = source
        self.labels: list[str] = list(labels)
        self.strict = strict
        self.split_seed = split_seed
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def open(
        cls,
        path: str | Path,
        roles: ColumnRoles | dict[str, Any] | None = None,
        image_root: str | Path | None = None,
        strict: bool = True,
        check_images: bool = True,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        split_seed: int = 0,
        labels: Sequence[str] | None = None,
    ) -> Catalog:
        """Open a .csv/.tsv/.parquet/.jsonl/.json catalogue; kwargs as in :meth:`from_frame`."""
        path = Path(path)
        readers: dict[str, Callable[..., Catalog]] = {
            ".csv": cls.from_csv,
            ".tsv": cls.from_csv,
            ".parquet": cls.from_parquet,
            ".pq": cls.from_parquet,
            ".jsonl": cls.from_jsonl,
            ".ndjson": cls.from_jsonl,
            ".json": cls.from_jsonl,
        }
        reader = readers.get(path.suffix.lower())
        if reader is None:
            raise DataError(
                f"cannot open {path}: unsupported file type '{path.suffix}'; "
                f"use one of {sorted(readers)}"
            )
        return reader(
            path,
            roles=roles,
            image_root=image_root,
            strict=strict,
            check_images=check_images,
            max_image_pixels=max_image_pixels,
            split_seed=split_seed,
            labels=labels,
        )

    @classmethod
    def from_csv(cls, path: str | Path, **kwargs: Any) -> Catalog:
        """Read a CSV (tab-separated for .tsv); cells are read as text. kwargs: see from_frame."""
        path = _existing_file(path)
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        try:
            df = pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8-sig")
        except pd.errors.EmptyDataError:
            raise DataError(f"data file {path} is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise DataError(f"cannot read {path} as CSV: {exc}") from exc
        return cls.from_frame(df, root=path.parent, source=str(path), **kwargs)

    @classmethod
    def from_parquet(cls, path: str | Path, **kwargs: Any) -> Catalog:
        """Read a Parquet file (via pyarrow). kwargs: see :meth:`from_frame`."""
        path = _existing_file(path)
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for bad files
            raise DataError(f"cannot read {path} as Parquet: {exc}") from exc
        return cls.from_frame(df, root=path.parent, source=str(path), **kwargs)

    @classmethod
    def from_jsonl(cls, path: str | Path, **kwargs: Any) -> Catalog:
        """Read JSON Lines, or a .json list of objects. kwargs: see :meth:`from_frame`."""
        path = _existing_file(path)
        records = _read_json_records(path)
        return cls.from_frame(
            pd.DataFrame.from_records(records), root=path.parent, source=str(path), **kwargs
        )

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        root: str | Path | None = None,
        roles: ColumnRoles | dict[str, Any] | None = None,
        image_root: str | Path | None = None,
        strict: bool = True,
        check_images: bool = True,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        split_seed: int = 0,
        labels: Sequence[str] | None = None,
        source: str = "<dataframe>",
    ) -> Catalog:
        """Validate a DataFrame and build a Catalog.

        ``root`` (or ``image_root``, which wins) is the folder relative image paths resolve
        against; images outside it are refused. ``strict=True`` quarantines every row with an
        error; ``strict=False`` blanks bad image/text/numeric fields with a warning and keeps the
        row. ``labels`` are excluded from input roles and rows missing them are quarantined.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        builder = _Builder(
            df, source, strict, check_images, max_image_pixels, split_seed, list(labels or [])
        )
        base = image_root if image_root is not None else (root if root is not None else ".")
        return builder.build(cls, roles, Path(base))

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        return f"Catalog({self.source!r}, rows={len(self)}, roles={self.roles.to_dict()})"

    def ids(self) -> list[str]:
        """Row ids, in row order."""
        return [str(v) for v in self.df[self.roles.id].tolist()] if self.roles.id else []

    def image_path(self, i: int) -> Path | None:
        """Absolute resolved image path of row ``i``, or None when the row has no usable image."""
        if not self.roles.image:
            return None
        value = self.df[self.roles.image].iat[i]
        if _is_missing(value):
            return None
        result = resolve_image(str(value), self.root)
        return result.path if result.ok else None

    def text(self, i: int) -> str:
        """Text columns of row ``i`` joined with ``" | "`` (empty pieces skipped)."""
        pieces = (str(self.df[c].iat[i]).strip() for c in self.roles.text)
        return TEXT_SEPARATOR.join(p for p in pieces if p)

    def texts(self, i: int | Iterable[int] | None = None) -> list[str]:
        """Joined text of all rows (``i=None``), of row ``i`` (one-item list), or of rows ``i``."""
        if i is None:
            rows: Iterable[int] = range(len(self))
        elif isinstance(i, int | np.integer):
            rows = [int(i)]
        else:
            rows = i
        return [self.text(int(r)) for r in rows]

    # ------------------------------------------------------------------ views
    def subset(self, indices: Iterable[int] | np.ndarray) -> Catalog:
        """A Catalog of the given row positions (or boolean mask); shares root, roles and report."""
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        df = self.df.iloc[idx.astype(int)].reset_index(drop=True)
        return Catalog(
            df,
            self.roles,
            self.root,
            self.report,
            self.source,
            self.labels,
            self.strict,
            self.split_seed,
        )

    def split(self, name: str) -> Catalog:
        """Rows of split ``train``/``val``/``test`` (``validation``/``valid``/``dev`` mean val)."""
        canonical = SPLIT_ALIASES.get(str(name).strip().lower())
        if canonical is None:
            raise DataError(
                f"unknown split '{name}'; use one of {list(SPLITS)} "
                "('validation', 'valid' and 'dev' also mean 'val')"
            )
        if not self.roles.split:
            raise DataError(f"catalogue {self.source} has no split column")
        mask = (self.df[self.roles.split] == canonical).to_numpy()
        return self.subset(mask)

    def with_labels(self, labels: str | Sequence[str]) -> Catalog:
        """Declare label columns: rows missing a label are quarantined, labels leave input roles."""
        labels = [labels] if isinstance(labels, str) else list(labels)
        columns = [str(c) for c in self.df.columns]
        unknown = [lab for lab in labels if lab not in columns]
        if unknown:
            raise DataError(
                f"unknown label column(s) {unknown} in {self.source}; columns: {columns}"
            )
        for lab in labels:
            for role in ("id", "image", "split"):
                if getattr(self.roles, role) == lab:
                    raise DataError(f"column '{lab}' is the {role} column; it cannot be a label")
        report = self.report.copy()
        ids = self.ids()
        bad = np.zeros(len(self), dtype=bool)
        df = self.df.copy()
        for lab in labels:
            df[lab] = df[lab].map(lambda v: v.strip() if isinstance(v, str) else v)
            for k in np.flatnonzero(df[lab].map(_is_missing).to_numpy()):
                if not bad[k]:
                    report.add(ids[k], lab, f"label '{lab}' is missing", ERROR, MISSING_LABEL)
                bad[k] = True
        report.n_kept = self.report.n_kept - int(bad.sum())
        if bad.all():
            raise DataError(_no_rows_message(self.source, report))
        df = df[~bad].reset_index(drop=True)
        return Catalog(
            df,
            self.roles.without(labels),
            self.root,
            report,
            self.source,
            list(dict.fromkeys([*self.labels, *labels])),
            self.strict,
            self.split_seed,
        )

    @property
    def fingerprint(self) -> str:
        """sha256 over the kept rows' values and the bytes of their images (cached)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for col in self.df.columns:
                values = [None if _is_missing(v) else v for v in self.df[col].tolist()]
                h.update(json.dumps([str(col), values], default=str).encode("utf-8"))
            paths = [self.image_path(i) for i in range(len(self))]
            with ThreadPoolExecutor(max_workers=4) as pool:
                for digest in pool.map(_file_digest, paths, chunksize=64):
                    h.update(digest.encode("ascii"))
            self._fingerprint = h.hexdigest()
        return self._fingerprint


# ---------------------------------------------------------------------- building
class _Builder:
    """Runs every row check once and assembles the Catalog."""

    def __init__(
        self,
        df: pd.DataFrame,
        source: str,
        strict: bool,
        check_images: bool,
        max_image_pixels: int,
        split_seed: int,
        labels: list[str],
    ) -> None:
        self.df = df.reset_index(drop=True)
        self.df.columns = [str(c).strip() for c in self.df.columns]
        self.source = source
        self.strict = strict
        self.check_images = check_images
        self.max_image_pixels = int(max_image_pixels)
        self.split_seed = int(split_seed)
        self.labels = labels
        self.n = len(self.df)
        self.bad = np.zeros(self.n, dtype=bool)
        self.report = ValidationReport(n_rows=self.n)
        self.row_ids = [f"row {k + 1}" for k in range(self.n)]
        self.field_severity = ERROR if strict else WARNING

    def build(
        self, cls: type[Catalog], given: ColumnRoles | dict[str, Any] | None, base: Path
    ) -> Catalog:
        self._check_frame()
        roles = infer_roles(self.df, given, exclude=self.labels)
        self._check_role_columns(roles)
        root = base.resolve()
        if roles.image and not root.is_dir():
            raise DataError(f"image folder {base} does not exist (needed for {self.source})")
        roles.id = self._ids(roles.id)
        self._numeric(roles.numeric)
        for col in roles.categorical:
            self.df[col] = pd.Series([_as_str(v) for v in self.df[col]], dtype="str")
        self._text(roles.text)
        roles.split = self._split(roles.split)
        if roles.image:
            self._images(roles.image, root)
        if self.bad.all():
            raise DataError(_no_rows_message(self.source, self.report))
        self.report.n_kept = int((~self.bad).sum())
        df = self.df[~self.bad].reset_index(drop=True)
        roles = ColumnRoles.from_dict(roles.to_dict())
        cat = cls(df, roles, root, self.report, self.source, (), self.strict, self.split_seed)
        return cat.with_labels(self.labels) if self.labels else cat

    def _check_frame(self) -> None:
        cols = list(self.df.columns)
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        if dupes:
            raise DataError(f"{self.source} has duplicate column name(s) {dupes}")
        if self.n == 0:
            raise DataError(f"{self.source} has no rows")
        unknown = [lab for lab in self.labels if lab not in cols]
        if unknown:
            raise DataError(f"unknown label column(s) {unknown} in {self.source}; columns: {cols}")

    def _check_role_columns(self, roles: ColumnRoles) -> None:
        generated = {("id", GENERATED_ID), ("split", SPLIT_NAME)}
        missing = [
            col
            for role, col in roles.assignments()
            if col not in self.df.columns and (role, col) not in generated
        ]
        if missing:
            raise DataError(
                f"roles name column(s) {missing} that {self.source} does not have; "
                f"columns: {list(self.df.columns)}"
            )

    def _new_column(self, name: str) -> str:
        while name in self.df.columns:
            name = "_" + name
        return name

    def _ids(self, id_col: str | None) -> str:
        if id_col is None or id_col not in self.df.columns:
            id_col = self._new_column(id_col or GENERATED_ID)
            self.df[id_col] = list(self.row_ids)
            return id_col
        ids = [_as_str(v) for v in self.df[id_col]]
        first_seen: dict[str, int] = {}
        for k, value in enumerate(ids):
            if value is None:
                self._error(k, id_col, f"id column '{id_col}' is empty", MISSING_ID)
                continue
            self.row_ids[k] = value
            if value in first_seen:
                reason = f"duplicate id '{value}' (first seen on row {first_seen[value] + 1})"
                self._error(k, id_col, reason, DUPLICATE_ID)
            else:
                first_seen[value] = k
        self.df[id_col] = pd.Series(ids, dtype="str")
        return id_col

    def _numeric(self, columns: list[str]) -> None:
        for col in columns:
            out = np.full(self.n, np.nan)
            for k, value in enumerate(self.df[col].tolist()):
                if _is_missing(value) or (isinstance(value, str) and not value.strip()):
                    continue
                number = _to_float(value)
                if number is None:
                    reason = f"value {str(value)!r} in numeric column '{col}' is not a number"
                    self._field_issue(k, col, reason, WRONG_TYPE)
                else:
                    out[k] = number
            self.df[col] = out

    def _text(self, columns: list[str]) -> None:
        if not columns:
            return
        for col in columns:
            cleaned = ["" if _is_missing(v) else str(v).strip() for v in self.df[col]]
            self.df[col] = pd.Series(cleaned, dtype="str")
        empty = np.ones(self.n, dtype=bool)
        for col in columns:
            empty &= (self.df[col] == "").to_numpy()
        names = ", ".join(columns)
        for k in np.flatnonzero(empty):
            self._field_issue(
                k, names, f"empty text: all text columns ({names}) are blank", EMPTY_TEXT
            )

    def _split(self, split_col: str | None) -> str:
        if split_col is None or split_col not in self.df.columns:
            split_col = self._new_column(split_col or SPLIT_NAME)
            self.df[split_col] = [seeded_split(i, self.split_seed) for i in self.row_ids]
            return split_col
        values: list[str] = []
        for k, raw in enumerate(self.df[split_col].tolist()):
            canonical = None if _is_missing(raw) else SPLIT_ALIASES.get(str(raw).strip().lower())
            if canonical is None:
                fallback = seeded_split(self.row_ids[k], self.split_seed)
                if _is_missing(raw) or not str(raw).strip():
                    reason = f"split is empty; assigned '{fallback}' by seeded hash"
                    self.report.add(self.row_ids[k], split_col, reason, WARNING, BAD_SPLIT)
                else:
                    reason = f"split value '{raw}' is not one of {list(SPLITS)}"
                    self._field_issue(k, split_col, reason, BAD_SPLIT)
                canonical = fallback
            values.append(canonical)
        self.df[split_col] = pd.Series(values, dtype="str")
        return split_col

    def _images(self, col: str, root: Path) -> None:
        values = [_as_str(v) for v in self.df[col]]
        todo: list[int] = []
        for k, value in enumerate(values):
            if self.bad[k]:
                continue
            if value is None:
                self.report.add(self.row_ids[k], col, "no image given", WARNING, IMAGE_MISSING)
            else:
                todo.append(k)
        results = check_images(
            [values[k] for k in todo], root, self.max_image_pixels, open_files=self.check_images
        )
        for k, result in zip(todo, results, strict=True):
            if not result.ok:
                self._field_issue(k, col, result.reason, result.code)
                values[k] = None
        self.df[col] = pd.Series(values, dtype="str")

    def _error(self, k: int, column: str | None, reason: str, code: str) -> None:
        self.report.add(self.row_ids[k], column, reason, ERROR, code)
        self.bad[k] = True

    def _field_issue(self, k: int, column: str | None, reason: str, code: str) -> None:
        """An unusable field: quarantines the row when strict, else a warning (field blanked)."""
        if self.strict:
            self._error(k, column, reason, code)
        else:
            self.report.add(self.row_ids[k], column, reason, WARNING, code)


# ---------------------------------------------------------------------- helpers
def seeded_split(row_id: str, seed: int = 0, fractions: Sequence[float] = SPLIT_FRACTIONS) -> str:
    """Stable train/val/test assignment from a hash of ``seed`` and the row id."""
    digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, frac in zip(SPLITS, fractions, strict=True):
        edge += frac
        if u < edge:
            return name
    return SPLITS[-1]


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if not path.is_file():
        raise DataError(f"data path {path} is not a file")
    return path


def _read_json_records(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path} must hold a JSON list of objects (one per product)")
        return data
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {n} is not valid JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise DataError(f"{path} line {n} is not a JSON object")
        records.append(record)
    if not records:
        raise DataError(f"data file {path} is empty")
    return records


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_str(value: Any) -> str | None:
    """Cell as a stripped string (integral floats without '.0'), None when missing/blank."""
    if _is_missing(value):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_):
        return float(value)
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _file_digest(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return sha256_file(path)
    except OSError:
        return "missing"


def _no_rows_message(source: str, report: ValidationReport) -> str:
    top = list(report.counts_by_reason().items())[:5]
    reasons = ", ".join(f"{code} ({n})" for code, n in top) or "unknown"
    examples = "; ".join(f"{i.row_id}: {i.reason}" for i in report.errors[:3])
    return (
        f"{source} has no usable rows: all {report.n_rows} row(s) were quarantined. "
        f"Top reasons: {reasons}. Examples: {examples}"
    )


def holdout(cat: Catalog, fraction: float, seed: int, min_rows: int = 1) -> tuple[Catalog, Catalog]:
    """Split a seeded ``fraction`` of rows off ``cat``: (rest, held out), each >= ``min_rows``."""
    n = len(cat)
    n_val = max(min_rows, round(n * fraction))
    if n - n_val < min_rows:
        raise ConfigError(f"too few training rows ({n}) to hold out a validation set")
    order = np.random.default_rng(seed).permutation(n)
    return cat.subset(np.sort(order[n_val:])), cat.subset(np.sort(order[:n_val]))
