"""Tiny synthetic fit feedback where the truth is known: body -> true size; item offsets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def synthetic_fit_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 12
    height = rng.normal(165, 7, n_users)
    weight = rng.normal(65, 10, n_users)
    true_size = (weight - 65) / 5 + (height - 165) / 14 + 8  # in size units
    item_offset = rng.normal(0, 1.5, n_items)
    users = rng.integers(0, n_users, n)
    items = rng.integers(0, n_items, n)
    sizes = np.clip(np.round(true_size[users] + rng.normal(0, 2.0, n)), 0, 20).astype(int)
    gap = sizes + item_offset[items] - true_size[users]  # > 0: item larger than the body
    fit = np.where(gap > 1.2, "large", np.where(gap < -1.2, "small", "fit"))
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in users],
            "item_id": [f"i{i}" for i in items],
            "size": [str(s) for s in sizes],
            "fit": fit,
            "category": np.where(items % 2 == 0, "dress", "gown"),
            "review_date": pd.Timestamp("2016-01-01") + pd.to_timedelta(np.arange(n), "h"),
            "height_cm": height[users],
            "weight_kg": np.where(rng.random(n) < 0.2, np.nan, weight[users]),
            "age": rng.integers(20, 60, n).astype(float),
            "body_type": rng.choice(["hourglass", "pear", None], n),
        }
    )


@pytest.fixture(scope="session")
def fit_frame() -> pd.DataFrame:
    return synthetic_fit_frame()


TINY = {
    "dim": 4,
    "body_dim": 8,
    "batch_size": 64,
    "trainer.epochs": 12,
    "trainer.lr": 0.02,
    "trainer.patience": None,
    "trainer.num_threads": 1,
}


@pytest.fixture(scope="session")
def trained_fit(fit_frame, tmp_path_factory):
    from mmshop.fit import FitModel

    train = fit_frame.iloc[:500]
    model = FitModel(overrides=TINY).fit(train, work_dir=tmp_path_factory.mktemp("fitwork"))
    return model
