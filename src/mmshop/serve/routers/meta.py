"""Health, version and the built-in page's settings."""

from __future__ import annotations

from fastapi import APIRouter, Request

from mmshop import __version__
from mmshop.serve.deps import in_worker, services, settings
from mmshop.serve.schemas import Health, PageConfig, Version

API_VERSION = "1"
router = APIRouter(tags=["meta"])


@router.get("/health", response_model=Health)
async def health(request: Request) -> Health:
    """Liveness and what is loaded: product, index and event counts."""
    svc = services(request)

    def counts() -> tuple[int, int, int]:
        return svc.store.count_products(), svc.store.count_events(), svc.store.schema_version()

    products, events, schema = await in_worker(request, counts)
    return Health(
        status="ok",
        products=products,
        indexed=len(svc.searcher.index),
        events=events,
        tagger=svc.tagger is not None,
        schema_version=schema,
        models={name: model is not None for name, model in svc.features.models.items()},
    )


@router.get("/version", response_model=Version)
async def version(request: Request) -> Version:
    svc = services(request)
    labels = list(svc.tagger.config.labels) if svc.tagger is not None else []
    return Version(
        mmshop=__version__,
        api=API_VERSION,
        search_model_version=svc.searcher.encoder.version,
        tagger_labels=labels,
    )


@router.get("/page-config", response_model=PageConfig, include_in_schema=False)
async def page_config(request: Request) -> PageConfig:
    cfg = settings(request)
    svc = services(request)
    return PageConfig(
        api_key=request.app.state.api_key if cfg.page_api_key else None,
        facets=svc.facets,
        max_k=cfg.max_k,
        max_upload_bytes=cfg.max_upload_bytes,
        tagger=svc.tagger is not None,
        size_advice=svc.features.loaded("fit_model") or svc.features.loaded("body_size_model"),
        caption=svc.features.loaded("caption_model"),
        fit_panel_when=cfg.fit_panel_when,
        search_mode=cfg.page_search_mode,
    )
