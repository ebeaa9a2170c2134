"""Parsing raw body measurements and rejecting impossible values, naming the field."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmshop.errors import DataError
from mmshop.fit.measurements import (
    CUPS,
    BodyProfile,
    parse_bust_size,
    parse_cup,
    parse_length,
    parse_weight,
)
from mmshop.fit.records import from_clean_table, load_fit_table, read_raw_records


@pytest.mark.parametrize(
    ("raw", "cm"),
    [
        ("5' 8\"", 172.72),
        ("5'8", 172.72),
        ("5ft 6in", 167.64),
        ("4ft 11in", 149.86),
        ("6'", 182.88),
        ("170cm", 170.0),
        ("1.7m", 170.0),
        ("68in", 172.72),
        (170, 170.0),
    ],
)
def test_height_formats(raw, cm):
    assert parse_length("height_cm", raw) == pytest.approx(cm)


def test_weight_and_bust_formats():
    assert parse_weight("137lbs") == pytest.approx(62.142, abs=1e-3)
    assert parse_weight("62kg") == 62.0
    assert parse_weight("137", default_unit="lbs") == pytest.approx(62.142, abs=1e-3)
    assert parse_bust_size("34d") == (34.0, float(CUPS.index("d")))
    assert parse_bust_size("32d+") == (32.0, float(CUPS.index("dd")))
    assert parse_bust_size("36") == (36.0, None)
    assert parse_cup("dd/e") == float(CUPS.index("dd"))
    assert parse_cup("AA") == 0.0


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"height": "20m"}, "height_cm"),
        ({"height_cm": 2000}, "height_cm"),
        ({"weight": "-60kg"}, "weight_kg"),
        ({"age": 300}, "age"),
        ({"age": "old"}, "age"),
        ({"bust size": "99z"}, "bust_band"),
        ({"cup size": "zz"}, "cup"),
        ({"height": "5ft 14in"}, "height_cm"),
        ({"weight": "60 stone"}, "weight_kg"),
    ],
)
def test_impossible_or_unreadable_values_name_the_field(record, field):
    with pytest.raises(DataError, match=rf"^{field}:"):
        BodyProfile.from_raw(record)


def test_direct_profile_checks_ranges_and_types():
    with pytest.raises(DataError, match="weight_kg"):
        BodyProfile(weight_kg=-3)
    with pytest.raises(DataError, match="height_cm"):
        BodyProfile(height_cm=2000)
    with pytest.raises(DataError, match="body_type"):
        BodyProfile(body_type=3)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="unknown measurement field"):
        BodyProfile.from_raw({"shoe": "9"})


def test_missing_values_are_fine():
    p = BodyProfile.from_raw({"height": "5' 5\"", "weight": None, "age": "", "body type": "Pear"})
    assert p.height_cm == pytest.approx(165.1)
    assert p.weight_kg is None and p.age is None
    assert p.body_type == "pear"
    assert p.given == ["height_cm", "body_type"]
    assert BodyProfile().given == []


RAW_LINES = [
    {"fit": "fit", "user_id": "1", "item_id": "10", "size": 8, "bust size": "34d",
     "weight": "137lbs", "height": "5' 8\"", "age": "28", "body type": "hourglass",
     "category": "dress", "review_date": "April 20, 2016"},
    {"fit": "small", "user_id": "2", "item_id": "10", "size": 4, "height": "5ft 2in",
     "waist": "29", "hips": "38.0", "bra size": "36", "cup size": "dd/e", "category": "new"},
    {"fit": "large", "user_id": "3", "item_id": "11", "size": 12, "age": "300"},
    {"fit": "snug", "user_id": "4", "item_id": "11", "size": 12},
    {"fit": "fit", "user_id": "5", "size": 12},
]  # fmt: skip


def test_read_raw_jsonl_parses_and_reports(tmp_path):
    path = tmp_path / "raw.jsonl"
    lines = [json.dumps(r) for r in RAW_LINES] + ["{not json", "", "[1, 2]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame, report = load_fit_table(path)
    assert list(frame["user_id"]) == ["1", "2", "3"]
    first = frame.iloc[0]
    assert first["height_cm"] == pytest.approx(172.72)
    assert first["weight_kg"] == pytest.approx(62.142, abs=1e-3)
    assert (first["bust_band"], first["cup"]) == (34.0, float(CUPS.index("d")))
    assert first["review_date"] == pd.Timestamp("2016-04-20")
    second = frame.iloc[1]
    assert second["waist_cm"] == pytest.approx(73.66)
    assert second["hips_cm"] == pytest.approx(96.52)
    assert second["cup"] == float(CUPS.index("dd"))
    assert np.isnan(frame.iloc[2]["age"])  # impossible value blanked, row kept
    assert report.blanked == [{"row": 3, "field": "age", "reason": report.blanked[0]["reason"]}]
    assert "300" in report.blanked[0]["reason"]
    reasons = {(q["row"], q["field"]) for q in report.quarantined}
    assert reasons == {(4, "fit"), (5, "item_id"), (6, None), (8, None)}
    _, from_dicts = read_raw_records([RAW_LINES[0], "oops"])
    assert from_dicts.quarantined[0]["row"] == 2
    assert report.rows_in == 7 and report.rows_out == 3
    assert "3/7 rows kept" in report.summary()


def test_clean_table_converts_units_and_blanks_impossible():
    df = pd.DataFrame(
        {
            "fit": ["fit", "small", "large", None],
            "user_id": [1, 2, 3, 4],
            "item_id": [7, 7, 8, 8],
            "size": [4, 8, 12, 12],
            "weight_lbs": [137.0, np.nan, 150.0, 120.0],
            "height_in": [68.0, 64.0, 900.0, 60.0],
            "bust_size_num": [34.0, 36.0, np.nan, 32.0],
            "bust_size_letter": ["d", "b", None, "a"],
            "age": [28.0, 0.0, 40.0, 30.0],
            "body_type": ["hourglass", None, "pear", "apple"],
            "category": ["dress", "gown", "dress", "gown"],
            "review_date": pd.to_datetime(["2016-01-01", "2016-02-01", "2017-01-01", None]),
        }
    )
    frame, report = from_clean_table(df)
    assert len(frame) == 3
    assert frame["height_cm"].iloc[0] == pytest.approx(172.72)
    assert np.isnan(frame["height_cm"].iloc[2])
    assert np.isnan(frame["age"].iloc[1])
    assert {(b["row"], b["field"]) for b in report.blanked} == {(2, "height_cm"), (1, "age")}
    assert report.quarantined == [{"row": 3, "field": "fit", "reason": "missing or unknown fit"}]
    with pytest.raises(DataError, match="missing column"):
        from_clean_table(df.drop(columns=["size"]))
