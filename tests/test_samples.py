"""The shipped fashion sample."""

from __future__ import annotations

import pytest

from mmshop.errors import DataError
from mmshop.samples import load_sample, sample_path


def test_load_sample_fashion() -> None:
    cat = load_sample("fashion", labels=["articleType"])
    assert 1900 <= len(cat) <= 2000
    assert cat.report.quarantined_ids() == []
    assert cat.df["articleType"].nunique() == 20
    assert cat.roles.image == "image" and cat.roles.text == ["productDisplayName"]
    assert "articleType" not in cat.roles.input_columns()
    assert {"train", "val", "test"} == set(cat.df["split"])
    assert all(cat.image_path(i) is not None for i in range(0, len(cat), 97))
    assert sample_path().parent == cat.root


def test_sample_files_shipped() -> None:
    folder = sample_path("fashion").parent
    assert (folder / "ATTRIBUTION.md").read_text().count("Param Aggarwal") >= 1
    assert len(list((folder / "images").glob("*.jpg"))) == 2000


def test_unknown_sample_lists_valid_names() -> None:
    with pytest.raises(DataError, match=r"unknown sample 'shoes'.*fashion"):
        load_sample("shoes")


def test_body_size_sample_is_shipped_and_trainable_shape() -> None:
    import pandas as pd

    path = sample_path("body-size")
    df = pd.read_csv(path)
    assert 1000 <= len(df) <= 5000 and list(df.columns) == ["weight", "age", "height", "size"]
    assert set(df["size"]) <= {"XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL"}
    assert df["height"].dropna().between(100, 230).all()
    assert "clothes size prediction" in (path.parent / "ATTRIBUTION.md").read_text()
