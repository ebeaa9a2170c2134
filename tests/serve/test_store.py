"""SQLiteStore: WAL mode, versioned migrations, products, events, concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from mmshop.errors import ConfigError, DataError, ModelLoadError
from mmshop.serve.store import LATEST, MIGRATIONS, Event, Product, SQLiteStore, Store


def test_fresh_store_is_wal_and_fully_migrated(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        assert isinstance(store, Store)
        assert store.schema_version() == LATEST == len(MIGRATIONS)
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in MIGRATIONS]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"events_user", "events_product", "events_type"} <= indexes


def test_old_schema_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)  # turn it back into a version-1 database

    conn.execute("DROP INDEX events_type")
    conn.execute("DROP TABLE preferences")
    conn.execute("DELETE FROM schema_migrations WHERE version > 1")
    conn.execute(
        "INSERT INTO events (created_at, user_id, product_id, event_type, context) "
        "VALUES (1.0, 'u', 'p', 'view', '{}')"
    )
    conn.commit()
    conn.close()
    with SQLiteStore(path) as upgraded:
        assert upgraded.schema_version() == LATEST
        assert [e.event_type for e in upgraded.events()] == ["view"]
        assert upgraded.get_preferences("u") is None  # the version-3 table exists again


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (?, 'future', 0)", (LATEST + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(ModelLoadError, match="newer than this mmshop"):
        SQLiteStore(path)


def test_products_upsert_and_read_back(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        store.upsert_products(
            [Product("1", "Red shirt", "images/1.jpg", {"colour": "red", "price": 9.5})]
        )
        store.upsert_products([Product("1", "Red shirt v2", None, {}), Product("2", "Bag")])
        assert store.count_products() == 2
        assert store.get_product("1") == Product("1", "Red shirt v2", None, {})
        assert store.get_product("nope") is None
        assert set(store.get_products(["1", "2", "3"])) == {"1", "2"}


def test_events_round_trip_filter_and_page(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        ids = store.add_events(
            [
                Event("u1", "p1", "view", context={"query": "shirt", "rank": 2}),
                Event("u1", "p1", "return", reason="too_small", value=19.99),
                Event("u2", "p2", "thumbs_up", session_id="s"),
            ]
        )
        assert ids == sorted(ids) and len(ids) == 3
        got = store.events(user_id="u1")
        assert [e.event_type for e in got] == ["view", "return"]
        assert got[0].context == {"query": "shirt", "rank": 2} and got[0].created_at
        assert got[1].reason == "too_small" and got[1].value == pytest.approx(19.99)
        assert [e.user_id for e in store.events(event_types=["thumbs_up"])] == ["u2"]
        assert [e.id for e in store.events(after_id=ids[0], limit=1)] == [ids[1]]
        assert store.count_events() == 3


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (Event("u", "p", "like"), "event_type must be one of"),
        (Event("u", "p", "return"), "needs a reason"),
        (Event("u", "p", "view", reason="too_small"), "only 'return' events"),
        (Event("", "p", "view"), "user_id"),
        (Event("u", "p", "view", value=float("nan")), "finite"),
    ],
)
def test_bad_events_are_refused_and_nothing_of_the_batch_is_stored(
    tmp_path: Path, event: Event, message: str
) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        with pytest.raises(DataError, match=message):
            store.add_events([Event("u", "p", "view"), event])
        assert store.count_events() == 0


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    stores = [SQLiteStore(path, synchronous="normal") for _ in range(2)]  # two "processes"
    acknowledged: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        store = stores[n % 2]
        for i in range(40):
            ids = store.add_events([Event(f"u{n}", f"p{i}", "click")])
            with lock:
                acknowledged.extend(ids)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(acknowledged) == len(set(acknowledged)) == 12 * 40
    for s in stores:
        s.close()
    with SQLiteStore(path) as reopened:
        assert reopened.count_events() == 12 * 40
        assert {e.id for e in reopened.events(limit=10_000)} == set(acknowledged)


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file path"):
        SQLiteStore(":memory:")
    with pytest.raises(ConfigError, match="synchronous"):
        SQLiteStore(tmp_path / "s.db", synchronous="off")
    store = SQLiteStore(tmp_path / "s.db")
    store.close()
    with pytest.raises(ModelLoadError, match="closed"):
        store.count_events()


def test_preferences_are_stored_replaced_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SQLiteStore(path) as store:
        assert store.get_preferences("ana") is None
        first = store.set_preferences("ana", {"colours": ["Black"], "price_max": 50})
        second = store.set_preferences("ana", {"colours": ["Navy"], "sizes": ["M"]})
        assert second >= first
        with pytest.raises(DataError, match="user_id"):
            store.set_preferences("", {"colours": ["Red"]})
    with SQLiteStore(path) as reopened:
        prefs, stamp = reopened.get_preferences("ana")
        assert prefs == {"colours": ["Navy"], "sizes": ["M"]} and stamp == second
