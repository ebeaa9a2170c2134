"""Target label columns <-> class ids (-100 = no label)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmshop.data.processors.tabular import normalize_category
from mmshop.errors import ConfigError, DataError

IGNORE_INDEX = -100


def _column(df: pd.DataFrame, label: str) -> list[str | None]:
    if label not in df.columns:
        raise DataError(f"label column '{label}' is missing from the table")
    return [normalize_category(v) for v in df[label].tolist()]


class LabelEncoder:
    """Per label column, classes sorted as strings; ids index into that list.

    State: :meth:`to_dict` / :meth:`from_dict`.
    """

    def __init__(self, classes: dict[str, list[str]] | None = None) -> None:
        self._set(classes or {})

    def _set(self, classes: dict[str, list[str]]) -> None:
        self.classes: dict[str, list[str]] = {k: list(v) for k, v in classes.items()}
        self._index = {k: {c: i for i, c in enumerate(v)} for k, v in self.classes.items()}

    def fit(self, df: pd.DataFrame, labels: list[str]) -> LabelEncoder:
        """Learn the classes of each label column (missing values ignored)."""
        classes = {}
        for label in labels:
            classes[label] = sorted({v for v in _column(df, label) if v is not None})
        self._set(classes)
        return self

    @property
    def labels(self) -> list[str]:
        return list(self.classes)

    def _classes(self, label: str) -> list[str]:
        if label not in self.classes:
            raise ConfigError(f"unknown label '{label}'; known labels: {self.labels}")
        return self.classes[label]

    def num_classes(self, label: str) -> int:
        return len(self._classes(label))

    def transform(
        self, df: pd.DataFrame, strict: bool = False, row_ids: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """``{label: int64 [N]}``; -100 where missing or (non-strict) unseen in training.

        With ``strict`` an unseen value raises DataError naming the row (``row_ids`` if given).
        """
        out: dict[str, np.ndarray] = {}
        for label in self.labels:
            index = self._index[label]
            values = _column(df, label)
            ids = np.full(len(values), IGNORE_INDEX, dtype=np.int64)
            for i, v in enumerate(values):
                if v is None:
                    continue
                cid = index.get(v)
                if cid is None:
                    if strict:
                        row = f"row id '{row_ids[i]}'" if row_ids is not None else f"row {i}"
                        raise DataError(
                            f"{row}: label '{label}' has value '{v}' not seen in training "
                            f"(known: {self.classes[label][:10]}...)"
                        )
                    continue
                ids[i] = cid
            out[label] = ids
        return out

    def inverse(self, label: str, ids: np.ndarray | Sequence[int]) -> list[str]:
        """Class names for ids; -100 becomes ``""``."""
        classes = self._classes(label)
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == IGNORE_INDEX:
                out.append("")
            elif 0 <= i < len(classes):
                out.append(classes[i])
            else:
                raise DataError(f"class id {i} out of range for label '{label}'")
        return out

    def class_counts(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """``{label: int64 [num_classes]}`` counts of each known class in ``df``."""
        counts = {}
        for label, ids in self.transform(df).items():
            valid = ids[ids != IGNORE_INDEX]
            counts[label] = np.bincount(valid, minlength=self.num_classes(label)).astype(np.int64)
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"classes": {k: list(v) for k, v in self.classes.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelEncoder:
        try:
            return cls({str(k): [str(c) for c in v] for k, v in d["classes"].items()})
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"invalid LabelEncoder state: {exc!r}") from exc
