"""Opinion monitoring: sentiment shares per product / category over time, and alerts when the
negative share jumps from one period to the next (a two-proportion z-test)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mmshop.errors import ConfigError, DataError
from mmshop.reviews.config import NEGATIVE

PERIOD = "period"
ALERT_COLUMNS = ["period", "n", "negative_share", "previous_period", "previous_n",
                 "previous_share", "jump", "z"]  # fmt: skip


def _by(by: str | Sequence[str] | None, frame: pd.DataFrame) -> list[str]:
    columns = [by] if isinstance(by, str) else list(by or [])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"group column(s) {missing} missing; columns: {list(frame.columns)}")
    return columns


def _periods(
    frame: pd.DataFrame, by: list[str], time_column: str | None, freq: str, window: int
) -> pd.Series:
    """A sortable period key per row: calendar periods of ``time_column`` or, without one,
    consecutive blocks of ``window`` reviews per group in row order."""
    if time_column is None:
        if window < 1:
            raise ConfigError(f"window must be >= 1 review, got {window}")
        if by:
            position = frame.groupby(by, sort=False, dropna=False).cumcount()
        else:
            position = pd.Series(np.arange(len(frame)), index=frame.index)
        return (position // window).map(lambda b: f"reviews {b * window + 1}-{(b + 1) * window}")
    if time_column not in frame.columns:
        raise DataError(f"time column '{time_column}' missing; columns: {list(frame.columns)}")
    times = pd.to_datetime(frame[time_column], errors="coerce", utc=True)
    bad = np.flatnonzero(times.isna().to_numpy())
    if len(bad):
        k = int(bad[0])
        raise DataError(
            f"row {k + 1}: time column '{time_column}' value {frame[time_column].iat[k]!r} is "
            f"not a date ({len(bad)} row(s) like this)"
        )
    try:
        return times.dt.tz_localize(None).dt.to_period(freq).astype(str)
    except ValueError as exc:
        raise ConfigError(f"freq {freq!r} is not a pandas period frequency: {exc}") from exc


def sentiment_aggregates(
    predictions: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    time_column: str | None = None,
    *,
    freq: str = "W",
    window: int = 100,
    label: str = "sentiment",
) -> pd.DataFrame:
    """Per group and period: ``n`` reviews and the share of each sentiment class.

    ``predictions`` holds one row per review with the ``label`` column (e.g. from
    :meth:`SentimentModel.predict`) and the ``by`` / ``time_column`` columns. Rows without a
    label (unscorable reviews) are not counted.
    """
    columns = _by(by, predictions)
    if label not in predictions.columns:
        raise DataError(f"predictions have no '{label}' column")
    frame = predictions[predictions[label].notna()].reset_index(drop=True)
    if frame.empty:
        raise DataError("no scored review to aggregate")
    frame = frame.assign(**{PERIOD: _periods(frame, columns, time_column, freq, window)})
    order = list(dict.fromkeys(frame[PERIOD]))  # blocks keep row order
    keys = [*columns, PERIOD]
    counts = pd.crosstab([frame[k] for k in keys], frame[label])
    shares = counts.div(counts.sum(axis=1), axis=0)
    out = pd.DataFrame({"n": counts.sum(axis=1)})
    for cls in counts.columns:
        out[f"{cls}_share"] = shares[cls].round(4)
    out = out.reset_index()
    if time_column is None:
        rank = {
            p: i for i, p in enumerate(sorted(order, key=lambda s: int(s.split()[1].split("-")[0])))
        }
        out = out.assign(_o=out[PERIOD].map(rank)).sort_values([*columns, "_o"]).drop(columns="_o")
    else:
        out = out.sort_values(keys)
    return out.reset_index(drop=True)


def negative_share_alerts(
    aggregates: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    negative: str = NEGATIVE,
    min_reviews: int = 20,
    min_jump: float = 0.10,
    z_threshold: float = 2.0,
) -> pd.DataFrame:
    """Periods whose negative share rose from the group's previous period by at least
    ``min_jump`` (absolute) with a two-proportion z-score of at least ``z_threshold``; both
    periods need ``min_reviews`` reviews. One row per alert, largest jumps first."""
    columns = _by(by, aggregates)
    share = f"{negative}_share"
    if min_reviews < 1 or not 0 <= min_jump <= 1:
        raise ConfigError("min_reviews must be >= 1 and min_jump in [0, 1]")
    rows: list[dict[str, Any]] = []
    if share not in aggregates.columns:  # no review predicted negative at all
        return pd.DataFrame(columns=[*columns, *ALERT_COLUMNS])
    groups = (
        aggregates.groupby(columns, sort=False, dropna=False) if columns else [((), aggregates)]
    )
    for key, group in groups:
        group = group.reset_index(drop=True)
        for i in range(1, len(group)):
            prev, cur = group.iloc[i - 1], group.iloc[i]
            n1, n2 = int(prev["n"]), int(cur["n"])
            p1, p2 = float(prev[share]), float(cur[share])
            if n1 < min_reviews or n2 < min_reviews or p2 - p1 < min_jump:
                continue
            pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
            se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
            z = (p2 - p1) / se if se > 0 else math.inf
            if z < z_threshold:
                continue
            values = key if isinstance(key, tuple) else (key,)
            rows.append(
                {
                    **dict(zip(columns, values, strict=True)),
                    "period": cur[PERIOD],
                    "n": n2,
                    "negative_share": round(p2, 4),
                    "previous_period": prev[PERIOD],
                    "previous_n": n1,
                    "previous_share": round(p1, 4),
                    "jump": round(p2 - p1, 4),
                    "z": round(z, 2) if math.isfinite(z) else z,
                }
            )
    out = pd.DataFrame(rows, columns=[*columns, *ALERT_COLUMNS])
    return out.sort_values("jump", ascending=False).reset_index(drop=True)


@dataclass
class MonitorReport:
    """Aggregates per group and period, and the negative-share jump alerts."""

    aggregates: pd.DataFrame
    alerts: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready lists of records."""

        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                for r in df.to_dict(orient="records")
            ]

        return {"aggregates": records(self.aggregates), "alerts": records(self.alerts)}
