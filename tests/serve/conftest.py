"""Tiny real models over a tiny catalogue, and a real `mmshop serve` process on localhost."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import TINY_LABELS, make_tiny_catalog
from mmshop.data import Catalog

API_KEY = "test-key-0123456789"
SEARCH_TINY = {
    "image_encoder.options": {"width": 8},
    "text_encoder.options": {"dim": 32, "layers": 1, "heads": 2},
    "embed_dim": 32,
    "batch_size": 16,
    "trainer.epochs": 3,
    "trainer.lr": 3e-3,
    "trainer.progress": False,
}
TAGGER_TINY = {
    "trainer.epochs": 3,
    "trainer.progress": False,
    "trainer.lr": 3e-3,
    "batch_size": 16,
    "model.encoders.image.options": {"width": 4},
    "model.encoders.text.options": {"dim": 32, "layers": 1, "heads": 2},
    "model.fusion.options": {"dim": 32},
    "model.head.options": {"hidden": 32},
}


@pytest.fixture(scope="session")
def serve_models(tmp_path_factory) -> dict[str, Path]:
    """A 64-product catalogue, a search model + index and a tagger, trained once per session."""
    from mmshop.predictor import MultimodalPredictor
    from mmshop.search import SearchEncoder, build_index

    tmp = tmp_path_factory.mktemp("serve")
    csv = make_tiny_catalog(tmp / "cat", n=64, seed=3)
    cat = Catalog.open(csv)
    cache = tmp / "cache"
    encoder = SearchEncoder.fit(
        cat.split("train"),
        cat.split("val"),
        overrides={**SEARCH_TINY, "cache_dir": str(cache)},
        work_dir=tmp / "search.work",
        progress=False,
    )
    model = encoder.save(tmp / "models" / "search")
    build_index(model, cat, tmp / "models" / "index", cache_dir=cache, progress=False)
    tagger = MultimodalPredictor(
        labels=list(TINY_LABELS),
        overrides={**TAGGER_TINY, "cache_dir": str(cache)},
        work_dir=tmp / "tagger.work",
    )
    tagger.fit(Catalog.open(csv, labels=list(TINY_LABELS)).split("train"), progress=False)
    tagger.save(tmp / "models" / "tagger")
    return {
        "tmp": tmp,
        "csv": csv,
        "search": tmp / "models" / "search",
        "index": tmp / "models" / "index",
        "tagger": tmp / "models" / "tagger",
    }


def body_size_frame(n: int = 240, seed: int = 0):
    """Synthetic bodies whose size follows weight and height (a learnable rule)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    height = rng.normal(168, 8, n)
    weight = rng.normal(65, 12, n)
    score = (weight - 65) / 8 + (height - 168) / 20
    sizes = np.array(["S", "M", "L", "XL"])[np.digitize(score, [-0.8, 0.2, 1.2])]
    return pd.DataFrame(
        {"weight": weight.round(), "age": rng.integers(18, 70, n), "height": height, "size": sizes}
    )


@pytest.fixture(scope="session")
def feature_models(serve_models) -> dict[str, Path]:
    """Tiny real feature models: body size, fit (items i0..i11), sentiment, extraction and
    title generation."""
    from tests.caption.test_generator import TINY as CAPTION_TINY
    from tests.fit.conftest import TINY as FIT_TINY
    from tests.fit.conftest import synthetic_fit_frame
    from tests.reviews.helpers_reviews import TINY as REVIEWS_TINY
    from tests.reviews.helpers_reviews import english_reviews

    from mmshop.caption import TitleGenerator
    from mmshop.extract import AttributeExtractor
    from mmshop.extract.labelling import LabelColumns
    from mmshop.fit import BodySizeModel, FitModel
    from mmshop.reviews import SentimentConfig, SentimentModel

    tmp = serve_models["tmp"]
    out = tmp / "models"
    body = BodySizeModel(
        overrides={"hidden": 16, "batch_size": 32, "trainer.epochs": 10, "trainer.lr": 1e-2}
    )
    body.fit(body_size_frame()).save(out / "body-size")
    fit = FitModel(overrides={**FIT_TINY, "trainer.epochs": 3})
    fit.fit(synthetic_fit_frame(300), work_dir=tmp / "fit.work").save(out / "fit")
    sentiment = SentimentModel(
        SentimentConfig(
            rating_column="rating",
            label_column=None,
            categorical=["dept"],
            text_encoder="builtin",
            overrides={**REVIEWS_TINY, "cache_dir": str(tmp / "cache")},
        )
    )
    sentiment.fit(english_reviews(), work_dir=tmp / "sentiment.work", progress=False)
    sentiment.save(out / "sentiment")
    titles = Catalog.open(serve_models["csv"]).df
    extractor = AttributeExtractor(
        columns=LabelColumns(title="title", colour="colour", type="category"),
        dim=32, layers=1, heads=2, batch_size=16,
        trainer={"epochs": 6, "lr": 5e-3, "progress": False, "monitor": "micro_f1",
                 "patience": None},
    )  # fmt: skip
    extractor.fit(titles, work_dir=tmp / "extract.work", progress=False).save(out / "extract")
    catalog = Catalog.open(serve_models["csv"])
    captions = TitleGenerator.fit(
        catalog.split("train"),
        catalog.split("val"),
        overrides={**CAPTION_TINY, "cache_dir": str(tmp / "cache")},
        work_dir=tmp / "caption.work",
        progress=False,
    )
    captions.save(out / "caption")
    return {
        "body_size_model": out / "body-size",
        "fit_model": out / "fit",
        "sentiment_model": out / "sentiment",
        "extract_model": out / "extract",
        "caption_model": out / "caption",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `mmshop serve` subprocess; ``url`` is its base URL, ``db`` its SQLite file."""

    def __init__(
        self,
        models: dict[str, Path],
        db: Path,
        features: dict[str, Path] | None = None,
        **settings: object,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = db
        config = {
            "search_model": str(models["search"]),
            "index": str(models["index"]),
            "tagger": str(models["tagger"]),
            "catalog": str(models["csv"]),
            "db": str(db),
            "api_key": API_KEY,
            "port": self.port,
            **{k: str(v) for k, v in (features or {}).items()},
            **settings,
        }
        self.config_file = db.with_suffix(".settings.json")
        self.config_file.write_text(json.dumps(config))
        exe = Path(sys.executable).with_name("mmshop")
        env = {**os.environ, "MMSHOP_CACHE_DIR": str(db.parent / "cache")}
        env.pop("MMSHOP_API_KEY", None)
        self.log = db.with_suffix(".log")
        self._log = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--config", str(self.config_file), "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._wait()

    def _wait(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def server(serve_models, feature_models, tmp_path_factory) -> Iterator[Server]:
    """One server for the API and browser tests (CORS for one origin, a low pixel limit,
    tiny feature models)."""
    db = tmp_path_factory.mktemp("server") / "serve.db"
    srv = Server(
        serve_models,
        db,
        feature_models,
        cors_origins=["http://shop.example"],
        max_image_pixels=1_000_000,
        max_upload_bytes=300_000,
    )
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
