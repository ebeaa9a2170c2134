"""Rebuild the shipped ``body-size`` sample from a local copy of the clothes-size data.

Usage (from the repo root)::

    .venv/bin/python scripts/make_body_size_sample.py --source ../shared/data/body-size

The source folder holds ``clothes_size.csv`` (columns weight in kg, age in years, height in cm,
size XXS..XXXL). The sample is ``--rows`` rows drawn uniformly at random without replacement
with ``--seed`` (rows keep their original values, missing ones included), written in their
original order. Running it twice with the same arguments gives the same file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "body-size"
DEFAULT_DEST = REPO / "src" / "mmshop" / "samples" / "body-size"
FILE = "clothes_size.csv"
COLUMNS = ["weight", "age", "height", "size"]

ATTRIBUTION = """# Attribution

`clothes_size.csv` in this folder is a random slice of the public **"clothes size prediction"**
data set (published on Kaggle as *Clothes Size Prediction*, 119,734 rows of self-reported body
measurements and the letter size each person wears), used by mmshop as the demo data of the
body-measurement size model (`mmshop.fit.BodySizeModel`).

## Columns (as measured in the original release)

- `weight`: body weight in kilograms
- `age`: age in years (a few rows are missing it, or hold impossible values such as 0; the
  model blanks those and says so)
- `height`: height in centimetres (a few rows are missing it)
- `size`: the size label worn, one of XXS, S, M, L, XL, XXL, XXXL (the release has no XS)

## What this slice is

- {n_rows} of the {n_source} rows, drawn uniformly at random without replacement
  (`pandas.DataFrame.sample(n={n_rows}, random_state={seed})`), kept in their original order,
  values unchanged.

## How it was made

`scripts/make_body_size_sample.py --rows {n_rows} --seed {seed}` in the mmshop repository
rebuilds this folder from a local copy of the data set.

## Sizes in the slice

{size_table}
"""


def select_rows(df: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """A seeded uniform random slice, in the source's row order."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise SystemExit(f"{FILE} lacks column(s) {missing}; columns: {list(df.columns)}")
    picked = df[COLUMNS].sample(n=min(rows, len(df)), random_state=seed)
    return picked.sort_index().reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= 5000:
        raise SystemExit("--rows must be in 1..5000 (the shipped sample stays small)")

    df = pd.read_csv(args.source / FILE)
    rows = select_rows(df, args.rows, args.seed)
    args.dest.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.dest / FILE, index=False)
    counts = rows["size"].value_counts()
    order = ["XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL"]
    table = "\n".join(f"- {s}: {int(counts[s])}" for s in order if s in counts)
    (args.dest / "ATTRIBUTION.md").write_text(
        ATTRIBUTION.format(n_rows=len(rows), n_source=len(df), seed=args.seed, size_table=table),
        encoding="utf-8",
    )
    print(f"wrote {len(rows)} rows to {args.dest / FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
