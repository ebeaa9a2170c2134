"""The service's recommender in process: item vectors from the index (or the attribute
fallback), column roles found by name, incremental event sync, preferences, popularity."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from helpers import make_tiny_catalog
from mmshop.data import Catalog
from mmshop.errors import ConfigError
from mmshop.index.store import ProductIndex
from mmshop.recommend import Preferences
from mmshop.serve.recommendations import build_recommender, column_roles, index_items
from mmshop.serve.store import Event, SQLiteStore


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.open(make_tiny_catalog(tmp_path / "cat", n=32, seed=1))


def _index(catalog: Catalog, drop: int = 0) -> ProductIndex:
    ids = [str(i) for i in catalog.df["id"]][drop:]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(ids), 8)).astype(np.float32)
    return ProductIndex.build(ids, vectors)


def test_column_roles_are_found_by_name(catalog: Catalog) -> None:
    roles = column_roles(catalog, "title")
    assert roles["colour_column"] == "colour" and roles["type_column"] == "category"
    assert roles["usage_column"] == "style" and roles["price_column"] == "price"
    assert roles["title_column"] == "title"
    assert roles["attribute_columns"] == ["colour", "category", "style"]


def test_items_reuse_the_index_vectors_else_fall_back_to_attributes(catalog: Catalog) -> None:
    index = _index(catalog)
    items = index_items(catalog, index, "title")
    assert items.source == "search-index" and len(items) == 32
    expected = index.vector_of("p005") / np.linalg.norm(index.vector_of("p005"))
    assert np.allclose(items.embeddings[items.index["p005"]], expected, atol=1e-6)
    partial = index_items(catalog, _index(catalog, drop=3), "title")  # 3 products not indexed
    assert partial.source == "attributes" and len(partial) == 32


def test_sync_is_incremental_and_preferences_persist(catalog: Catalog, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.add_events([Event("old", "p001", "purchase")])
    rec = build_recommender(catalog, _index(catalog), "title", store, None)
    assert rec.recommender.last_event_id == 1  # stored events replayed at start-up
    cold = [r.item_id for r in rec.recommend("ana", 5)]
    store.add_events([Event("ana", "p002", "purchase"), Event("ana", "nope", "click")])
    warm = rec.recommend("ana", 5)
    assert [r.item_id for r in warm] != cold and "p002" not in [r.item_id for r in warm]
    assert rec.recommender.last_event_id == 3 and rec.recommender.skipped_events == 1
    rec.recommend("ana", 5)
    assert rec.recommender.profiles["ana"].events == 1  # nothing replayed twice

    rec.set_preferences("bo", Preferences(colours=["red"], price_max=25.0))
    again = build_recommender(catalog, _index(catalog), "title", store, None)  # a restart
    picks = again.recommend("bo", 4)
    prices = catalog.df.set_index("id")["price"]
    assert picks and all(prices[r.item_id] <= 25.0 for r in picks)
    prefs, stamp = again.get_preferences("bo")
    assert prefs.colours == ["red"] and stamp is not None
    store.close()


def test_concurrent_requests_and_events_are_safe(catalog: Catalog, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    rec = build_recommender(catalog, _index(catalog), "title", store, None)
    errors: list[BaseException] = []

    def shopper(n: int) -> None:
        try:
            for i in range(10):
                store.add_events([Event(f"u{n}", f"p{(n + i) % 32:03d}", "click")])
                assert len(rec.recommend(f"u{n}", 3)) == 3
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=shopper, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    rec.recommend("u0", 1)
    assert rec.recommender.last_event_id == 60
    assert sum(p.events for p in rec.recommender.profiles.values()) == 60
    store.close()


def test_popularity_column_seeds_the_ranking(catalog: Catalog, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    sales = np.zeros(len(catalog.df))
    sales[7] = 100.0
    catalog.df["sales"] = sales
    rec = build_recommender(catalog, _index(catalog), "title", store, "sales")
    first = rec.recommend("new", 1)[0]
    assert first.item_id == str(catalog.df["id"].iloc[7]) and first.reason == "popular right now"
    with pytest.raises(ConfigError, match="popularity_column 'nope'"):
        build_recommender(catalog, _index(catalog), "title", store, "nope")
    store.close()
