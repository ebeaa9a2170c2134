"""In-process checks of what a real server cannot be made to do on demand: a slow model call
times out as JSON 504, and an unexpected crash is a JSON 500 without a stack trace."""

from __future__ import annotations

import time

import pytest
import torch
from fastapi.testclient import TestClient

from mmshop.serve import ServeSettings, create_app


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
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client
    torch.set_num_threads(threads)


def test_slow_calls_time_out_and_crashes_are_clean_json(app_client, monkeypatch) -> None:
    app, client = app_client
    searcher = app.state.services.searcher

    def slow(*args, **kwargs):
        time.sleep(2)
        return []

    monkeypatch.setattr(searcher, "search_text", slow)
    r = client.get("/v1/search", params={"q": "shoe"})
    assert r.status_code == 504 and r.json()["code"] == "timeout"

    def crash(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(searcher, "search_text", crash)
    r = client.get("/v1/search", params={"q": "shoe"})
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text

    r = client.get("/v1/products/p001/attributes")  # no tagger configured
    assert r.status_code == 503 and r.json()["code"] == "model_unavailable"
    page = client.get("/v1/page-config").json()
    assert page["api_key"] == "in-process-key-123" and page["facets"] == ["category", "colour"]
