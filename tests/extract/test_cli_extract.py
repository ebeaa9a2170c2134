"""``mmshop extract train | predict`` run for real on a tiny catalogue of titles."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mmshop.cli import app
from mmshop.errors import DataError
from mmshop.extract import AttributeExtractor

from .test_extract import catalogue

runner = CliRunner()
SETS = {"dim": 32, "layers": 1, "heads": 2, "batch_size": 16, "trainer.lr": 5e-3,
        "trainer.patience": None}  # fmt: skip


def test_train_then_predict(tmp_path: Path) -> None:
    data = tmp_path / "titles.csv"
    catalogue(96).to_csv(data, index=False)
    model = tmp_path / "ex"
    args = [a for k, v in SETS.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    result = runner.invoke(
        app,
        ["extract", "train", str(data), "--out", str(model), "--epochs", "12", "--quiet", *args],
    )
    assert result.exit_code == 0, result.output
    assert "extractor saved" in result.output and '"test_f1"' in result.output

    title = "Zorro Women Navy Blue Style3 Watch"
    result = runner.invoke(app, ["extract", "predict", str(model), title, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"title": title, "BRAND": "Zorro", "GENDER": "Women", "COLOUR": "Navy Blue",
         "TYPE": "Watch"}
    ]  # fmt: skip

    titles = tmp_path / "new.csv"
    pd.DataFrame({"name": ["Puma Men Red Style1 Shoes", "", "x" * 2000]}).to_csv(
        titles, index=False
    )
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        app, ["extract", "predict", str(model), "--file", str(titles), "--column", "name",
              "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    assert table.loc[0, "COLOUR"] == "Red" and table.loc[0, "error"] == ""
    assert table.loc[1, "error"] == "row 2: title is empty"
    assert "row 3: title is 2,000 characters long" in table.loc[2, "error"]

    result = runner.invoke(app, ["extract", "predict", str(model), "--file", str(titles)])
    assert result.exit_code == 2 and "no column 'productDisplayName'" in result.output
    result = runner.invoke(app, ["extract", "predict", str(model)])
    assert result.exit_code == 2 and "either titles or --file" in result.output
    result = runner.invoke(app, ["extract", "predict", str(tmp_path / "none"), "a title"])
    assert result.exit_code == 2 and "not found" in result.output


def test_train_errors_name_the_problem(tmp_path: Path) -> None:
    data = tmp_path / "titles.csv"
    catalogue(40).rename(columns={"productDisplayName": "name"}).to_csv(data, index=False)
    result = runner.invoke(app, ["extract", "train", str(data), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "no title column 'productDisplayName'" in result.output
    with pytest.raises(DataError, match="at least 2 training titles"):
        AttributeExtractor().fit(catalogue(1), progress=False)
