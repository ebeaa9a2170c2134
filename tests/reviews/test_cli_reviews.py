"""``mmshop reviews train | predict | monitor`` run for real on tiny files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from mmshop.cli import app

from .helpers_reviews import TINY, chinese_reviews

runner = CliRunner()


def test_train_predict_monitor(tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    frame = chinese_reviews()
    frame["day"] = ["2026-01-05"] * 24 + ["2026-01-20"] * 24
    frame.to_csv(data, index=False)
    model = tmp_path / "model"
    sets = [arg for key, value in {**TINY, "cache_dir": str(tmp_path / "c")}.items()
            for arg in ("--set", f"{key}={json.dumps(value)}")]  # fmt: skip
    result = runner.invoke(
        app,
        ["reviews", "train", str(data), "--out", str(model), "--label", "label",
         "--label-map", "0=negative", "--label-map", "1=positive", "--categorical", "cat",
         "--quiet", *sets],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"language": "zh"' in result.output and "saved" in result.output

    result = runner.invoke(
        app, ["reviews", "predict", str(model), "--text", "非常喜欢，好评", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["sentiment"] == "positive"

    new = tmp_path / "new.csv"
    pd.DataFrame({"review": ["很差，退货了", ""], "cat": ["手机", "书籍"]}).to_csv(new, index=False)
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["reviews", "predict", str(model), str(new), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["sentiment"].iloc[0] == "negative"
    assert "empty" in table["error"].iloc[1]

    report = tmp_path / "monitor.json"
    result = runner.invoke(
        app,
        ["reviews", "monitor", str(model), str(data), "--by", "cat", "--time-column", "day",
         "--freq", "M", "--min-reviews", "5", "--out", str(report)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert {r["cat"] for r in saved["aggregates"]} == {"手机", "书籍"}
    assert sum(r["n"] for r in saved["aggregates"]) == len(frame)


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"review,label\n\xff\xfe broken,1\n")
    result = runner.invoke(app, ["reviews", "train", str(bad), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "not UTF-8" in result.output
    result = runner.invoke(app, ["reviews", "predict", str(tmp_path / "nope"), "--text", "x"])
    assert result.exit_code == 2 and "error:" in result.output
