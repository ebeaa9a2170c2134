"""Attribute extraction: the weak-labelling rule, BIO round trip, span F1, dictionary baseline,
and a tiny tagger trained for real (fit, predict, evaluate, save/load, bad input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmshop.errors import DataError, ModelLoadError
from mmshop.extract import AttributeExtractor, DictionaryExtractor, WeakLabeller, span_f1
from mmshop.extract.labelling import LabelColumns, from_bio, to_bio, tokenize

BRANDS = ["Puma", "Nike", "United Colors of Benetton", "Zorro"]
GENDERS = ["Men", "Women"]
COLOURS = ["Black", "Navy Blue", "Red"]
TYPES = [("Tshirts", "T-shirt"), ("Casual Shoes", "Shoes"), ("Watches", "Watch")]


def catalogue(n: int = 72, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        brand = BRANDS[k % 4]
        gender = GENDERS[(k // 4) % 2]
        colour = COLOURS[int(rng.integers(3))]
        article, word = TYPES[(k // 8) % 3]
        rows.append(
            {
                "productDisplayName": f"{brand} {gender} {colour} Style{k % 5} {word}",
                "baseColour": colour,
                "articleType": article,
            }
        )
    return pd.DataFrame(rows)


def test_tokenize_keeps_hyphenated_words() -> None:
    assert tokenize("Nike Men's Blue T-shirt, 2-pack") == [
        "Nike", "Men's", "Blue", "T-shirt", ",", "2-pack",
    ]  # fmt: skip


def test_weak_labelling_rule() -> None:
    labeller = WeakLabeller().fit(catalogue()["productDisplayName"])
    assert ("united", "colors", "of", "benetton") in labeller.brands
    words = tokenize("United Colors of Benetton Men Navy Blue Polo T-shirt")
    spans = labeller.spans(words, {"colour": "Navy Blue", "type": "Tshirts"})
    named = [(" ".join(words[s:e]), t) for s, e, t in spans]
    assert named == [
        ("United Colors of Benetton", "BRAND"), ("Men", "GENDER"), ("Navy Blue", "COLOUR"),
        ("T-shirt", "TYPE"),
    ]  # fmt: skip
    # a brand seen in fewer than min_brand_titles titles is not labelled; a colour the title
    # does not contain gives no span; "Casual Shoes" matches the title's "Shoe"
    words = tokenize("Acme Women Running Shoe")
    spans = labeller.spans(words, {"colour": "Red", "type": "Casual Shoes"})
    assert [(words[s], t) for s, _, t in spans] == [("Women", "GENDER"), ("Shoe", "TYPE")]


def test_columns_for_gender_and_brand_override_the_fallbacks() -> None:
    cols = LabelColumns(gender="gender", brand="brand")
    labeller = WeakLabeller(cols)
    words = tokenize("Lotto Men Black Shoes for Women")
    spans = labeller.spans(words, {"gender": "Women", "brand": "Lotto", "colour": "Black"})
    assert [(words[s], t) for s, _, t in spans] == [
        ("Lotto", "BRAND"), ("Black", "COLOUR"), ("Women", "GENDER"),
    ]  # fmt: skip


def test_bio_round_trip_and_span_f1() -> None:
    spans = [(0, 2, "BRAND"), (2, 3, "GENDER"), (4, 5, "TYPE")]
    tags = to_bio(5, spans)
    assert tags == ["B-BRAND", "I-BRAND", "B-GENDER", "O", "B-TYPE"]
    assert from_bio(tags) == spans
    assert from_bio(["I-COLOUR", "I-COLOUR", "O"]) == [(0, 2, "COLOUR")]
    f1 = span_f1([spans], [[(0, 1, "BRAND"), (2, 3, "GENDER")]])
    assert f1["BRAND"] == 0.0 and f1["GENDER"] == 1.0 and f1["TYPE"] == 0.0
    assert f1["micro"] == pytest.approx(2 * 1 / (3 + 2))


def test_dictionary_baseline_matches_longest_phrase() -> None:
    d = DictionaryExtractor().fit(
        [["Navy", "Blue", "Shirt"], ["Blue", "Cap"]], [[(0, 2, "COLOUR")], [(0, 1, "COLOUR")]]
    )
    words = tokenize("Acme Navy Blue Shirt with Blue trim")
    assert d.predict(words) == [(1, 3, "COLOUR")]


@pytest.fixture(scope="module")
def extractor(tmp_path_factory) -> AttributeExtractor:
    tmp = tmp_path_factory.mktemp("extract")
    ex = AttributeExtractor(
        dim=32, layers=1, heads=2, batch_size=16,
        trainer={"epochs": 12, "lr": 5e-3, "progress": False, "monitor": "micro_f1",
                 "patience": None},
    )  # fmt: skip
    return ex.fit(catalogue(), work_dir=tmp / "work", progress=False)


def test_tagger_learns_the_weak_labels(extractor: AttributeExtractor) -> None:
    scores = extractor.evaluate(catalogue(36, seed=1))
    assert scores["micro"] >= 0.9, scores
    found = extractor.predict(["Zorro Women Navy Blue Style3 Watch"])[0]
    assert found == {"BRAND": "Zorro", "GENDER": "Women", "COLOUR": "Navy Blue", "TYPE": "Watch"}


def test_bad_titles_get_clear_errors(extractor: AttributeExtractor) -> None:
    with pytest.raises(DataError, match="title 2: title is empty"):
        extractor.predict(["Puma Men Red Shoes", "  "])
    with pytest.raises(DataError, match="not valid UTF-8"):
        extractor.predict([b"\xffPuma"])
    with pytest.raises(DataError, match="characters long"):
        extractor.predict(["x" * 5000])


def test_save_load_round_trip(extractor: AttributeExtractor, tmp_path: Path) -> None:
    extractor.save(tmp_path / "ex")
    loaded = AttributeExtractor.load(tmp_path / "ex")
    titles = ["Nike Men Black Style1 T-shirt", "Puma Women Red Style2 Shoes"]
    assert loaded.predict(titles) == extractor.predict(titles)
    (tmp_path / "ex" / "extractor.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="checksum"):
        AttributeExtractor.load(tmp_path / "ex")
