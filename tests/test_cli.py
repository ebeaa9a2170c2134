"""The mmshop command line, run for real on a tiny catalogue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import make_tiny_catalog
from mmshop.cli import app

runner = CliRunner()

SMALL = [
    "--set", "model.encoders.image.options={\"width\": 4}",
    "--set", "model.encoders.text.options={\"dim\": 32, \"layers\": 1, \"heads\": 2}",
    "--set", "model.fusion.options={\"dim\": 32}",
    "--set", "batch_size=16",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained_cli(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    csv = make_tiny_catalog(tmp / "cat", n=60, seed=2)
    out = tmp / "models" / "tagger"
    result = runner.invoke(
        app,
        ["train", str(csv), "--label", "category", "--label", "style", "--out", str(out),
         "--epochs", "3", "--quiet", "--fusion", "weighted",
         "--set", f"cache_dir=\"{tmp / 'cache'}\"", *SMALL],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "saved" in result.output
    return csv, out


def test_train_evaluate_json(trained_cli) -> None:
    csv, model = trained_cli
    result = runner.invoke(app, ["evaluate", str(model), str(csv), "--split", "test", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert set(metrics) == {"category", "style"}
    assert set(metrics["category"]) >= {"accuracy", "macro_f1"}


def test_predict_writes_csv(trained_cli, tmp_path: Path) -> None:
    csv, model = trained_cli
    new = pd.read_csv(csv).drop(columns=["category", "style"]).head(5)
    new_csv = csv.parent / "new_products.csv"
    new.to_csv(new_csv, index=False)
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(model), str(new_csv), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 5 and {"id", "category", "style_confidence"} <= set(table.columns)


def test_report_command_writes_html(trained_cli, tmp_path: Path) -> None:
    csv, model = trained_cli
    result = runner.invoke(app, ["report", str(model), str(csv), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").exists()


def test_validate_reports_bad_rows(tmp_path: Path) -> None:
    csv = make_tiny_catalog(tmp_path / "cat", n=20)
    df = pd.read_csv(csv)
    df.loc[3, "image"] = "../../etc/passwd"
    df.loc[4, "id"] = df.loc[5, "id"]
    df.to_csv(csv, index=False)
    out = tmp_path / "bad.json"
    result = runner.invoke(app, ["validate", str(csv), "--out", str(out)])
    assert result.exit_code == 0, result.output
    issues = json.loads(out.read_text())["issues"]
    reasons = " ".join(i["reason"] for i in issues)
    assert "outside" in reasons and "duplicate" in reasons


def test_errors_are_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(tmp_path / "nope"), str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    csv = make_tiny_catalog(tmp_path / "cat", n=20)
    result = runner.invoke(
        app, ["train", str(csv), "--label", "category", "--out", str(tmp_path / "m"),
              "--set", "trainer.epochz=3"],
    )  # fmt: skip
    assert result.exit_code == 2 and "epochz" in result.output


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("mmshop")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("train", "evaluate", "predict", "report", "demo", "validate"):
        assert command in result.stdout


def test_demo_fit_step_trains_the_body_size_model_on_the_shipped_sample(tmp_path: Path) -> None:
    from mmshop.cli import _demo_fit
    from mmshop.fit import BodySizeModel

    _demo_fit(tmp_path / "body-size")
    model = BodySizeModel.load(tmp_path / "body-size")
    assert model.training_info["rows"] == 5000 and "M" in model.classes
    small = model.recommend({"height": 155, "weight": 45, "age": 25}).size
    large = model.recommend({"height": 190, "weight": 120, "age": 40}).size
    assert model.classes.index(large) > model.classes.index(small)
    help_text = runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "200"}).output
    assert "--no-fit" in help_text and "--no-extract" in help_text
