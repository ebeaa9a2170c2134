"""BodySizeModel: learns an ordered size from weight/height, within-one accuracy, io, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmshop.errors import DataError, ModelLoadError
from mmshop.fit import BodyProfile, BodySizeModel

SIZES = np.array(["XXS", "S", "M", "L", "XL", "XXXL"])


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weight = rng.normal(62, 10, n)
    height = rng.normal(166, 7, n)
    rank = np.clip(np.round((weight - 62) / 6 + (height - 166) / 20 + 2.5), 0, 5).astype(int)
    return pd.DataFrame({"weight": weight, "age": 30.0, "height": height, "size": SIZES[rank]})


@pytest.fixture(scope="module")
def model():
    return BodySizeModel(
        overrides={"trainer.epochs": 20, "trainer.num_threads": 1, "trainer.patience": None,
                   "trainer.lr": 0.03, "batch_size": 64, "hidden": 16}
    ).fit(_frame(400, 0))  # fmt: skip


def test_learns_ordered_sizes(model):
    scores = model.evaluate(_frame(200, 1))
    assert model.classes == list(SIZES)  # XS and XXL are absent: not classes
    assert scores["within_one"] >= scores["accuracy"]
    assert scores["accuracy"] > 0.6, scores
    assert scores["within_one"] > 0.9, scores
    small = model.recommend({"weight": "45kg", "height": "160cm"})
    large = model.recommend(BodyProfile(weight_kg=95, height_cm=175))
    assert list(SIZES).index(large.size) > list(SIZES).index(small.size)
    assert small.within_one_probability >= small.probability
    assert sum(small.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_bad_input_and_io(model, tmp_path):
    with pytest.raises(DataError, match=r"^height_cm:"):
        model.recommend({"height": "20m"})
    with pytest.raises(DataError, match="size: unknown size label 'HUGE'"):
        BodySizeModel().fit(pd.DataFrame({"weight": [60] * 12, "size": ["M"] * 11 + ["huge"]}))
    frame = _frame(30, 2)
    frame.loc[0, "age"] = 0.0  # impossible: blanked, not fatal
    model.predict_proba(frame)
    path = model.save(tmp_path / "size")
    loaded = BodySizeModel.load(path)
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))
    (path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ModelLoadError):
        BodySizeModel.load(path)
