"""Tiny synthetic review sets (English with context, Chinese) for the sentiment tests."""

from __future__ import annotations

import pandas as pd

EN_POSITIVE = ["love this dress", "great fit and soft fabric", "perfect and comfortable",
               "beautiful colour, love it"]  # fmt: skip
EN_NEGATIVE = ["terrible quality returned it", "cheap fabric fell apart", "awful fit, poor seams",
               "disappointed, terrible"]  # fmt: skip
EN_NEUTRAL = ["okay nothing special", "average fabric, fine", "it is okay i guess"]
ZH_POSITIVE = ["质量很好，非常满意", "很好用，推荐购买", "物流快，东西不错", "非常喜欢，好评"]
ZH_NEGATIVE = ["质量太差了，不推荐", "很差，退货了", "太失望了，垃圾", "差评，坏了"]


def english_reviews(n: int = 60) -> pd.DataFrame:
    """Rating 5 / 1 / 3 in turn, with a department, an age and a recommended flag."""
    rows = []
    for k in range(n):
        rating = (5, 1, 3)[k % 3]
        pool = {5: EN_POSITIVE, 1: EN_NEGATIVE, 3: EN_NEUTRAL}[rating]
        rows.append(
            {
                "review": f"{pool[(k // 3) % len(pool)]} {k % 7}",
                "rating": str(rating),
                "dept": ("Dresses", "Tops")[k % 2],
                "age": str(20 + k % 40),
                "recommended": str(int(rating > 3)),
            }
        )
    return pd.DataFrame(rows)


def chinese_reviews(n: int = 48) -> pd.DataFrame:
    """Binary label 1 (positive) / 0 (negative) with a product category."""
    rows = []
    for k in range(n):
        label = k % 2
        pool = ZH_POSITIVE if label else ZH_NEGATIVE
        rows.append(
            {
                "review": pool[(k // 2) % len(pool)],
                "label": str(label),
                "cat": ("手机", "书籍")[k % 3 % 2],
            }
        )
    return pd.DataFrame(rows)


TINY = {
    "trainer.epochs": 4,
    "trainer.progress": False,
    "trainer.patience": None,
    "model.encoders.text.options": {"dim": 32, "layers": 1, "heads": 2},
    "model.encoders.tabular.options": {"dim": 16},
    "model.fusion.options": {"dim": 32},
    "model.head.options": {"hidden": 32},
    "batch_size": 16,
    "trainer.lr": 5e-3,
}
