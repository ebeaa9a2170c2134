"""Small catalogues shipped with mmshop, for demos, docs and tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmshop.errors import DataError

if TYPE_CHECKING:
    from mmshop.data import Catalog

_HERE = Path(__file__).resolve().parent
SAMPLES: dict[str, str] = {
    "fashion": "2,000 fashion products (20 article types), Fashion Product Images (Small) subset",
    "body-size": "5,000 bodies (weight kg, age, height cm -> size XXS..XXXL), clothes-size slice",
}
_FILES = {"fashion": "products.csv", "body-size": "clothes_size.csv"}


def sample_path(name: str = "fashion") -> Path:
    """Path of a shipped sample's data file: ``fashion/products.csv`` (its images sit beside it
    in ``images/``) or ``body-size/clothes_size.csv``."""
    if name not in SAMPLES:
        raise DataError(f"unknown sample '{name}'; available samples: {sorted(SAMPLES)}")
    path = _HERE / name / _FILES[name]
    if not path.is_file():
        raise DataError(f"sample '{name}' is not installed (missing {path})")
    return path


def load_sample(name: str = "fashion", **open_kwargs: Any) -> Catalog:
    """Open a shipped sample as a :class:`mmshop.data.Catalog` (kwargs go to ``Catalog.open``)."""
    from mmshop.data import Catalog

    return Catalog.open(sample_path(name), **open_kwargs)


__all__ = ["SAMPLES", "load_sample", "sample_path"]
