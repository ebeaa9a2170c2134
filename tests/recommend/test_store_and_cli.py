"""The recommender reads the service's real SQLite event store; CLI commands; the simulator."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mmshop.cli import app
from mmshop.recommend import (
    EventSource,
    Recommender,
    SimulatorConfig,
    leave_last_session_out,
    simulate_shoppers,
)

runner = CliRunner()


def test_sync_reads_new_events_from_the_sqlite_store(items, tmp_path):
    from mmshop.serve.store import Event, SQLiteStore

    store = SQLiteStore(tmp_path / "shop.sqlite")
    try:
        assert isinstance(store, EventSource)
        store.add_events(
            [
                Event(user_id="gus", product_id="1000", event_type="purchase"),
                Event(user_id="gus", product_id="1001", event_type="view"),
                Event(user_id="gus", product_id="not-in-catalogue", event_type="view"),
                Event(user_id="hal", product_id="1002", event_type="return", reason="too_large"),
            ]
        )
        rec = Recommender(items)
        assert rec.sync(store, page=2) == 3
        assert rec.skipped_events == 1
        assert rec.profiles["gus"].events == 2
        assert rec.profiles["hal"].fit_returns == [(items.position("1002"), "too_large")]
        before = [r.item_id for r in rec.recommend("gus", k=3)]
        assert "1000" not in before
        store.add_events([Event(user_id="gus", product_id="1030", event_type="click")] * 3)
        assert rec.sync(store) == 3  # only the new events are read
        assert rec.profiles["gus"].events == 5
        assert [r.item_id for r in rec.recommend("gus", k=3)] != before
    finally:
        store.close()


def test_cli_recommend(products, tmp_path):
    csv = tmp_path / "products.csv"
    products.to_csv(csv, index=False)
    out = tmp_path / "items"
    result = runner.invoke(
        app,
        ["recommend-items", str(csv), "--out", str(out),
         "--column", "baseColour", "--column", "articleType", "--column", "usage"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "36 items embedded (attributes" in result.output
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps({"user_id": "ivy", "product_id": "1004", "event_type": "purchase"}) + "\n"
        + json.dumps({"user_id": "ivy", "product_id": "zzz", "event_type": "view"}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    result = runner.invoke(
        app,
        ["recommend", "ivy", "--items", str(out), "--events", str(events), "--k", "3",
         "--filter", "usage=Casual", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["skipped_events"] == 1 and len(payload["items"]) == 3
    usage = products.set_index("id")["usage"]
    assert all(usage[r["item_id"]] == "Casual" for r in payload["items"])
    assert payload["items"][0]["reason"].startswith("similar to ")
    cold = runner.invoke(app, ["recommend", "new", "--items", str(out), "--colour", "Black"])
    assert cold.exit_code == 0 and "in your colour (black)" in cold.output
    bad = runner.invoke(app, ["recommend", "ivy", "--items", str(out), "--k", "0"])
    assert bad.exit_code == 2 and "k must be" in bad.output
    bad = runner.invoke(app, ["recommend", "ivy", "--items", str(out), "--filter", "fabric=x"])
    assert bad.exit_code == 2 and "unknown field 'fabric'" in bad.output


def test_simulator_is_seeded_and_holds_out_the_last_purchase(products):
    cfg = SimulatorConfig(shoppers=20, seed=3)
    a = simulate_shoppers(products, cfg)
    b = simulate_shoppers(products, cfg)
    assert a.equals(b)
    assert not a.equals(simulate_shoppers(products, SimulatorConfig(shoppers=20, seed=4)))
    assert set(a["event_type"]) == {"view", "purchase"}
    history, truth = leave_last_session_out(a)
    assert len(truth) > 0 and truth["user_id"].is_unique
    for user, item in truth.itertuples(index=False):
        mine = a[a["user_id"] == user]
        last = mine[mine["event_type"] == "purchase"]["session"].max()
        assert (
            mine[(mine["session"] == last) & (mine["event_type"] == "purchase")]["item_id"].iloc[-1]
            == item
        )
        kept = history[history["user_id"] == user]
        assert len(kept) > 0 and kept["session"].max() < last
    with pytest.raises(ValueError, match="purchase_rate"):
        SimulatorConfig(purchase_rate=0)
