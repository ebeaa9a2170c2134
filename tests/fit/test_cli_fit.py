"""``mmshop fit ...`` commands run for real on tiny synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mmshop.cli import app

runner = CliRunner()
SMALL = ["--set", "dim=4", "--set", "body_dim=8", "--set", "batch_size=64",
         "--set", "trainer.num_threads=1", "--set", "trainer.lr=0.02"]  # fmt: skip


@pytest.fixture(scope="module")
def fit_model_dir(tmp_path_factory, fit_frame):
    tmp = tmp_path_factory.mktemp("clifit")
    data = tmp / "fit.csv"
    fit_frame.to_csv(data, index=False)
    out = tmp / "fitmodel"
    result = runner.invoke(
        app, ["fit", "train", str(data), "--out", str(out), "--epochs", "3", "--json", *SMALL]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["model"] == str(out) and summary["rows_train"] == 540
    return out


def test_recommend_size_cli(fit_model_dir):
    result = runner.invoke(
        app,
        ["fit", "recommend-size", str(fit_model_dir), "--item", "i2",
         "--height", "5' 6\"", "--weight", "140lbs", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    advice = json.loads(result.output)
    assert advice["item_id"] == "i2"
    assert advice["measurements_used"] == ["height_cm", "weight_kg"]
    assert advice["size"] in {o["size"] for o in advice["options"]}
    text = runner.invoke(app, ["fit", "recommend-size", str(fit_model_dir), "--item", "i2"])
    assert text.exit_code == 0 and "chance it fits" in text.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--item", "i2", "--height", "20m"], "height_cm"),
        (["--item", "i2", "--weight", "-5kg"], "weight_kg"),
        (["--item", "i2", "--age", "300"], "age"),
        (["--item", "nope"], "item_id: unknown item"),
        (["--item", "i2", "--size", "99"], "size: unknown size label"),
    ],
)
def test_recommend_size_cli_errors(fit_model_dir, args, message):
    result = runner.invoke(app, ["fit", "recommend-size", str(fit_model_dir), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_parse_cli(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text(
        json.dumps({"fit": "fit", "user_id": "1", "item_id": "2", "size": 8, "height": "5' 8\""})
        + "\n"
        + json.dumps({"fit": "small", "user_id": "3", "item_id": "2", "size": 4, "age": "300"})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "canonical.csv"
    result = runner.invoke(app, ["fit", "parse", str(raw), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2/2 rows kept" in result.output and "row 2: age" in result.output
    table = pd.read_csv(out)
    assert table["height_cm"].iloc[0] == pytest.approx(172.72)
    assert np.isnan(table["age"].iloc[1])


def test_body_size_cli(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    height = rng.normal(166, 7, n)
    weight = rng.normal(62, 10, n)
    sizes = np.array(["XXS", "S", "M", "L", "XL", "XXXL"])
    rank = np.clip(np.round((weight - 62) / 6 + 2.5), 0, 5).astype(int)
    df = pd.DataFrame({"weight": weight.round(), "age": 30, "height": height, "size": sizes[rank]})
    data = tmp_path / "sizes.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "sizemodel"
    result = runner.invoke(
        app,
        ["fit", "train-body-size", str(data), "--out", str(out), "--epochs", "3",
         "--set", "trainer.num_threads=1", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sizes"] == list(sizes)
    result = runner.invoke(
        app, ["fit", "body-size", str(out), "--height", "170cm", "--weight", "60", "--json"]
    )
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.output)
    assert estimate["size"] in sizes and estimate["measurements_used"] == ["height_cm", "weight_kg"]
    bad = runner.invoke(app, ["fit", "body-size", str(out), "--age", "300"])
    assert bad.exit_code == 2 and "age" in bad.output
