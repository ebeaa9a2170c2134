"""mmshop align / index / search end to end through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import make_tiny_catalog
from mmshop.cli import app

runner = CliRunner()
SMALL = [
    "--set", 'image_encoder.options={"width": 8}',
    "--set", 'text_encoder.options={"dim": 32, "layers": 1, "heads": 2}',
    "--set", "embed_dim=32", "--set", "batch_size=16",
]  # fmt: skip


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cli_search")
    csv = make_tiny_catalog(tmp / "cat", n=48, seed=3)
    model = tmp / "models" / "search"
    cache = ["--set", f'cache_dir="{tmp / "cache"}"']
    result = runner.invoke(
        app, ["align", str(csv), "--out", str(model), "--epochs", "2", "--json", *SMALL, *cache]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["version"] and set(summary["val"]) == {"recall@1", "recall@10", "mrr@10"}
    index = tmp / "index"
    result = runner.invoke(app, ["index", str(model), str(csv), "--out", str(index), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["products"] == 48 and info["model_version"] == summary["version"]
    return {"csv": csv, "model": model, "index": index, "tmp": tmp}


def test_text_search_with_filter_json(cli_index: dict) -> None:
    args = ["search", str(cli_index["index"]), "red shirt", "-k", "4", "--json"]
    result = runner.invoke(app, [*args, "--filter", "category=shoe"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) == 4 and all(h["fields"]["category"] == "shoe" for h in hits)
    assert {"id", "score", "rank", "title", "fields"} <= set(hits[0])
    table = runner.invoke(app, ["search", str(cli_index["index"]), "red shirt", "-k", "3"])
    assert table.exit_code == 0 and len(table.output.strip().splitlines()) == 3


def test_image_and_like_search(cli_index: dict) -> None:
    photo = cli_index["csv"].parent / "images" / "p000.jpg"
    result = runner.invoke(
        app, ["search", str(cli_index["index"]), "--image", str(photo), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["id"] == "p000"
    result = runner.invoke(app, ["search", str(cli_index["index"]), "--like", "p000", "-k", "2",
                                 "--json", "--filter", "price>=20"])  # fmt: skip
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) == 2 and "p000" not in [h["id"] for h in hits]
    assert all(h["fields"]["price"] >= 20 for h in hits)
    hybrid = runner.invoke(app, ["search", str(cli_index["index"]), "blue bag", "--mode", "hybrid"])
    assert hybrid.exit_code == 0, hybrid.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "empty"),
        (["shirt", "-k", "0"], "k must be"),
        (["shirt", "--filter", "colr=red"], "unknown filter field"),
        (["shirt", "--filter", "colour=purple"], "unknown value"),
        (["shirt", "--filter", "nonsense"], "field=value"),
        (["--like", "nope"], "not in the index"),
        (["--image", "missing.jpg"], "not found"),
        ([], "exactly one"),
    ],
)
def test_bad_input_is_one_red_line(cli_index: dict, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["search", str(cli_index["index"]), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_missing_or_corrupt_index_and_bad_model(cli_index: dict) -> None:
    tmp = cli_index["tmp"]
    result = runner.invoke(app, ["search", str(tmp / "nowhere"), "shirt"])
    assert result.exit_code == 2 and "not found" in result.output
    broken = tmp / "broken"
    broken.mkdir()
    (broken / "index.json").write_text("{not json")
    result = runner.invoke(app, ["search", str(broken), "shirt"])
    assert result.exit_code == 2 and "error:" in result.output
    result = runner.invoke(app, ["index", str(tmp / "nomodel"), str(cli_index["csv"]),
                                 "--out", str(tmp / "i2")])  # fmt: skip
    assert result.exit_code == 2 and "not found" in result.output
    assert not (tmp / "i2").exists()
    result = runner.invoke(app, ["align", str(cli_index["csv"]), "--out", str(tmp / "m2"),
                                 "--loss", "triplet"])  # fmt: skip
    assert result.exit_code == 2 and "loss" in result.output
