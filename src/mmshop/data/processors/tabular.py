"""Categorical vocabularies and numeric standardisation for attribute columns."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from mmshop.errors import ConfigError, DataError


def normalize_category(value: Any) -> str | None:
    """A categorical cell as a stripped string, or None when missing.

    Integral floats print without ``.0`` so ``2012`` and ``2012.0`` are the same category.
    """
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if math.isfinite(value) and float(value).is_integer():
            return str(int(value))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # array-like cells
        pass
    text = str(value).strip()
    return text or None


def tabular_mask(cat: np.ndarray, num: np.ndarray) -> np.ndarray:
    """bool [N]: True where a row has at least one known categorical or present numeric value."""
    known = (cat != 0).any(axis=1) if cat.shape[1] else np.zeros(len(cat), dtype=bool)
    present = (num[:, 1::2] == 0).any(axis=1) if num.shape[1] else np.zeros(len(num), dtype=bool)
    return known | present


def _column(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        raise DataError(f"column '{col}' is missing from the table (columns: {list(df.columns)})")
    return df[col]


class TabularProcessor:
    """Maps categorical columns to ids (0 = unknown/missing) and standardises numeric columns.

    ``transform`` gives ``cat int64 [N, C]`` and ``num float32 [N, 2K]`` with, per numeric
    column, the standardised value (0 when missing, clipped to +-``clip``) then a missing flag.
    State: :meth:`to_dict` / :meth:`from_dict`.
    """

    def __init__(self, categorical: list[str], numeric: list[str], clip: float = 10.0) -> None:
        overlap = set(categorical) & set(numeric)
        if overlap:
            raise ConfigError(f"columns {sorted(overlap)} are both categorical and numeric")
        self.categorical = list(categorical)
        self.numeric = list(numeric)
        self.clip = float(clip)
        self.vocab: dict[str, list[str]] = {}
        self.mean: dict[str, float] = {}
        self.std: dict[str, float] = {}
        self._index: dict[str, dict[str, int]] = {}

    @property
    def fitted(self) -> bool:
        return set(self.vocab) == set(self.categorical) and set(self.mean) == set(self.numeric)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ConfigError("TabularProcessor is not fitted; call fit() first")

    def _build_index(self) -> None:
        self._index = {c: {v: i + 1 for i, v in enumerate(vs)} for c, vs in self.vocab.items()}

    def fit(self, df: pd.DataFrame) -> TabularProcessor:
        """Learn vocabularies (by frequency, ties by value) and numeric mean/std."""
        for col in self.categorical:
            counts = Counter(
                v for v in map(normalize_category, _column(df, col).tolist()) if v is not None
            )
            self.vocab[col] = [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        for col in self.numeric:
            values = self._numeric(df, col)
            present = values[np.isfinite(values)]
            mean = float(present.mean()) if present.size else 0.0
            std = float(present.std()) if present.size else 1.0
            self.mean[col] = mean
            self.std[col] = std if std > 0 and math.isfinite(std) else 1.0
        self._build_index()
        return self

    @staticmethod
    def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
        series = _column(df, col)
        if series.dtype == bool:
            series = series.astype(float)
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    def transform(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(cat int64 [N,C], num float32 [N,2K])``; unseen categories map to 0."""
        self._check_fitted()
        n = len(df)
        cat = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, col in enumerate(self.categorical):
            index = self._index[col]
            values = map(normalize_category, _column(df, col).tolist())
            cat[:, j] = np.fromiter((index.get(v, 0) for v in values), dtype=np.int64, count=n)
        num = np.zeros((n, 2 * len(self.numeric)), dtype=np.float32)
        for k, col in enumerate(self.numeric):
            values = self._numeric(df, col)
            missing = ~np.isfinite(values)
            z = (np.where(missing, self.mean[col], values) - self.mean[col]) / self.std[col]
            num[:, 2 * k] = np.clip(z, -self.clip, self.clip)
            num[:, 2 * k + 1] = missing
        return cat, num

    def unseen(self, df: pd.DataFrame) -> list[tuple[int, str, str]]:
        """``(row position, column, value)`` for categorical values not in the vocabulary."""
        self._check_fitted()
        out: list[tuple[int, str, str]] = []
        for col in self.categorical:
            index = self._index[col]
            for i, v in enumerate(map(normalize_category, _column(df, col).tolist())):
                if v is not None and v not in index:
                    out.append((i, col, v))
        out.sort(key=lambda t: t[0])
        return out

    @property
    def cardinalities(self) -> list[int]:
        """Embedding sizes per categorical column (vocabulary + 1 for unknown)."""
        self._check_fitted()
        return [len(self.vocab[c]) + 1 for c in self.categorical]

    @property
    def num_features(self) -> int:
        """Width of the numeric block (2 per numeric column)."""
        return 2 * len(self.numeric)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
            "clip": self.clip,
            "vocab": {c: list(self.vocab[c]) for c in self.categorical},
            "mean": {c: self.mean[c] for c in self.numeric},
            "std": {c: self.std[c] for c in self.numeric},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabularProcessor:
        try:
            proc = cls(list(d["categorical"]), list(d["numeric"]), float(d.get("clip", 10.0)))
            proc.vocab = {c: [str(v) for v in d["vocab"][c]] for c in proc.categorical}
            proc.mean = {c: float(d["mean"][c]) for c in proc.numeric}
            proc.std = {c: float(d["std"][c]) for c in proc.numeric}
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid TabularProcessor state: {exc!r}") from exc
        proc._build_index()
        return proc

    def cache_state(self) -> dict[str, Any]:
        return self.to_dict()
