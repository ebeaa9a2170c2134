"""Column roles of a catalogue (id, image, text, categorical, numeric, split) and inference."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError

ID_NAMES = ("id", "product_id", "item_id", "sku")
IMAGE_NAME_HINTS = ("image", "img", "photo", "picture")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
SPLIT_NAME = "split"
MAX_CATEGORICAL_INTS = 50
_BOOL_WORDS = {"true", "false", "yes", "no"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass
class ColumnRoles(ConfigBase):
    """Which column plays which part: one id, one image, any number of text/categorical/numeric."""

    id: str | None = None
    image: str | None = None
    text: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    split: str | None = None

    def validate(self) -> None:
        for name in ("id", "image", "split"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"roles.{name} must be a column name or null, got {value!r}")
        for name in ("text", "categorical", "numeric"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, list | tuple):
                raise ConfigError(f"roles.{name} must be a list of column names, got {value!r}")
            if not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"roles.{name} must contain column names only, got {value!r}")
            setattr(self, name, list(value))
        seen: dict[str, str] = {}
        for role, column in self.assignments():
            if column in seen and seen[column] != role:
                raise ConfigError(
                    f"column '{column}' has two roles ({seen[column]} and {role}); "
                    "a column may have at most one role"
                )
            if column in seen:
                raise ConfigError(f"column '{column}' is listed twice in roles.{role}")
            seen[column] = role

    def assignments(self) -> list[tuple[str, str]]:
        """All ``(role, column)`` pairs, in field order."""
        out: list[tuple[str, str]] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                out.append((f.name, value))
            elif isinstance(value, list):
                out.extend((f.name, v) for v in value)
        return out

    def columns(self) -> list[str]:
        """Every column that has a role."""
        return [column for _, column in self.assignments()]

    def input_columns(self) -> list[str]:
        """Columns fed to a model: image, text, categorical and numeric."""
        cols = [self.image] if self.image else []
        return cols + self.text + self.categorical + self.numeric

    def without(self, columns: Iterable[str]) -> ColumnRoles:
        """Copy with ``columns`` removed from the input roles (text/categorical/numeric/image)."""
        drop = set(columns)
        return ColumnRoles(
            id=self.id,
            image=None if self.image in drop else self.image,
            text=[c for c in self.text if c not in drop],
            categorical=[c for c in self.categorical if c not in drop],
            numeric=[c for c in self.numeric if c not in drop],
            split=self.split,
        )


def infer_roles(
    df: pd.DataFrame,
    given: ColumnRoles | dict[str, Any] | None = None,
    exclude: Iterable[str] = (),
) -> ColumnRoles:
    """Infer column roles from names and values; roles in ``given`` always win.

    With a dict, every key present is taken as given (``{"image": None}`` means "no image").
    With a :class:`ColumnRoles`, fields left at None / empty are inferred.
    Columns in ``exclude`` (e.g. label columns) get no role from inference.
    Inference does not check that given columns exist; the caller does.
    """
    explicit = _explicit(given)
    taken = {c for role, v in explicit.items() for c in _as_list(v)}
    free = [str(c) for c in df.columns if str(c) not in taken and str(c) not in set(exclude)]
    out: dict[str, Any] = dict(explicit)

    if "id" not in out:
        out["id"] = _infer_id(df, free)
        _take(free, out["id"])
    if "split" not in out:
        out["split"] = next((c for c in free if c.lower() == SPLIT_NAME), None)
        _take(free, out["split"])
    if "image" not in out:
        out["image"] = _infer_image(df, free)
        _take(free, out["image"])

    inferred: dict[str, list[str]] = {"text": [], "categorical": [], "numeric": []}
    for col in free:
        kind = _classify(df[col])
        if kind is not None:
            inferred[kind].append(col)
    for kind, cols in inferred.items():
        if kind not in out:
            out[kind] = cols
    return ColumnRoles.from_dict(out)


def _explicit(given: ColumnRoles | dict[str, Any] | None) -> dict[str, Any]:
    if given is None:
        return {}
    if isinstance(given, ColumnRoles):
        return {k: v for k, v in given.to_dict().items() if v not in (None, [])}
    if isinstance(given, dict):
        return _checked_dict(given)
    raise ConfigError(f"roles must be a ColumnRoles or a dict, got {type(given).__name__}")


def _checked_dict(given: dict[str, Any]) -> dict[str, Any]:
    ColumnRoles.from_dict(given)  # validates keys, types and clashes
    return {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in given.items()}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _take(free: list[str], column: str | None) -> None:
    if column is not None and column in free:
        free.remove(column)


def _strings(series: pd.Series) -> pd.Series:
    """Non-missing values as stripped strings, empty strings dropped."""
    values = series.dropna()
    values = values.map(lambda v: str(v).strip())
    return values[values != ""]


def _infer_id(df: pd.DataFrame, free: list[str]) -> str | None:
    for col in free:
        if col.lower() in ID_NAMES:
            return col
    if not free or free[0] != str(df.columns[0]):
        return None
    first = df[free[0]]
    values = _strings(first)
    if len(values) == 0 or len(values) != len(first) or not values.is_unique:
        return None
    single_token = values.map(lambda s: len(s.split()) == 1).all()
    return free[0] if single_token else None


def _looks_like_image(values: pd.Series) -> bool:
    if len(values) == 0:
        return False
    hits = values.map(lambda s: s.lower().endswith(IMAGE_SUFFIXES)).mean()
    return bool(hits >= 0.5)


def _infer_image(df: pd.DataFrame, free: list[str]) -> str | None:
    by_value = [c for c in free if _looks_like_image(_strings(df[c]))]
    named = [c for c in free if any(h in c.lower() for h in IMAGE_NAME_HINTS)]
    for col in by_value:
        if col in named:
            return col
    if by_value:
        return by_value[0]
    for col in named:
        values = _strings(df[col])
        if len(values) and _numeric_share(values) < 0.5 and not _is_boolish(values):
            return col
    return None


def _to_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _numeric_share(values: pd.Series) -> float:
    if len(values) == 0:
        return 0.0
    return float(values.map(lambda s: _to_number(s) is not None).mean())


def _is_boolish(values: pd.Series) -> bool:
    return bool(len(values)) and bool(values.map(lambda s: s.lower() in _BOOL_WORDS).all())


def _classify(series: pd.Series) -> str | None:
    """'text', 'categorical', 'numeric' or None (column entirely empty)."""
    if pd.api.types.is_bool_dtype(series):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series):
        values = series.dropna()
        if len(values) == 0:
            return None
        is_int = bool((values == values.round()).all())
        return "categorical" if is_int and values.nunique() <= MAX_CATEGORICAL_INTS else "numeric"
    values = _strings(series)
    if len(values) == 0:
        return None
    if _is_boolish(values):
        return "categorical"
    if _numeric_share(values) >= 0.9:
        numbers = values.map(_to_number).dropna()
        is_int = bool((numbers == numbers.round()).all())
        few = numbers.nunique() <= MAX_CATEGORICAL_INTS
        return "categorical" if is_int and few and len(numbers) == len(values) else "numeric"
    if _is_text(values):
        return "text"
    return "categorical"


def _is_text(values: pd.Series) -> bool:
    if values.map(lambda s: len(s.split())).mean() >= 3:
        return True
    if values.nunique() / len(values) > 0.5:
        return True
    cjk = values.map(lambda s: bool(_CJK.search(s))).mean() >= 0.5
    return bool(cjk and values.map(len).mean() >= 6)
