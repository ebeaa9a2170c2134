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
    """

    search_model: str | None = "models/search"
    index: str = "models/index"
    tagger: str | None = "models/tagger"
    catalog: str | None = None  # None: the shipped fashion sample
    db: str = "models/serve.db"
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
    request_timeout_s: float = 10.0
    worker_threads: int = 4
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
        if not 0 < self.request_timeout_s <= 600:
            raise ConfigError(
                f"request_timeout_s must be in (0, 600], got {self.request_timeout_s}"
            )
        if not 1 <= self.worker_threads <= 64:
            raise ConfigError(f"worker_threads must be in 1..64, got {self.worker_threads}")
        if not 1 <= self.torch_threads <= 64:
            raise ConfigError(f"torch_threads must be in 1..64, got {self.torch_threads}")
        if self.db_synchronous not in ("full", "normal"):
            raise ConfigError(f"db_synchronous must be full or normal, got {self.db_synchronous!r}")
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
