"""In-process checks of what a real server cannot be made to do on demand: a slow model call
times out as JSON 504, and an unexpected crash is a JSON 500 without a stack trace."""

from __future__ import annotations

import time

import pytest
import torch
from fastapi.testclient import TestClient

from mmshop.serve import ServeSettings, create_app

FEATURES = ("fit_model", "body_size_model", "sentiment_model", "extract_model", "caption_model")


@pytest.fixture
def app_client(serve_models, tmp_path):
    threads = torch.get_num_threads()
    settings = ServeSettings(
        search_model=str(serve_models["search"]),
        index=str(serve_models["index"]),
        tagger=None,
        catalog=str(serve_models["csv"]),
        db=str(tmp_path / "serve.db"),
        api_key="in-process-key-123",
        request_timeout_s=0.5,
        **{name: str(tmp_path / "absent" / name) for name in FEATURES},
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client
    torch.set_num_threads(threads)


def test_slow_calls_time_out_and_crashes_are_clean_json(app_client, monkeypatch) -> None:
    app, client = app_client
    searcher = app.state.services.searcher

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return []

    monkeypatch.setattr(searcher, "search_text", slow)  # filtered / hybrid: a worker thread
    monkeypatch.setattr(searcher, "search_texts", slow)  # plain vector queries: the batcher
    for params in ({"q": "shoe"}, {"q": "shoe", "mode": "hybrid"}):
        r = client.get("/v1/search", params=params)
        assert r.status_code == 504 and r.json()["code"] == "timeout"
    time.sleep(1.2)  # let the slow calls finish: the batcher and workers are free again

    def crash(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(searcher, "search_text", crash)
    monkeypatch.setattr(searcher, "search_texts", crash)
    for params in ({"q": "shoe"}, {"q": "shoe", "mode": "hybrid"}):
        r = client.get("/v1/search", params=params)
        assert r.status_code == 500 and r.json()["code"] == "internal_error"
        assert "secret" not in r.text and "Traceback" not in r.text

    r = client.get("/v1/products/p001/attributes")  # no tagger configured
    assert r.status_code == 503 and r.json()["code"] == "model_unavailable"
    page = client.get("/v1/page-config").json()
    assert page["api_key"] == "in-process-key-123" and page["facets"] == ["category", "colour"]


def test_missing_feature_models_are_503_naming_the_command(app_client) -> None:
    from tests.serve.test_api import jpeg

    _, client = app_client
    for method, path, kwargs, command in (
        ("post", "/v1/fit/size-advice", {"json": {"measurements": {"height": 170}}}, "mmshop demo"),
        ("post", "/v1/reviews/sentiment", {"json": {"reviews": [{"text": "ok"}]}},
         "mmshop reviews train"),
        ("post", "/v1/extract", {"json": {"titles": ["Nike Men Blue Tshirt"]}}, "mmshop demo"),
        ("post", "/v1/caption", {"files": {"image": ("a.jpg", jpeg(), "image/jpeg")}},
         "mmshop caption train"),
    ):  # fmt: skip
        r = getattr(client, method)(path, **kwargs)
        assert r.status_code == 503, (path, r.text)
        body = r.json()
        assert body["code"] == "model_missing" and command in body["message"], body
    page = client.get("/v1/page-config").json()
    assert page["size_advice"] is False and page["caption"] is False
    assert page["fit_panel_when"] == {"masterCategory": ["Apparel"]}
    # recommendations need no extra model: they work over the index vectors from the start
    recs = client.get("/v1/users/someone/recommendations", params={"k": 3})
    assert recs.status_code == 200 and len(recs.json()["items"]) == 3
