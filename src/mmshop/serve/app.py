"""``create_app(settings)``: the FastAPI app of `mmshop serve` (API under /v1 + the shop page)."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mmshop.errors import require

require("fastapi", "serve")
require("python_multipart", "serve")

import torch  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi.responses import FileResponse  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402

from mmshop import __version__  # noqa: E402
from mmshop.serve.batching import QueryBatcher  # noqa: E402
from mmshop.serve.errors import install_error_handlers  # noqa: E402
from mmshop.serve.limits import BodyLimitMiddleware, Utf8JsonMiddleware  # noqa: E402
from mmshop.serve.routers import events, features, meta, products, recommend, search  # noqa: E402
from mmshop.serve.services import Services  # noqa: E402
from mmshop.serve.settings import ServeSettings  # noqa: E402
from mmshop.serve.store import Store  # noqa: E402

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("mmshop.serve")


def create_app(settings: ServeSettings | None = None, store: Store | None = None) -> FastAPI:
    """Open the models, catalogue and store named by ``settings`` and build the app.

    Raises :class:`~mmshop.serve.services.ModelMissing` naming the command that makes a
    missing search model or index. ``store`` replaces the SQLite store (e.g. another backend).
    """
    settings = (settings or ServeSettings()).with_env()
    torch.set_num_threads(settings.torch_threads)
    try:
        from mmshop.index.vector import faiss_module

        faiss_module().omp_set_num_threads(settings.torch_threads)
    except ImportError:  # pragma: no cover - faiss is needed by the searcher anyway
        pass
    services = Services(settings, store)
    executor = ThreadPoolExecutor(settings.worker_threads, thread_name_prefix="mmshop-serve")
    batcher = QueryBatcher(services.searcher, settings.max_batch)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            batcher.close()
            executor.shutdown(wait=True, cancel_futures=True)
            services.close()

    app = FastAPI(
        title="mmshop",
        version=__version__,
        summary=(
            "Product search, recommendations, size advice, review sentiment, attribute "
            "prediction and extraction, title generation and feedback events for a shop."
        ),
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.services = services
    app.state.executor = executor
    app.state.batcher = batcher
    app.state.api_key = settings.api_key or secrets.token_urlsafe(24)
    app.state.api_key_generated = settings.api_key is None
    install_error_handlers(app)
    routers = (search, products, events, recommend, features, meta)
    for router in (r.router for r in routers):
        app.include_router(router, prefix="/v1")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization"],
        )
    app.add_middleware(Utf8JsonMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes + 64_000)
    return app
