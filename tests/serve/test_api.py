"""The HTTP API against a real `mmshop serve` process on localhost (see conftest.Server)."""

from __future__ import annotations

import io
import sqlite3
import threading

import httpx
import numpy as np
from PIL import Image
from tests.serve.conftest import API_KEY

from helpers import CATEGORY_RGB

AUTH = {"X-API-Key": API_KEY}


def jpeg(rgb=(40, 160, 40), size=(24, 24), fmt="JPEG") -> bytes:
    rng = np.random.default_rng(0)
    pixels = np.clip(np.array(rgb) + rng.integers(-10, 11, (size[1], size[0], 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(buf, format=fmt)
    return buf.getvalue()


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == code and body["message"], body
    assert "Traceback" not in r.text
    return body


def test_health_version_and_openapi(client) -> None:
    h = client.get("/v1/health").json()
    assert h["status"] == "ok" and h["products"] == 64 and h["indexed"] == 64 and h["tagger"]
    v = client.get("/v1/version").json()
    assert v["api"] == "1" and v["search_model_version"] and v["tagger_labels"]
    paths = client.get("/v1/openapi.json").json()["paths"]
    for path in (
        "/v1/search",
        "/v1/search/image",
        "/v1/products/{product_id}",
        "/v1/products/{product_id}/similar",
        "/v1/predict",
        "/v1/events",
        "/v1/users/{user_id}/recommendations",
        "/v1/users/{user_id}/preferences",
        "/v1/fit/size-advice",
        "/v1/reviews/sentiment",
        "/v1/extract",
        "/v1/caption",
    ):
        assert path in paths, path
    assert client.get("/").text.startswith("<!doctype html>")


def test_text_search_with_facets_and_filters(client) -> None:
    r = client.get("/v1/search", params={"q": "green shoe", "k": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["results"]) == 10 and body["results"][0]["rank"] == 1
    first = body["results"][0]
    assert first["image_url"] == f"/v1/products/{first['id']}/image" and first["title"]
    assert set(body["facets"]) == {"category", "colour"}
    assert sum(body["facets"]["category"].values()) == 10
    only = client.get("/v1/search", params={"q": "green shoe", "filter": "category=bag"}).json()
    assert only["results"] and {h["fields"]["category"] for h in only["results"]} == {"bag"}
    both = client.get(
        "/v1/search", params=[("q", "x"), ("filter", "category=bag"), ("filter", "category=shoe")]
    ).json()
    assert {h["fields"]["category"] for h in both["results"]} == {"bag", "shoe"}
    lexical = client.get("/v1/search", params={"q": "shoe", "mode": "hybrid", "k": 3}).json()
    assert lexical["mode"] == "hybrid" and len(lexical["results"]) == 3


def test_query_and_k_bounds_are_json_errors(client) -> None:
    assert_error(client.get("/v1/search", params={"q": "  "}), 400, "bad_query")
    assert_error(client.get("/v1/search", params={"q": "x" * 201}), 400, "bad_query")
    assert_error(client.get("/v1/search", params={"q": "x", "k": 0}), 400, "bad_query")
    assert_error(client.get("/v1/search", params={"q": "x", "k": 101}), 400, "bad_query")
    assert_error(client.get("/v1/search", params={"q": "x", "k": "many"}), 422, "invalid_request")
    assert_error(client.get("/v1/search"), 422, "invalid_request")
    bad = assert_error(
        client.get("/v1/search", params={"q": "x", "filter": "nope=1"}), 400, "bad_query"
    )
    assert "unknown filter field" in bad["message"]
    assert_error(client.get("/v1/search", params={"q": "x", "mode": "magic"}), 400, "bad_query")
    assert_error(client.get("/v1/nowhere"), 404, "not_found")
    assert_error(client.delete("/v1/search"), 405, "method_not_allowed")


def test_image_search_sniffs_bytes_and_enforces_limits(client) -> None:
    green = jpeg(CATEGORY_RGB["shoe"])
    r = client.post("/v1/search/image", files={"image": ("x.txt", green, "text/plain")})
    assert r.status_code == 200, r.text
    assert r.json()["mode"] == "image" and len(r.json()["results"]) == 24
    png = jpeg(CATEGORY_RGB["bag"], fmt="PNG")
    r = client.post(
        "/v1/search/image",
        files={"image": ("bag.png", png, "image/png")},
        data={"k": "5", "filter": "category=bag"},
    )
    assert r.status_code == 200 and {h["fields"]["category"] for h in r.json()["results"]} == {
        "bag"
    }
    fake = b"MZ\x90\x00 not an image at all" * 10
    assert_error(
        client.post("/v1/search/image", files={"image": ("photo.jpg", fake, "image/jpeg")}),
        415,
        "unsupported_media_type",
    )
    big = jpeg(size=(1200, 1000))  # 1.2 M pixels > the server's 1 M limit
    assert_error(
        client.post("/v1/search/image", files={"image": ("big.jpg", big, "image/jpeg")}),
        413,
        "image_too_large",
    )
    huge = b"\xff\xd8\xff" + bytes(400_000)  # > max_upload_bytes
    r = client.post("/v1/search/image", files={"image": ("h.jpg", huge, "image/jpeg")})
    assert_error(r, 413, "too_large")
    broken = b"\xff\xd8\xff\xe0" + b"garbage" * 20
    r = client.post("/v1/search/image", files={"image": ("b.jpg", broken, "image/jpeg")})
    assert_error(r, 422, "bad_image")


def test_product_detail_image_similar_and_attributes(client) -> None:
    p = client.get("/v1/products/p005").json()
    assert p["id"] == "p005" and p["title"] and p["fields"]["category"] in CATEGORY_RGB
    assert set(p["predicted"]) == {"category", "style"}
    top = p["predicted"]["category"]
    assert top[0]["probability"] >= top[-1]["probability"] and len(top) <= 3
    img = client.get(p["image_url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.content[:3] == b"\xff\xd8\xff"
    sim = client.get("/v1/products/p005/similar", params={"k": 5}).json()
    assert len(sim["results"]) == 5 and "p005" not in {h["id"] for h in sim["results"]}
    attrs = client.get("/v1/products/p005/attributes").json()
    assert attrs["attributes"] == p["predicted"]
    assert_error(client.get("/v1/products/nope"), 404, "not_found")
    assert_error(client.get("/v1/products/nope/similar"), 404, "not_found")
    assert_error(client.get("/v1/products/nope/image"), 404, "not_found")


def test_predict_attributes_of_a_new_product(client) -> None:
    r = client.post(
        "/v1/predict",
        files={"image": ("new.jpg", jpeg(CATEGORY_RGB["watch"]), "image/jpeg")},
        data={"title": "Black casual watch model 9", "attributes": '{"colour": "black"}'},
    )
    assert r.status_code == 200, r.text
    attrs = r.json()["attributes"]
    assert set(attrs) == {"category", "style"}
    probs = [c["probability"] for c in attrs["category"]]
    assert 1 <= len(probs) <= 3 and probs == sorted(probs, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0001
    bad = client.post(
        "/v1/predict",
        files={"image": ("new.jpg", jpeg(), "image/jpeg")},
        data={"title": "x", "attributes": '{"size": "XL"}'},
    )
    assert "unknown attribute" in assert_error(bad, 400, "bad_query")["message"]
    no_title = client.post(
        "/v1/predict", files={"image": ("n.jpg", jpeg(), "image/jpeg")}, data={"title": " "}
    )
    assert_error(no_title, 400, "bad_query")


def test_recommendation_schemas_are_documented(client) -> None:
    schema = client.get("/v1/openapi.json").json()["components"]["schemas"]
    assert {"items", "user_id"} <= set(schema["RecommendationsResponse"]["properties"])
    assert "reason" in schema["Recommendation"]["properties"]
    assert {"sizes", "colours", "price_min"} <= set(schema["PreferencesIn"]["properties"])


def test_events_need_the_key_and_are_stored(client, server) -> None:
    event = {"user_id": "u-api", "product_id": "p001", "event_type": "add_to_cart"}
    assert_error(client.post("/v1/events", json=event), 401, "unauthorized")
    assert_error(
        client.post("/v1/events", json=event, headers={"X-API-Key": "wrong-key-123"}),
        401,
        "unauthorized",
    )
    r = client.post("/v1/events", json=event, headers=AUTH)
    assert r.status_code == 201 and r.json()["stored"] == 1
    batch = {
        "events": [
            {"user_id": "u-api", "product_id": "p002", "event_type": "purchase", "value": 12.5},
            {"user_id": "u-api", "product_id": "p002", "event_type": "return",
             "reason": "too_large"},
        ]
    }  # fmt: skip
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert client.post("/v1/events", json=batch, headers=bearer).json()["stored"] == 2
    no_reason = {"user_id": "u", "product_id": "p", "event_type": "return"}
    assert_error(client.post("/v1/events", json=no_reason, headers=AUTH), 422, "bad_input")
    unknown = {**event, "event_type": "like"}
    assert_error(client.post("/v1/events", json=unknown, headers=AUTH), 422, "invalid_request")
    ghost = {"events": [event, {**event, "product_id": "no-such-product"}]}
    r = client.post("/v1/events", json=ghost, headers=AUTH)
    assert_error(r, 422, "unknown_product")
    assert "events[1]" in r.json()["message"] and "no-such-product" in r.json()["message"]
    too_many = {"events": [event] * 101}
    assert_error(client.post("/v1/events", json=too_many, headers=AUTH), 413, "too_large")
    listed = client.get("/v1/events", params={"user_id": "u-api"}, headers=AUTH).json()["events"]
    assert [e["event_type"] for e in listed] == ["add_to_cart", "purchase", "return"]
    assert listed[2]["reason"] == "too_large"
    assert_error(client.get("/v1/events"), 401, "unauthorized")
    with sqlite3.connect(server.db) as conn:  # durably in the file, readable by other processes
        rows = conn.execute("SELECT COUNT(*) FROM events WHERE user_id='u-api'").fetchone()[0]
    assert rows == 3


def test_cors_for_the_configured_origin_only(client) -> None:
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    ok = client.options("/v1/events", headers={"Origin": "http://shop.example", **pre})
    assert ok.headers.get("access-control-allow-origin") == "http://shop.example"
    other = client.options("/v1/events", headers={"Origin": "http://evil.example", **pre})
    assert "access-control-allow-origin" not in other.headers


def test_concurrent_event_posts_lose_nothing(server) -> None:
    acknowledged: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
            for i in range(15):
                body = {"user_id": f"load-{n}", "product_id": f"p{i:03d}", "event_type": "click"}
                r = c.post("/v1/events", json=body)
                with lock:
                    if r.status_code == 201:
                        acknowledged.extend(r.json()["ids"])
                    else:
                        failures.append(r.text)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(acknowledged) == len(set(acknowledged)) == 16 * 15
    with sqlite3.connect(server.db) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM events WHERE user_id LIKE 'load-%'").fetchone()
    assert stored[0] == len(acknowledged)
