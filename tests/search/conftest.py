"""A tiny trained search model and index shared by the search tests (trained once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_tiny_catalog
from mmshop.data import Catalog
from mmshop.search import SearchEncoder, build_index

TINY = {
    "image_encoder.options": {"width": 8},
    "text_encoder.options": {"dim": 32, "layers": 1, "heads": 2},
    "embed_dim": 32,
    "batch_size": 16,
    "trainer.epochs": 8,
    "trainer.lr": 3e-3,
    "trainer.progress": False,
}


@pytest.fixture(scope="session")
def search_setup(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("search")
    csv = make_tiny_catalog(tmp / "cat", n=64, seed=1)
    cat = Catalog.open(csv)
    encoder = SearchEncoder.fit(
        cat.split("train"),
        cat.split("val"),
        overrides={**TINY, "cache_dir": str(tmp / "cache")},
        work_dir=tmp / "work",
        progress=False,
    )
    model = encoder.save(tmp / "models" / "search")
    build_index(model, cat, tmp / "index", cache_dir=tmp / "cache", progress=False)
    return {"tmp": tmp, "csv": csv, "catalog": cat, "encoder": encoder, "model": model,
            "index": tmp / "index", "cache": tmp / "cache"}  # fmt: skip


@pytest.fixture
def cache_dir(search_setup: dict) -> Path:
    return search_setup["cache"]
