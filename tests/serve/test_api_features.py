"""Recommendations, preferences, size advice, sentiment, extraction and captions against the
real `mmshop serve` process (tiny trained models; see conftest.feature_models)."""

from __future__ import annotations

import sqlite3

from tests.serve.conftest import API_KEY
from tests.serve.test_api import assert_error, jpeg

AUTH = {"X-API-Key": API_KEY}


def _recs(client, user: str, **params) -> dict:
    r = client.get(f"/v1/users/{user}/recommendations", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _category(client, product_id: str) -> str:
    return client.get(f"/v1/products/{product_id}").json()["fields"]["category"]


def test_recommendations_change_after_feedback(client) -> None:
    user = "u-rec-flow"
    before = _recs(client, user, k=8)
    assert before["user_id"] == user and len(before["items"]) == 8
    assert all(i["reason"] and i["product"]["title"] for i in before["items"])
    assert before["model_version"].startswith("search-index")
    bags = [p for p in ("p002", "p006", "p010", "p014")]
    assert {_category(client, p) for p in bags} == {"bag"}
    events = {
        "events": [
            {"user_id": user, "product_id": "p002", "event_type": "click"},
            {"user_id": user, "product_id": "p006", "event_type": "add_to_cart"},
            {"user_id": user, "product_id": "p010", "event_type": "purchase"},
        ]
    }
    assert client.post("/v1/events", json=events, headers=AUTH).status_code == 201
    after = _recs(client, user, k=8)
    ids = [i["product"]["id"] for i in after["items"]]
    assert ids != [i["product"]["id"] for i in before["items"]]
    assert "p010" not in ids  # purchased items are not recommended again
    top = after["items"][:4]
    assert all(i["product"]["fields"]["category"] == "bag" for i in top), top
    assert any("you" in i["reason"] for i in top), [i["reason"] for i in top]
    # one more event changes the next answer again (online, no retraining)
    click = {"user_id": user, "product_id": "p001", "event_type": "thumbs_up"}
    assert client.post("/v1/events", json=click, headers=AUTH).status_code == 201
    again = _recs(client, user, k=8)
    assert [i["score"] for i in again["items"]] != [i["score"] for i in after["items"]]


def test_recommendation_filters_diversity_and_bounds(client) -> None:
    shoes = _recs(client, "u-rec-filter", k=5, filter="category=shoe")
    assert {i["product"]["fields"]["category"] for i in shoes["items"]} == {"shoe"}
    cheap = _recs(client, "u-rec-filter", k=5, filter="price=10..20")
    prices = [i["product"]["fields"]["price"] for i in cheap["items"]]
    assert prices and all(10 <= p <= 20 for p in prices)
    varied = _recs(client, "u-rec-filter", k=6, diversity=0.8)
    assert len(varied["items"]) == 6
    assert_error(client.get("/v1/users/u/recommendations", params={"k": 0}), 400, "bad_query")
    assert_error(client.get("/v1/users/u/recommendations", params={"k": 101}), 400, "bad_query")
    bad_div = client.get("/v1/users/u/recommendations", params={"diversity": 2})
    assert_error(bad_div, 400, "bad_query")
    unknown = client.get("/v1/users/u/recommendations", params={"filter": "nope=1"})
    assert "unknown field" in assert_error(unknown, 400, "bad_query")["message"]
    ranged = client.get("/v1/users/u/recommendations", params={"filter": "colour>=3"})
    assert "price" in assert_error(ranged, 400, "bad_query")["message"]


def test_preferences_round_trip_auth_and_cold_start(client, server) -> None:
    url = "/v1/users/u-pref/preferences"
    prefs = {"colours": ["green"], "usages": ["casual"], "price_min": 30, "price_max": 46}
    assert_error(client.put(url, json=prefs), 401, "unauthorized")
    assert_error(client.get(url), 401, "unauthorized")
    empty = client.get("/v1/users/u-nobody/preferences", headers=AUTH).json()
    assert empty["colours"] == [] and empty["updated_at"] is None
    r = client.put(url, json=prefs, headers=AUTH)
    assert r.status_code == 200, r.text
    got = client.get(url, headers=AUTH).json()
    assert got["colours"] == ["green"] and got["price_max"] == 46 and got["updated_at"] > 0
    with sqlite3.connect(server.db) as conn:
        (data,) = conn.execute("SELECT data FROM preferences WHERE user_id='u-pref'").fetchone()
    assert '"green"' in data
    recs = _recs(client, "u-pref", k=6)["items"]  # no history: preferences + popularity
    assert recs and all(30 <= i["product"]["fields"]["price"] <= 46 for i in recs)
    assert any("green" in i["reason"] or "casual" in i["reason"] for i in recs), recs
    bad = client.put(url, json={"price_min": 50, "price_max": 10}, headers=AUTH)
    assert "price_min" in assert_error(bad, 400, "bad_query")["message"]
    assert_error(client.put(url, json={"colour": ["x"]}, headers=AUTH), 422, "invalid_request")
    assert_error(client.put(url, json={"sizes": "M"}, headers=AUTH), 422, "invalid_request")
    assert client.get(url, headers=AUTH).json()["colours"] == ["green"]  # unchanged


def test_size_advice_from_the_body_size_model(client) -> None:
    url = "/v1/fit/size-advice"
    r = client.post(url, json={"measurements": {"height": 170, "weight": "62kg", "age": 30}})
    assert r.status_code == 200, r.text
    advice = r.json()
    assert advice["source"] == "body_size_model" and advice["size"] in {"S", "M", "L", "XL"}
    probs = {o["size"]: o["probability"] for o in advice["options"]}
    assert abs(sum(probs.values()) - 1) < 1e-3 and advice["fit_probability"] == max(probs.values())
    assert advice["measurements_missing"] == [] and "confidence" in advice["note"]
    big = client.post(url, json={"measurements": {"height": "6' 4\"", "weight": "130kg"}}).json()
    order = ["S", "M", "L", "XL"]
    assert order.index(big["size"]) > order.index(advice["size"])
    partial = client.post(url, json={"measurements": {"height": "170cm"}}).json()
    assert partial["measurements_used"] == ["height_cm"]
    assert partial["measurements_missing"] == ["weight_kg", "age"]
    none = client.post(url, json={"measurements": {}}).json()
    assert none["size"] and "no measurements" in none["note"]


def test_impossible_measurements_name_the_field(client) -> None:
    url = "/v1/fit/size-advice"
    for measurements, field in (
        ({"height": "20m"}, "height_cm"),
        ({"weight": -5}, "weight_kg"),
        ({"age": 300}, "age"),
        ({"height": "tall"}, "height_cm"),
    ):
        body = assert_error(client.post(url, json={"measurements": measurements}), 400,
                            "bad_measurement")  # fmt: skip
        assert body["field"] == field and body["message"].startswith(field), body
    unknown = client.post(url, json={"measurements": {"shoe": 42}})
    assert "unknown measurement" in assert_error(unknown, 400, "bad_measurement")["message"]
    assert_error(client.post(url, json={"measurements": []}), 422, "invalid_request")


def test_size_advice_from_the_fit_model(client) -> None:
    url = "/v1/fit/size-advice"
    body = {"item_id": "i3", "user_id": "u1", "measurements": {"height": "5' 6\"", "weight": 65}}
    advice = client.post(url, json=body).json()
    assert advice["source"] == "fit_model" and advice["item_id"] == "i3", advice
    assert advice["new_item"] is False and advice["size"] in {o["size"] for o in advice["options"]}
    best = max(advice["options"], key=lambda o: o["fit"])
    assert advice["fit_probability"] == best["fit"] == best["probability"]
    new = client.post(url, json={"item_id": "x9", "category": "dress", "measurements": {}})
    assert new.json()["source"] == "fit_model" and new.json()["new_item"] is True
    # a catalogue product the fit model never saw: the body-size model answers, and says so
    shop = client.post(url, json={"item_id": "p005", "measurements": {"height": 180}}).json()
    assert shop["source"] == "body_size_model" and "does not know item p005" in shop["note"]


def test_review_sentiment(client) -> None:
    url = "/v1/reviews/sentiment"
    reviews = [
        {"text": "love this dress 1", "dept": "Dresses"},
        {"text": "terrible quality returned it 2", "dept": "Tops"},
    ]
    r = client.post(url, json={"reviews": reviews})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 2
    for res in results:
        assert res["sentiment"] in {"negative", "neutral", "positive"}
        assert abs(sum(res["probabilities"].values()) - 1) < 1e-3
        assert res["confidence"] == max(res["probabilities"].values())
    assert results[0]["probabilities"]["positive"] > results[1]["probabilities"]["positive"]


def test_review_bad_input(client) -> None:
    url = "/v1/reviews/sentiment"
    empty = client.post(url, json={"reviews": [{"text": "ok"}, {"text": "   "}]})
    assert assert_error(empty, 400, "bad_input")["field"] == "reviews[1].text"
    long = client.post(url, json={"reviews": [{"text": "x" * 6000}]})
    assert "5,000" in assert_error(long, 413, "too_large")["message"]
    megabyte = client.post(url, json={"reviews": [{"text": "y" * 1_000_000}]})
    assert_error(megabyte, 413, "too_large")
    many = client.post(url, json={"reviews": [{"text": "fine"}] * 101})
    assert_error(many, 413, "too_large")
    latin1 = '{"reviews": [{"text": "caf\xe9 tr\xe8s bien"}]}'.encode("latin-1")
    bad = client.post(url, content=latin1, headers={"Content-Type": "application/json"})
    assert "UTF-8" in assert_error(bad, 400, "bad_encoding")["message"]
    nested = client.post(url, json={"reviews": [{"text": "ok", "dept": {"a": 1}}]})
    assert assert_error(nested, 400, "bad_input")["field"] == "reviews[0].dept"
    assert_error(client.post(url, json={"reviews": []}), 422, "invalid_request")
    assert_error(client.post(url, json={"reviews": [{"txt": "x"}]}), 422, "invalid_request")


def test_attribute_extraction(client) -> None:
    r = client.post("/v1/extract", json={"titles": ["Red casual shoe model 7", "Blue bag"]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["title"] for x in results] == ["Red casual shoe model 7", "Blue bag"]
    first = results[0]
    words = ["Red", "casual", "shoe", "model", "7"]
    for span in first["spans"]:
        assert " ".join(words[span["start"] : span["end"]]) == span["text"]
    assert first["attributes"].get("COLOUR") == "Red", first
    assert first["attributes"].get("TYPE") == "shoe", first
    empty = client.post("/v1/extract", json={"titles": ["ok", " "]})
    assert assert_error(empty, 400, "bad_input")["field"] == "titles[1]"
    assert_error(client.post("/v1/extract", json={"titles": ["x"] * 201}), 413, "too_large")
    assert_error(client.post("/v1/extract", json={"titles": ["x" * 1001]}), 413, "too_large")


def test_caption_suggests_a_title_for_a_photo(client) -> None:
    from helpers import CATEGORY_RGB

    r = client.post("/v1/caption", files={"image": ("s.jpg", jpeg(CATEGORY_RGB["shoe"]), "x")})
    assert r.status_code == 200, r.text
    title = r.json()["title"]
    assert isinstance(title, str) and title.strip()
    vocabulary = {"shirt", "shoe", "bag", "watch", "casual", "formal", "model", "red", "blue",
                  "black", "white", "green"}  # fmt: skip
    assert set(title.lower().split()) & vocabulary, title
    greedy = client.post(
        "/v1/caption", files={"image": ("s.jpg", jpeg(), "image/jpeg")}, data={"beams": "1"}
    )
    assert greedy.status_code == 200 and greedy.json()["title"]
    bad_beams = client.post(
        "/v1/caption", files={"image": ("s.jpg", jpeg(), "image/jpeg")}, data={"beams": "11"}
    )
    assert assert_error(bad_beams, 400, "bad_query")["field"] == "beams"
    fake = client.post("/v1/caption", files={"image": ("x.jpg", b"not an image" * 9, "image/jpeg")})
    assert_error(fake, 415, "unsupported_media_type")
    assert_error(client.post("/v1/caption", files={"image": ("e.jpg", b"", "image/jpeg")}), 400,
                 "bad_request")  # fmt: skip
    assert client.get("/v1/page-config").json()["caption"] is True
    health = client.get("/v1/health").json()["models"]
    assert all(health.values()), health
