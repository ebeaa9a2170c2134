"""Recommender on a tiny catalogue: cold start, history, online updates, filters, diversity."""

from __future__ import annotations

import numpy as np
import pytest

from mmshop.errors import ConfigError, DataError, ModelLoadError, QueryError
from mmshop.recommend import (
    ItemCatalogue,
    Preferences,
    Recommender,
    combine,
    interaction_embeddings,
)


def _attr(products, item_id, column):
    return products.set_index("id").loc[item_id, column]


def test_cold_start_from_preferences(items, products):
    rec = Recommender(items)
    rec.set_preferences("new", {"colours": ["red"], "usages": ["Sports"]})
    top = rec.recommend("new", k=3)
    assert len(top) == 3
    for r in top:
        assert _attr(products, r.item_id, "baseColour") == "Red"
        assert _attr(products, r.item_id, "usage") == "Sports"
        assert r.reason == "in your colour (red)"
    # a stranger without preferences or history still gets an answer
    assert len(rec.recommend("stranger", k=5)) == 5


def test_history_similarity_exclusion_and_reason(items, products):
    rec = Recommender(items)
    bought = "1004"  # Blue? -> look it up rather than assume
    colour, kind = _attr(products, bought, "baseColour"), _attr(products, bought, "articleType")
    rec.record_event("ann", bought, "purchase")
    top = rec.recommend("ann", k=4)
    assert bought not in [r.item_id for r in top]  # purchases are not recommended again
    first = products.set_index("id").loc[top[0].item_id]
    assert (first["baseColour"], first["articleType"]) == (colour, kind)
    title = _attr(products, bought, "productDisplayName")
    assert top[0].reason == f"similar to {title} you bought"
    assert top == sorted(top, key=lambda r: -r.score)


def test_a_new_click_changes_the_next_answer(items, products):
    rec = Recommender(items)
    rec.record_event("bo", "1000", "purchase")
    before = [r.item_id for r in rec.recommend("bo", k=5)]
    other = products[
        (products["baseColour"] != _attr(products, "1000", "baseColour"))
        & (products["articleType"] != _attr(products, "1000", "articleType"))
    ]["id"].iloc[0]
    for _ in range(3):
        rec.record_event("bo", other, "click")
    after = [r.item_id for r in rec.recommend("bo", k=5)]
    assert before != after
    assert _attr(products, after[0], "articleType") == _attr(products, other, "articleType")
    rec.record_event("bo", other, "thumbs_down")
    rec.record_event("bo", other, "thumbs_down")
    rec.record_event("bo", other, "thumbs_down")
    assert rec.recommend("bo", k=1)[0].item_id != other


def test_filters(items, products):
    rec = Recommender(items)
    rec.record_event("cy", "1001", "view")
    top = rec.recommend("cy", k=5, filters={"usage": ["sports"], "price_max": 25})
    assert top
    for r in top:
        assert _attr(products, r.item_id, "usage") == "Sports"
        assert _attr(products, r.item_id, "price") <= 25
    sized = rec.recommend("cy", k=5, filters={"size": "S"})
    assert all("S" in _attr(products, r.item_id, "sizes").split("|") for r in sized)
    rec.set_preferences("cy", Preferences(sizes=["L"], price_min=30))
    for r in rec.recommend("cy", k=5):
        assert "L" in _attr(products, r.item_id, "sizes").split("|")
        assert _attr(products, r.item_id, "price") >= 30
    assert rec.recommend("cy", k=3, filters={"usage": "Formal"}) == []
    with pytest.raises(QueryError, match="filters: unknown field 'material'"):
        rec.recommend("cy", k=3, filters={"material": "silk"})


def test_diversity_spreads_the_list(items, products):
    rec = Recommender(items)
    rec.record_event("di", "1000", "purchase")
    plain = rec.recommend("di", k=6)
    diverse = rec.recommend("di", k=6, diversity=0.8)

    def kinds(recs):
        return len({(_attr(products, r.item_id, "baseColour"),
                     _attr(products, r.item_id, "articleType")) for r in recs})  # fmt: skip

    assert kinds(diverse) > kinds(plain)


def test_bad_input(items):
    rec = Recommender(items)
    with pytest.raises(QueryError, match="k must be"):
        rec.recommend("x", k=0)
    with pytest.raises(QueryError, match="event_type: unknown 'like'"):
        rec.record_event("x", "1000", "like")
    with pytest.raises(QueryError, match="item_id: unknown item 'nope'"):
        rec.record_event("x", "nope", "view")
    with pytest.raises(QueryError, match="user_id"):
        rec.record_event("", "1000", "view")
    with pytest.raises(QueryError, match="diversity"):
        rec.recommend("x", k=2, diversity=2)
    with pytest.raises(QueryError, match="price_min 9 is above price_max 1"):
        Preferences(price_min=9, price_max=1)
    with pytest.raises(QueryError, match="unknown preference"):
        rec.set_preferences("x", {"colour": ["red"]})
    with pytest.raises(ConfigError, match="decay"):
        Recommender(items, overrides={"decay": 0})


def test_size_returns_keep_the_taste(items):
    rec = Recommender(items)
    rec.record_event("ed", "1000", "return", reason="too_small")
    profile = rec.profiles["ed"]
    assert profile.fit_returns == [(items.position("1000"), "too_small")]
    assert float(profile.vector @ items.embeddings[items.position("1000")]) > 0
    rec.record_event("fi", "1000", "return", reason="quality")
    assert float(rec.profiles["fi"].vector @ items.embeddings[items.position("1000")]) < 0


def test_catalogue_io_and_interactions(items, products, tmp_path):
    path = items.save(tmp_path / "items")
    loaded = ItemCatalogue.load(path)
    assert loaded.ids == items.ids
    np.testing.assert_allclose(loaded.embeddings, items.embeddings, atol=1e-6)
    assert list(loaded.attributes.columns) == list(items.attributes.columns)
    (path / "items.json").write_text("{}")
    with pytest.raises(ModelLoadError):
        ItemCatalogue.load(path)
    import pandas as pd

    inter = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"],
                          "item_id": ["1000", "1001", "1000", "1001", "1002"]})  # fmt: skip
    cf = interaction_embeddings(items.ids, inter, dim=2)
    assert cf.shape[0] == len(items)
    i0, i1, i2 = (items.position(x) for x in ("1000", "1001", "1002"))
    assert cf[i0] @ cf[i1] > cf[i0] @ cf[i2]
    assert not cf[items.position("1010")].any()  # never bought: zero vector
    both = combine(items, cf)
    assert both.embeddings.shape[1] == items.embeddings.shape[1] + cf.shape[1]
    with pytest.raises(DataError, match="duplicate item id"):
        ItemCatalogue(["1", "1"], np.ones((2, 2)))


def test_trending_popularity_favours_recent_events(items):
    plain = Recommender(items, overrides={"popularity": 1.0})
    trending = Recommender(items, overrides={"popularity": 1.0, "popularity_half_life": 2.0})
    for rec in (plain, trending):
        for n in range(6):
            rec.record_event(f"old{n}", "1000", "view")
        for n in range(3):
            rec.record_event(f"new{n}", "1001", "view")
    assert plain.recommend("someone", k=1)[0].item_id == "1000"
    assert trending.recommend("someone", k=1)[0].item_id == "1001"
    assert trending.recommend("someone", k=1)[0].reason == "popular right now"
    with pytest.raises(ConfigError, match="popularity_half_life"):
        Recommender(items, overrides={"popularity_half_life": 0})
