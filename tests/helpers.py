"""Test helpers: write a tiny but real (learnable) product catalogue to a folder."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

CATEGORIES = ("shirt", "shoe", "bag", "watch")
CATEGORY_RGB = {
    "shirt": (200, 40, 40),
    "shoe": (40, 160, 40),
    "bag": (40, 40, 200),
    "watch": (220, 200, 40),
}
COLOURS = ("red", "blue", "black", "white", "green")
STYLES = ("casual", "formal")
TINY_COLUMNS = ("id", "title", "colour", "price", "image", "category", "style")
TINY_LABELS = ("category", "style")


def write_jpeg(
    path: Path, rgb: tuple[int, int, int], size: int = 24, seed: int = 0, noise: int = 20
) -> Path:
    """Save a small real JPEG: a flat colour plus seeded noise."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(
        np.array(rgb, dtype=np.int16) + rng.integers(-noise, noise + 1, (size, size, 3)), 0, 255
    ).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path, format="JPEG", quality=90)
    return path


def tiny_rows(n: int = 40, seed: int = 0) -> list[dict[str, str]]:
    """Rows of the tiny catalogue (without writing images). Category drives image, title, price."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        category = CATEGORIES[k % len(CATEGORIES)]
        colour = COLOURS[int(rng.integers(len(COLOURS)))]
        style = STYLES[(k // len(CATEGORIES)) % len(STYLES)]
        price = 10.0 * (1 + CATEGORIES.index(category)) + float(rng.integers(0, 500)) / 100
        rows.append(
            {
                "id": f"p{k:03d}",
                "title": f"{colour.title()} {style} {category} model {k}",
                "colour": colour,
                "price": f"{price:.2f}",
                "image": f"images/p{k:03d}.jpg",
                "category": category,
                "style": style,
            }
        )
    return rows


def write_catalog_csv(path: Path, rows: list[dict[str, str]], columns=None) -> Path:
    """Write rows as CSV (columns default to the first row's keys)."""
    columns = list(columns or rows[0].keys())
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_tiny_catalog(dir: Path, n: int = 40, seed: int = 0) -> Path:
    """Write ``products.csv`` + ``images/*.jpg`` (n real JPEGs) under ``dir``; return the csv path.

    Columns: id (p000..), title (text), colour (categorical), price (numeric), image,
    category (label, 4 classes, also visible in image colour and title), style (label, 2 classes).
    No split column, so the Catalog assigns a seeded one.
    """
    dir = Path(dir)
    rows = tiny_rows(n, seed)
    for k, row in enumerate(rows):
        write_jpeg(dir / row["image"], CATEGORY_RGB[row["category"]], seed=seed * 100_003 + k)
    return write_catalog_csv(dir / "products.csv", rows, TINY_COLUMNS)
