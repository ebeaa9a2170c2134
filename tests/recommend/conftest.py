"""A tiny fashion catalogue with colours, types, usages, prices and sizes."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

COLOURS = ["Red", "Blue", "Black"]
TYPES = [("Tshirts", "Casual"), ("Jeans", "Casual"), ("Track Pants", "Sports"), ("Dress", "Party")]


def tiny_products() -> pd.DataFrame:
    rows = []
    for n, ((colour, (kind, usage)), brand) in enumerate(
        itertools.product(itertools.product(COLOURS, TYPES), ["Roadster", "Nike", "Mango"])
    ):
        rows.append(
            {
                "id": str(1000 + n),
                "productDisplayName": f"{brand} Women {colour} {kind}",
                "baseColour": colour,
                "articleType": kind,
                "usage": usage,
                "price": 10.0 + 5 * (n % 7),
                "sizes": "S|M" if n % 2 else "M|L",
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture()
def products() -> pd.DataFrame:
    return tiny_products()


@pytest.fixture()
def items(products):
    from mmshop.recommend import attribute_embeddings

    return attribute_embeddings(products, columns=["baseColour", "articleType", "usage"], dim=8)
