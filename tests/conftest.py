"""Shared fixtures: a tiny real catalogue on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_tiny_catalog
from mmshop.data import Catalog


@pytest.fixture
def tiny_catalog_csv(tmp_path: Path) -> Path:
    """Path of a 40-row products.csv with real 24x24 JPEGs beside it (see helpers)."""
    return make_tiny_catalog(tmp_path / "tiny", n=40, seed=0)


@pytest.fixture
def tiny_catalog(tiny_catalog_csv: Path) -> Catalog:
    """The tiny catalogue opened with default settings (no labels declared)."""
    return Catalog.open(tiny_catalog_csv)


@pytest.fixture(scope="session")
def hf_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny random checkpoints of every supported family (see hf_checkpoints.py), made once."""
    from hf_checkpoints import make_all

    return make_all(tmp_path_factory.mktemp("hf_checkpoints"))
