"""FitModel on tiny synthetic feedback: learns the signal, recommends sizes, cold start, io."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmshop.errors import ConfigError, DataError, ModelLoadError, QueryError
from mmshop.fit import FIT_LABELS, BodyProfile, FitModel


def test_learns_the_synthetic_signal(trained_fit, fit_frame):
    test = fit_frame.iloc[500:]
    scores = trained_fit.evaluate(test)
    assert set(scores) == {"macro_auc", "macro_f1", "accuracy", "n"}
    assert scores["n"] == len(test)
    assert scores["macro_auc"] > 0.75, scores
    majority = (test["fit"] == test["fit"].mode()[0]).mean()
    assert scores["macro_f1"] > 0.45, scores
    proba = trained_fit.predict_proba(test)
    assert proba.shape == (len(test), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    assert set(trained_fit.predict(test)) <= set(FIT_LABELS)
    assert trained_fit.training_info["rows_val"] == 50
    assert 0 < majority < 1


def test_recommended_size_grows_with_the_body(trained_fit):
    light = trained_fit.recommend_size({"height_cm": 155, "weight_kg": 48}, item_id="i0")
    heavy = trained_fit.recommend_size({"height_cm": 178, "weight_kg": 88}, item_id="i0")
    assert float(heavy.size) > float(light.size)
    assert heavy.size in trained_fit.candidate_sizes("i0")
    assert 0 < heavy.fit_probability <= 1
    assert heavy.fit_probability == max(o.fit for o in heavy.options)
    assert heavy.measurements_used == ["height_cm", "weight_kg"]
    assert "age" in heavy.measurements_missing
    assert heavy.new_customer and not heavy.new_item
    assert "confidence" in heavy.note


def test_cold_start_and_bad_input(trained_fit):
    none = trained_fit.recommend_size(None, item_id="i3", user_id="u5")
    assert not none.new_customer and none.measurements_used == []
    assert "no measurements given" in none.note
    new_item = trained_fit.recommend_size(
        BodyProfile(height_cm=170), item_id="brand-new", category="dress"
    )
    assert new_item.new_item and new_item.size in trained_fit.candidate_sizes("x", "dress")
    with pytest.raises(QueryError, match="item_id: unknown item 'brand-new'"):
        trained_fit.recommend_size({"height": "5' 8\""}, item_id="brand-new")
    with pytest.raises(QueryError, match="category: unknown category"):
        trained_fit.recommend_size({}, item_id="brand-new", category="spacesuit")
    with pytest.raises(QueryError, match=r"size: unknown size label\(s\) \['XXL'\]"):
        trained_fit.recommend_size({}, item_id="i0", sizes=["8", "XXL"])
    with pytest.raises(DataError, match=r"^height_cm:"):
        trained_fit.recommend_size({"height": "20m"}, item_id="i0")
    with pytest.raises(DataError, match=r"^age:"):
        trained_fit.recommend_size({"age": 300}, item_id="i0")
    limited = trained_fit.recommend_size({}, item_id="i0", sizes=["8", "9"])
    assert [o.size for o in limited.options] == ["8", "9"]


def test_save_load_round_trip(trained_fit, fit_frame, tmp_path):
    path = trained_fit.save(tmp_path / "fit")
    assert (path / "model.safetensors").is_file() and (path / "config.json").is_file()
    loaded = FitModel.load(path)
    rows = fit_frame.iloc[500:540]
    np.testing.assert_allclose(loaded.predict_proba(rows), trained_fit.predict_proba(rows))
    assert loaded.predict(rows) == trained_fit.predict(rows)
    a = loaded.recommend_size({"height_cm": 170}, item_id="i1").to_dict()
    b = trained_fit.recommend_size({"height_cm": 170}, item_id="i1").to_dict()
    assert a == b
    (path / "config.json").write_text((path / "config.json").read_text() + " ")
    with pytest.raises(ModelLoadError, match="changed after saving"):
        FitModel.load(path)


def test_predicts_rows_in_the_cleaned_public_columns(trained_fit):
    rows = pd.DataFrame(
        {"item_id": ["i1", "i1"], "size": [4, 14], "weight_lbs": [130.0, 130.0],
         "height_in": [65.0, 65.0], "bust_size_num": [34.0, np.nan],
         "bust_size_letter": ["c", None]}
    )  # fmt: skip
    proba = trained_fit.predict_proba(rows)
    assert proba.shape == (2, 3)
    small, large = FIT_LABELS.index("small"), FIT_LABELS.index("large")
    assert proba[0, small] > proba[1, small] and proba[1, large] > proba[0, large]


def test_config_and_data_errors(fit_frame):
    with pytest.raises(ConfigError, match="dim"):
        FitModel(overrides={"dim": 0})
    with pytest.raises(ConfigError, match="unknown config key"):
        FitModel(overrides={"nope": 1})
    with pytest.raises(ConfigError, match="not trained"):
        FitModel().predict_proba(fit_frame)
    with pytest.raises(DataError, match="at least 10"):
        FitModel().fit(fit_frame.iloc[:5])
    with pytest.raises(DataError, match=r"lacks column\(s\) \['fit'\]"):
        FitModel().fit(fit_frame.drop(columns=["fit"]))
