"""Rebuild the shipped ``fashion`` sample from a local copy of Fashion Product Images (Small).

Usage (from the repo root)::

    .venv/bin/python scripts/make_sample.py --source ../shared/data/fashion-small

The source folder holds ``products.csv`` (columns id, masterCategory, subCategory, articleType,
baseColour, usage, productDisplayName, image, split) and the JPEGs it points to. The sample is
the ``--classes`` most frequent ``articleType`` values of the TRAIN split, with ``--per-class``
rows drawn from each (all of them when a class is smaller) using ``--seed``. The ``split``
column is dropped (the Catalog makes its own seeded split); the JPEGs are copied unchanged.
Running it twice with the same arguments gives the same files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "fashion-small"
DEFAULT_DEST = REPO / "src" / "mmshop" / "samples" / "fashion"

ATTRIBUTION = """# Attribution

The images and product metadata in this folder are a subset of **Fashion Product Images
(Small)** by **Param Aggarwal**, published on Kaggle
(https://www.kaggle.com/datasets/paramaggarwal/fashion-product-images-small) and redistributed
under the MIT licence as stated by its public re-uploads.

## What this subset is

- {n_rows} products from the training split of the original data, covering the {n_classes}
  most frequent `articleType` values; up to {per_class} products were drawn at random from each
  (random seed {seed}).
- All original columns are kept except `split`; mmshop assigns its own seeded
  train/val/test split when the catalogue is opened.
- Images are the original small RGB JPEGs (almost all 60x80 pixels), copied byte for byte
  into `images/`.

## How it was made

`scripts/make_sample.py --seed {seed} --classes {n_classes} --per-class {per_class}` in the
mmshop repository rebuilds this folder from a local copy of the dataset.

## Classes

{class_table}
"""


def select_rows(df: pd.DataFrame, n_classes: int, per_class: int, seed: int) -> pd.DataFrame:
    """Seeded per-class sample of the train split's most frequent article types."""
    train = df[df["split"] == "train"]
    top = train["articleType"].value_counts().head(n_classes).index.tolist()
    parts = []
    for i, cls in enumerate(sorted(top)):
        rows = train[train["articleType"] == cls]
        parts.append(rows.sample(n=min(per_class, len(rows)), random_state=seed + i))
    out = pd.concat(parts).drop(columns=["split"])
    out = out.sort_values("id", key=lambda s: s.astype(int)).reset_index(drop=True)
    return out


def copy_images(rows: pd.DataFrame, source: Path, dest: Path) -> None:
    """Copy every row's JPEG, checking it decodes, into ``dest/images``."""
    images = dest / "images"
    if images.exists():
        shutil.rmtree(images)
    images.mkdir(parents=True)
    for rel in rows["image"]:
        src = source / rel
        with Image.open(src) as img:
            img.load()
        shutil.copyfile(src, dest / rel)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    df = pd.read_csv(args.source / "products.csv", dtype=str)
    rows = select_rows(df, args.classes, args.per_class, args.seed)
    args.dest.mkdir(parents=True, exist_ok=True)
    copy_images(rows, args.source, args.dest)
    rows.to_csv(args.dest / "products.csv", index=False)

    counts = rows["articleType"].value_counts().sort_index()
    table = "\n".join(f"- {name}: {n}" for name, n in counts.items())
    (args.dest / "ATTRIBUTION.md").write_text(
        ATTRIBUTION.format(
            n_rows=len(rows),
            n_classes=len(counts),
            per_class=args.per_class,
            seed=args.seed,
            class_table=table,
        ),
        encoding="utf-8",
    )
    print(f"wrote {len(rows)} rows and images to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
