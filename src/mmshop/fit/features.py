"""Feature preparation for the fit model: id vocabularies, size values, body features, batches."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from mmshop.data.processors.tabular import TabularProcessor
from mmshop.errors import ConfigError
from mmshop.fit.records import BODY_NUMERIC

#: Letter sizes in order; other labels are read as numbers (US dress sizes, RTR size codes).
LETTER_SIZES = ["XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL"]
BODY_CATEGORICAL = ["category", "body_type"]
HISTORY_KEYS = ["user_id", "item_id"]
DERIVED_NUMERIC = [
    "bmi",
    *(
        f"{key}_{stat}"
        for key in HISTORY_KEYS
        for stat in ("size_gap", "log_rows", "small_rate", "large_rate")
    ),
]
RATE_FOLDS = 5
RATE_PRIOR_ROWS = 5.0


def size_value(label: Any) -> float:
    """A size label as a number on one scale: ``"8"`` -> 8.0, ``"M"`` -> 3.0; NaN if neither."""
    text = str(label).strip()
    upper = text.upper()
    if upper in LETTER_SIZES:
        return float(LETTER_SIZES.index(upper))
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def with_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """Add derived body features (BMI when height and weight are both known)."""
    out = frame.copy()
    for col in BODY_NUMERIC:
        if col not in out.columns:
            out[col] = np.nan
    for col in BODY_CATEGORICAL:
        if col not in out.columns:
            out[col] = None
    height_m = pd.to_numeric(out["height_cm"], errors="coerce") / 100.0
    out["bmi"] = pd.to_numeric(out["weight_kg"], errors="coerce") / (height_m**2)
    return out


class SizeHistory:
    """Per customer (or item): sum and count of the numeric sizes seen in training.

    Gives two features per row: the size minus the customer's (item's) usual size, and
    log(1 + rows seen). For training rows the row itself is left out, so the features mean the
    same thing in training as for a new review (no label is used, so nothing leaks).
    """

    def __init__(self, stats: dict[str, list[float]]) -> None:
        self.stats = stats

    @classmethod
    def fit(cls, keys: pd.Series, sizes: np.ndarray) -> SizeHistory:
        frame = pd.DataFrame({"key": keys.astype(str).to_numpy(), "size": sizes})
        frame = frame[np.isfinite(frame["size"])]
        grouped = frame.groupby("key")["size"].agg(["sum", "count"])
        pairs = zip(grouped["sum"].tolist(), grouped["count"].tolist(), strict=True)
        return cls(
            {str(k): [float(a), float(b)] for k, (a, b) in zip(grouped.index, pairs, strict=True)}
        )

    def features(
        self, keys: pd.Series, sizes: np.ndarray, leave_out: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        found = [self.stats.get(str(k), (0.0, 0.0)) for k in keys.tolist()]
        total = np.array([f[0] for f in found], dtype=np.float64)
        count = np.array([f[1] for f in found], dtype=np.float64)
        if leave_out:
            own = np.isfinite(sizes) & (count > 0)
            total = total - np.where(own, sizes, 0.0)
            count = count - own
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return sizes - mean, np.log1p(count)


class FitRates:
    """Per customer (or item): how often "small" and "large" were reported in training.

    Rates are smoothed towards the overall rates with ``RATE_PRIOR_ROWS`` pseudo-rows. For the
    training rows they are computed out of fold (``RATE_FOLDS`` folds by row position hash), so
    a row's own label never feeds its feature.
    """

    def __init__(self, counts: dict[str, list[float]], prior: list[float]) -> None:
        self.counts = counts  # id -> [rows, small, large]
        self.prior = prior  # overall [small rate, large rate]

    @staticmethod
    def _table(keys: pd.Series, fit: pd.Series) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "key": keys.astype(str).to_numpy(),
                "rows": 1.0,
                "small": (fit == "small").to_numpy(dtype=float),
                "large": (fit == "large").to_numpy(dtype=float),
            }
        )

    @classmethod
    def fit(cls, keys: pd.Series, fit: pd.Series) -> FitRates:
        table = cls._table(keys, fit)
        grouped = table.groupby("key")[["rows", "small", "large"]].sum()
        counts = {str(k): [float(a), float(b), float(c)]
                  for k, a, b, c in zip(grouped.index, grouped["rows"], grouped["small"],
                                        grouped["large"], strict=True)}  # fmt: skip
        prior = [float(table["small"].mean()), float(table["large"].mean())]
        return cls(counts, prior)

    def _rates(self, rows: np.ndarray, small: np.ndarray, large: np.ndarray) -> np.ndarray:
        m = RATE_PRIOR_ROWS
        return np.stack(
            [(small + m * self.prior[0]) / (rows + m), (large + m * self.prior[1]) / (rows + m)],
            axis=1,
        )

    def features(self, keys: pd.Series, fit: pd.Series | None, training: bool) -> np.ndarray:
        """``[N, 2]`` small and large rates; out of fold when ``training`` (needs ``fit``)."""
        found = np.array(
            [self.counts.get(str(k), (0.0, 0.0, 0.0)) for k in keys.tolist()], dtype=np.float64
        ).reshape(-1, 3)
        if training and fit is not None and len(keys):
            table = self._table(keys, fit)
            table["fold"] = np.arange(len(table)) % RATE_FOLDS
            own = table.groupby(["key", "fold"])[["rows", "small", "large"]].transform("sum")
            found = found - own.to_numpy(dtype=np.float64)
        return self._rates(found[:, 0], found[:, 1], found[:, 2])


class IdVocab:
    """Maps ids seen at least ``min_count`` times to 1..n; everything else is 0 (new)."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = list(ids)
        self.index = {v: i + 1 for i, v in enumerate(self.ids)}

    @classmethod
    def fit(cls, values: pd.Series, min_count: int = 1) -> IdVocab:
        counts = Counter(str(v) for v in values.tolist())
        kept = sorted(v for v, c in counts.items() if c >= min_count)
        return cls(kept)

    def __len__(self) -> int:
        return len(self.ids) + 1

    def __contains__(self, value: object) -> bool:
        return str(value) in self.index

    def encode(self, values: pd.Series | list[Any]) -> np.ndarray:
        items = values.tolist() if isinstance(values, pd.Series) else list(values)
        return np.fromiter((self.index.get(str(v), 0) for v in items), np.int64, len(items))


