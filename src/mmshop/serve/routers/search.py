"""Search routes: by text, by uploaded photo, and "similar to this product"."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from mmshop.serve.deps import in_batch, in_worker, parse_filters, services, settings
from mmshop.serve.errors import ApiError
from mmshop.serve.schemas import ErrorBody, SearchResponse
from mmshop.serve.services import Services
from mmshop.serve.uploads import read_image_upload

router = APIRouter(tags=["search"])
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad query, k or filter"},
    504: {"model": ErrorBody, "description": "timed out"},
}
FilterParam = Annotated[
    list[str] | None,
    Query(
        alias="filter",
        description="field=value (repeat a field for any-of), field=lo..hi, field>=x",
        examples=["baseColour=Black"],
    ),
]


def check_k(request: Request, k: int) -> int:
    limit = settings(request).max_k
    if not 1 <= k <= limit:
        raise ApiError(400, "bad_query", f"k must be from 1 to {limit}, got {k}")
    return k


def hits_response(
    svc: Services, hits: list[Any], query: str | None, mode: str, k: int, filters: dict,
    started: float,
) -> JSONResponse:  # fmt: skip
    """The :class:`SearchResponse` body, built as plain dicts (the hot path skips pydantic)."""
    products = svc.products([h.id for h in hits])
    results = []
    for h in hits:
        p = products.get(h.id)
        results.append(
            {
                "id": h.id,
                "title": p.title if p else h.title,
                "image_url": f"/v1/products/{h.id}/image" if p and p.image else None,
                "fields": p.fields if p else h.fields,
                "rank": int(h.rank),
                "score": round(float(h.score), 6),
            }
        )
    facets: dict[str, dict[str, int]] = {}
    for field in svc.facets:
        values = (r["fields"].get(field) for r in results)
        facets[field] = dict(Counter(str(v) for v in values if v is not None).most_common())
    shown = {
        f: [str(x) for x in v] if isinstance(v, list) else [str(v)] for f, v in filters.items()
    }
    body = {
        "query": query, "mode": mode, "k": k, "filters": shown, "results": results,
        "facets": facets, "took_ms": round((time.perf_counter() - started) * 1000, 2),
    }  # fmt: skip
    return JSONResponse(body)


@router.get("/search", response_model=SearchResponse, responses=ERRORS)
async def search_text(
    request: Request,
    q: Annotated[
        str, Query(description="what the shopper typed", examples=["black running shoes"])
    ],
    k: Annotated[int, Query(description="number of results")] = 24,
    mode: Annotated[str, Query(description="vector | hybrid | lexical")] = "vector",
    filter_: FilterParam = None,
) -> JSONResponse:
    """Products matching a text query, optionally filtered by attributes."""
    started = time.perf_counter()
    limit = settings(request).max_query_chars
    if not q.strip():
        raise ApiError(400, "bad_query", "the text query is empty; type what you are looking for")
    if len(q) > limit:
        raise ApiError(400, "bad_query", f"the text query is too long ({len(q)} > {limit} chars)")
    check_k(request, k)
    filters = parse_filters(filter_)
    svc = services(request)
    if mode == "vector" and not filters:  # the common case: batched with concurrent queries
        hits = await in_batch(request, "text", q, k)
    else:
        hits = await in_worker(request, svc.searcher.search_text, q, k, filters or None, mode)
    return hits_response(svc, hits, q.strip(), mode, k, filters, started)


@router.post("/search/image", response_model=SearchResponse, responses={
    **ERRORS,
    413: {"model": ErrorBody, "description": "file or image too large"},
    415: {"model": ErrorBody, "description": "not an image"},
})  # fmt: skip
async def search_image(
    request: Request,
    image: Annotated[UploadFile, File(description="a JPEG, PNG, GIF or WebP photo")],
    k: Annotated[int, Form()] = 24,
    filter_: Annotated[list[str] | None, Form(alias="filter")] = None,
) -> JSONResponse:
    """Products that look like the uploaded photo."""
    started = time.perf_counter()
    cfg = settings(request)
    check_k(request, k)
    filters = parse_filters(filter_)
    data, _ = await read_image_upload(image, cfg.max_upload_bytes, cfg.max_image_pixels)
    svc = services(request)
    hits = await in_worker(request, svc.searcher.search_image, data, k, filters or None)
    return hits_response(svc, hits, None, "image", k, filters, started)


@router.get("/products/{product_id}/similar", response_model=SearchResponse, responses={
    **ERRORS, 404: {"model": ErrorBody, "description": "unknown product"},
})  # fmt: skip
async def similar(
    request: Request, product_id: str, k: int = 12, filter_: FilterParam = None
) -> JSONResponse:
    """Products nearest to an indexed product (the product itself is left out)."""
    started = time.perf_counter()
    check_k(request, k)
    filters = parse_filters(filter_)
    svc = services(request)
    if not svc.is_indexed(product_id):
        raise ApiError(404, "not_found", f"product {product_id!r} is not in the search index")
    if filters:
        hits = await in_worker(request, svc.searcher.similar, product_id, k, filters)
    else:
        hits = await in_batch(request, "similar", product_id, k)
    return hits_response(svc, hits, None, "similar", k, filters, started)
