"""ServeSettings: everything `mmshop serve` and `create_app` need, validated in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mmshop.config import ConfigBase
from mmshop.data.processors.image import ImageProcessorConfig
from mmshop.errors import ConfigError
from mmshop.index.store import MAX_K as INDEX_MAX_K
from mmshop.search.searcher import MAX_QUERY_CHARS
from mmshop.search.searcher import MODES as SEARCH_MODES

API_KEY_ENV = "MMSHOP_API_KEY"
_IMAGE_LIMITS = ImageProcessorConfig()  # the engine's decoding guards are the defaults here


@dataclass
class ServeSettings(ConfigBase):
    """Paths, limits and security of the HTTP service.

    Paths default to what ``make demo`` writes (relative to the working folder) and to the
    shipped sample catalogue (``catalog=None``). ``api_key`` guards the write endpoints (the
    ``MMSHOP_API_KEY`` environment variable fills it when unset; with neither, a random key is
    made at start-up and printed). ``page_api_key`` lets the built-in page post feedback with
    that key: right for a local demo, wrong for a public shop (send events from your backend).

    Optional feature models (a missing one only switches its routes to a 503 naming the
    command that makes it): ``fit_model`` (a saved ``FitModel``), ``body_size_model`` (a
    ``BodySizeModel``), ``sentiment_model``, ``extract_model`` and ``caption_model``.
    ``popularity_column``: a numeric catalogue column (e.g. sales) that seeds the
    recommender's popularity before the stored events are replayed.
    ``fit_panel_when``: the page shows its fit advisor on a product unless the product has one
    of these fields with a value not listed (products without the field always get it).
    """

    search_model: str | None = "models/search"
    index: str = "models/index"
    tagger: str | None = "models/tagger"
    catalog: str | None = None  # None: the shipped fashion sample
    db: str = "models/serve.db"
    fit_model: str | None = "models/fit"
    body_size_model: str | None = "models/body-size"
    sentiment_model: str | None = "models/sentiment"
    extract_model: str | None = "models/extract"
    caption_model: str | None = "models/caption"
    popularity_column: str | None = None
    fit_panel_when: dict[str, list[str]] = field(
        default_factory=lambda: {"masterCategory": ["Apparel"]}
    )
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    page_api_key: bool = True
    cors_origins: list[str] = field(default_factory=list)
    facets: list[str] = field(default_factory=list)  # empty: category- and colour-like fields
    max_upload_bytes: int = 5_000_000
    max_image_pixels: int = _IMAGE_LIMITS.max_pixels
    max_query_chars: int = 200
    max_k: int = 100
    max_events_per_request: int = 100
    max_reviews_per_request: int = 100
    max_review_chars: int = 5_000
    max_titles_per_request: int = 200
    request_timeout_s: float = 10.0
    worker_threads: int = 4
    page_search_mode: str = "hybrid"  # the page's text search: vector | hybrid | lexical
    max_batch: int = 32  # concurrent unfiltered searches answered together (1: no batching)
    torch_threads: int = 1
    db_synchronous: str = "full"

    def validate(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be in 1..65535, got {self.port}")
        if self.api_key is not None and len(self.api_key) < 8:
            raise ConfigError("api_key must be at least 8 characters long")
        if not 1_000 <= self.max_upload_bytes <= _IMAGE_LIMITS.max_bytes:
            raise ConfigError(
                f"max_upload_bytes must be in 1000..{_IMAGE_LIMITS.max_bytes}, "
                f"got {self.max_upload_bytes}"
            )
        if not 1 <= self.max_image_pixels <= _IMAGE_LIMITS.max_pixels:
            raise ConfigError(
                f"max_image_pixels must be in 1..{_IMAGE_LIMITS.max_pixels}, "
                f"got {self.max_image_pixels}"
            )
        if not 1 <= self.max_query_chars <= MAX_QUERY_CHARS:
            raise ConfigError(
                f"max_query_chars must be in 1..{MAX_QUERY_CHARS}, got {self.max_query_chars}"
            )
        if not 1 <= self.max_k <= INDEX_MAX_K:
            raise ConfigError(f"max_k must be in 1..{INDEX_MAX_K}, got {self.max_k}")
        if not 1 <= self.max_events_per_request <= 10_000:
            raise ConfigError("max_events_per_request must be in 1..10000")
        for name in ("max_reviews_per_request", "max_titles_per_request"):
            if not 1 <= getattr(self, name) <= 10_000:
                raise ConfigError(f"{name} must be in 1..10000, got {getattr(self, name)}")
        if not 1 <= self.max_review_chars <= 100_000:
            raise ConfigError(f"max_review_chars must be in 1..100000, got {self.max_review_chars}")
        if not 0 < self.request_timeout_s <= 600:
            raise ConfigError(
                f"request_timeout_s must be in (0, 600], got {self.request_timeout_s}"
            )
        if not 1 <= self.worker_threads <= 64:
            raise ConfigError(f"worker_threads must be in 1..64, got {self.worker_threads}")
        if self.page_search_mode not in SEARCH_MODES:
            raise ConfigError(
                f"page_search_mode must be one of {list(SEARCH_MODES)}, "
                f"got {self.page_search_mode!r}"
            )
        if not 1 <= self.max_batch <= 1024:
            raise ConfigError(f"max_batch must be in 1..1024, got {self.max_batch}")
        if not 1 <= self.torch_threads <= 64:
            raise ConfigError(f"torch_threads must be in 1..64, got {self.torch_threads}")
        if self.db_synchronous not in ("full", "normal"):
            raise ConfigError(f"db_synchronous must be full or normal, got {self.db_synchronous!r}")
        if not isinstance(self.fit_panel_when, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v)
            for v in self.fit_panel_when.values()
        ):
            raise ConfigError(
                "fit_panel_when must map field names to lists of values, e.g. "
                '{"masterCategory": ["Apparel"]}'
            )
        bad = [o for o in self.cors_origins if not isinstance(o, str) or not o]
        if bad:
            raise ConfigError(f"cors_origins must be non-empty strings, got {bad}")

    def with_env(self) -> ServeSettings:
        """A copy whose unset ``api_key`` is taken from ``$MMSHOP_API_KEY``."""
        key = self.api_key or os.environ.get(API_KEY_ENV) or None
        return self.replace({"api_key": key})

    def catalog_path(self) -> Path:
        """The catalogue CSV to serve (the shipped sample when ``catalog`` is unset)."""
        if self.catalog:
            return Path(self.catalog)
        from mmshop.samples import sample_path

        return sample_path("fashion")
