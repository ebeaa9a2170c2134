"""BLEU-4, CIDEr-D and attribute accuracy against values computed by hand."""

from __future__ import annotations

import math

import pytest

from mmshop.caption.metrics import attribute_accuracy, bleu4, caption_scores, cider_d
from mmshop.errors import DataError


def test_bleu4_hand_computed() -> None:
    assert bleu4(["a b c d e"], ["a b c d e"]) == pytest.approx(1.0)
    # precisions 4/5, 3/4, 2/3, 1/2; same length so no brevity penalty
    expected = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert bleu4(["a b c d e"], ["a b c d f"]) == pytest.approx(expected)
    # all precisions 1, candidate 4 words vs reference 6: brevity penalty exp(1 - 6/4)
    assert bleu4(["a b c d"], ["a b c d e f"]) == pytest.approx(math.exp(-0.5))
    # clipping: "the" counted at most twice (its count in the reference)
    assert bleu4(["the the the the"], ["the cat the cat"]) == 0.0
    # corpus level: counts are pooled over sentences, case-insensitive
    pooled = (7 / 8 * 5 / 6 * 3 / 4 * 1 / 2) ** 0.25
    assert bleu4(["A b c d", "e f g x"], ["a b c d", "e f g h"]) == pytest.approx(pooled)
    # several references: the closest reference length sets the brevity penalty
    assert bleu4(["a b c d"], [["a b c d e f g", "a b c d"]]) == pytest.approx(1.0)


def test_cider_d_hand_computed() -> None:
    refs = ["a b", "a c"]
    # image 1: unigram "a" is in every reference (idf 0), "b" and bigram "a b" only in one
    # (idf log 2): cosine 1 for n = 1, 2 and no 3-/4-grams -> 10 * (1 + 1 + 0 + 0) / 4 = 5.
    # image 2: no overlap -> 0. Corpus mean 2.5.
    assert cider_d(["a b", "x y"], refs) == pytest.approx(2.5)
    # length penalty: one extra unseen word -> cosine of unigrams sqrt(log2^2/(log2^2 + log2^2))
    # ("a" weighs 0, "b" log 2, "z" log 2 as df 0 -> log(2/1)); bigram "a b" cosine
    # 1/sqrt(2) ("b z" unseen); times exp(-1/72)
    uni = math.log(2) ** 2 / (math.sqrt(2 * math.log(2) ** 2) * math.log(2))
    expected = 10 * (uni + 1 / math.sqrt(2)) / 4 * math.exp(-1 / 72) / 2
    assert cider_d(["a b z", "x y"], refs) == pytest.approx(expected)


def test_attribute_accuracy_uses_the_weak_labelling_rule() -> None:
    titles = ["nike men navy blue t-shirt", "puma black shoe", "red bag", "blue watch"]
    types = ["Tshirts", "Casual Shoes", "Handbags", None]
    colours = ["Navy Blue", "Black", "Red", "Blue"]
    acc = attribute_accuracy(titles, types, colours)
    # row 1: both; row 2: "Shoe" matches "Casual Shoes"; row 3: "bag" is not "Handbags"
    assert acc["attr_acc"] == pytest.approx(2 / 3)
    assert acc["type_acc"] == pytest.approx(2 / 3)
    assert acc["colour_acc"] == pytest.approx(1.0)
    assert acc["n"] == 3


def test_bad_metric_input() -> None:
    with pytest.raises(DataError, match="2 candidates but 1"):
        bleu4(["a", "b"], ["a"])
    with pytest.raises(DataError, match="no reference"):
        cider_d(["a"], [[]])
    assert set(caption_scores(["a b"], ["a b"])) == {"bleu4", "cider"}
