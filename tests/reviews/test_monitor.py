"""Opinion monitoring: aggregates per group and period, negative-share jump alerts."""

from __future__ import annotations

import pandas as pd
import pytest

from mmshop.errors import DataError
from mmshop.reviews import negative_share_alerts, sentiment_aggregates


def _predictions() -> pd.DataFrame:
    """Product A: 10% negative in week 1, 60% in week 2; product B: flat 10%."""
    rows = []
    for product, shares in (("A", (0.1, 0.6)), ("B", (0.1, 0.1))):
        for week, share in enumerate(shares):
            for k in range(40):
                label = "negative" if k < share * 40 else ("neutral" if k % 5 == 0 else "positive")
                rows.append(
                    {"product": product, "date": f"2026-03-{2 + 7 * week + k % 5:02d}",
                     "sentiment": label, "category": "dress"}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_weekly_aggregates_and_alert() -> None:
    agg = sentiment_aggregates(_predictions(), "product", "date", freq="W")
    assert list(agg.columns[:3]) == ["product", "period", "n"]
    assert agg["n"].tolist() == [40, 40, 40, 40]
    a = agg[agg["product"] == "A"]["negative_share"].tolist()
    assert a == [0.1, 0.6]
    alerts = negative_share_alerts(agg, "product", min_reviews=20, min_jump=0.2)
    assert alerts["product"].tolist() == ["A"]
    row = alerts.iloc[0]
    assert row["previous_share"] == 0.1 and row["negative_share"] == 0.6
    assert row["jump"] == pytest.approx(0.5) and row["z"] > 4


def test_thresholds_suppress_alerts() -> None:
    agg = sentiment_aggregates(_predictions(), "product", "date", freq="W")
    assert negative_share_alerts(agg, "product", min_reviews=41).empty
    assert negative_share_alerts(agg, "product", min_jump=0.6).empty
    assert negative_share_alerts(agg, "product", z_threshold=10).empty


def test_blocks_without_dates_and_category_level() -> None:
    frame = _predictions()
    agg = sentiment_aggregates(frame, "category", None, window=40)
    assert agg["period"].tolist() == ["reviews 1-40", "reviews 41-80", "reviews 81-120",
                                      "reviews 121-160"]  # fmt: skip
    alerts = negative_share_alerts(agg, "category", min_jump=0.3)
    assert alerts["period"].tolist() == ["reviews 41-80"]
    overall = sentiment_aggregates(frame, None, "date", freq="M")
    assert overall["n"].tolist() == [160]


def test_no_negative_class_no_alert_and_bad_inputs() -> None:
    frame = _predictions()
    frame["sentiment"] = "positive"
    agg = sentiment_aggregates(frame, "product", "date")
    assert "negative_share" not in agg and negative_share_alerts(agg, "product").empty
    bad = _predictions()
    bad.loc[3, "date"] = "not a date"
    with pytest.raises(DataError, match="row 4: time column 'date' value 'not a date'"):
        sentiment_aggregates(bad, "product", "date")
    with pytest.raises(DataError, match=r"group column\(s\) \['shop'\] missing"):
        sentiment_aggregates(frame, "shop", "date")