class FitFeatures:
    """Fitted state turning a canonical fit frame into model arrays (saved as JSON)."""

    def __init__(
        self,
        users: IdVocab,
        items: IdVocab,
        tabular: TabularProcessor,
        size_mean: float,
        size_std: float,
        history: dict[str, SizeHistory],
        rates: dict[str, FitRates],
    ) -> None:
        self.users = users
        self.items = items
        self.tabular = tabular
        self.size_mean = size_mean
        self.size_std = size_std
        self.history = history
        self.rates = rates

    @classmethod
    def fit(cls, frame: pd.DataFrame, min_user_rows: int, min_item_rows: int) -> FitFeatures:
        sizes = np.array([size_value(s) for s in frame["size"]], dtype=np.float64)
        known = sizes[np.isfinite(sizes)]
        if known.size == 0:
            raise ConfigError("size: no size label can be read as a number or a letter size")
        history = {key: SizeHistory.fit(frame[key], sizes) for key in HISTORY_KEYS}
        rates = {key: FitRates.fit(frame[key], frame["fit"]) for key in HISTORY_KEYS}
        tabular = TabularProcessor(BODY_CATEGORICAL, [*BODY_NUMERIC, *DERIVED_NUMERIC])
        out = cls(
            IdVocab.fit(frame["user_id"], min_user_rows),
            IdVocab.fit(frame["item_id"], min_item_rows),
            tabular,
            float(known.mean()),
            float(known.std()) or 1.0,
            history,
            rates,
        )
        tabular.fit(out._derived(frame, training=True))
        return out

    def _derived(self, frame: pd.DataFrame, training: bool) -> pd.DataFrame:
        derived = with_derived(frame)
        if "user_id" not in derived.columns:
            derived["user_id"] = None
        derived["user_id"] = derived["user_id"].where(derived["user_id"].notna(), "")
        sizes = np.array([size_value(s) for s in derived["size"]], dtype=np.float64)
        for key in HISTORY_KEYS:
            gap, rows = self.history[key].features(derived[key], sizes, leave_out=training)
            derived[f"{key}_size_gap"] = gap
            derived[f"{key}_log_rows"] = rows
            fit = derived["fit"] if training and "fit" in derived.columns else None
            rate = self.rates[key].features(derived[key], fit, training)
            derived[f"{key}_small_rate"] = rate[:, 0]
            derived[f"{key}_large_rate"] = rate[:, 1]
        return derived

    def size_z(self, labels: pd.Series | list[Any]) -> np.ndarray:
        values = np.array([size_value(s) for s in labels], dtype=np.float64)
        z = (values - self.size_mean) / self.size_std
        return np.nan_to_num(z, nan=0.0).astype(np.float32)

    def transform(self, frame: pd.DataFrame, training: bool = False) -> dict[str, np.ndarray]:
        """Arrays: ``user``, ``item`` (0 = new), ``tabular_cat``, ``tabular_num``, ``size``.

        ``training=True`` for the rows the model was fitted on (history features leave the
        row itself out)."""
        derived = self._derived(frame, training)
        cat, num = self.tabular.transform(derived)
        return {
            "user": self.users.encode(derived["user_id"]),
            "item": self.items.encode(derived["item_id"]),
            "tabular_cat": cat,
            "tabular_num": num,
            "size": self.size_z(derived["size"]),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users.ids,
            "items": self.items.ids,
            "tabular": self.tabular.to_dict(),
            "size_mean": self.size_mean,
            "size_std": self.size_std,
            "history": {k: h.stats for k, h in self.history.items()},
            "rates": {k: {"counts": r.counts, "prior": r.prior} for k, r in self.rates.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitFeatures:
        return cls(
            IdVocab([str(v) for v in d["users"]]),
            IdVocab([str(v) for v in d["items"]]),
            TabularProcessor.from_dict(d["tabular"]),
            float(d["size_mean"]),
            float(d["size_std"]),
            {
                k: SizeHistory({str(i): list(v) for i, v in h.items()})
                for k, h in d["history"].items()
            },
            {
                k: FitRates({str(i): list(v) for i, v in r["counts"].items()}, list(r["prior"]))
                for k, r in d["rates"].items()
            },
        )


class ArrayBatches:
    """Batches of ``dict[str, Tensor]`` from equal-length arrays; labels go under ``labels``.

    The shuffle order depends only on ``(seed, epoch)`` (call :meth:`set_epoch`).
    """

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        labels: dict[str, np.ndarray] | None,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
    ) -> None:
        lengths = {len(v) for v in arrays.values()} | {len(v) for v in (labels or {}).values()}
        if len(lengths) != 1:
            raise ConfigError(f"arrays have different lengths: {sorted(lengths)}")
        self.n = lengths.pop()
        self.arrays = arrays
        self.labels = labels or {}
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(self.n)
        else:
            order = np.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            idx = order[start : start + self.batch_size]
            batch: dict[str, Any] = {k: torch.from_numpy(v[idx]) for k, v in self.arrays.items()}
            if self.labels:
                batch["labels"] = {k: torch.from_numpy(v[idx]) for k, v in self.labels.items()}
            yield batch
