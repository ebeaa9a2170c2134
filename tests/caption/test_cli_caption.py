"""``mmshop caption train | generate`` run for real on the tiny catalogue."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from helpers import make_tiny_catalog
from mmshop.cli import app

from .test_generator import TINY

runner = CliRunner()


def test_train_then_generate(tmp_path: Path) -> None:
    csv = make_tiny_catalog(tmp_path / "tiny", n=40)
    model = tmp_path / "gen"
    sets = {**TINY, "cache_dir": str(tmp_path / "cache"), "trainer.epochs": 2}
    sets.pop("title_column")
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    result = runner.invoke(
        app,
        ["caption", "train", str(csv), "--out", str(model), "--title", "title",
         "--max-minutes", "5", "--quiet", *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "title generator saved" in result.output and '"bleu4"' in result.output
    assert (model / "caption.json").is_file() and (model / "model.safetensors").is_file()

    photos = [str(p) for p in sorted((tmp_path / "tiny" / "images").glob("*.jpg"))[:2]]
    result = runner.invoke(app, ["caption", "generate", str(model), *photos, "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["photo"] for r in records] == photos and all(r["title"] for r in records)
    result = runner.invoke(app, ["caption", "generate", str(model), photos[0], "--beams", "1"])
    assert result.exit_code == 0 and result.output.startswith(photos[0] + "\t")

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    result = runner.invoke(app, ["caption", "generate", str(model), str(bad)])
    assert result.exit_code == 2 and "cannot decode image" in result.output
    result = runner.invoke(app, ["caption", "generate", str(model), photos[0], "--beams", "11"])
    assert result.exit_code == 2 and "beams must be an integer in 1..10" in result.output
    result = runner.invoke(app, ["caption", "train", str(csv), "--out", str(tmp_path / "x"),
                                 "--set", "nope=1"])  # fmt: skip
    assert result.exit_code == 2 and "unknown config key 'nope'" in result.output
