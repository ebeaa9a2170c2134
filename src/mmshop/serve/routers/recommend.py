"""Recommendations for a shopper (with a reason per item) and their stated preferences.

The recommender reads the feedback events stored by ``POST /v1/events`` before each answer, so
a new click, add-to-cart or purchase changes the next list without retraining.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from mmshop.errors import QueryError
from mmshop.recommend import Preferences
from mmshop.serve.deps import in_worker, parse_filters, require_api_key, services, settings
from mmshop.serve.errors import ApiError
from mmshop.serve.schemas import (
    ErrorBody,
    PreferencesIn,
    PreferencesOut,
    ProductSummary,
    Recommendation,
    RecommendationsResponse,
)
from mmshop.serve.store.base import MAX_ID_CHARS

router = APIRouter(tags=["recommendations"])
UserId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS)]
AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or wrong API key"}
}


@router.get(
    "/users/{user_id}/recommendations",
    response_model=RecommendationsResponse,
    responses={400: {"model": ErrorBody, "description": "bad k, diversity or filter"}},
)
async def recommendations(
    request: Request,
    user_id: UserId,
    k: Annotated[int, Query(description="number of items")] = 12,
    diversity: Annotated[
        float | None, Query(description="0..1: trade score for variety (MMR); default 0")
    ] = None,
    filter_: Annotated[
        list[str] | None,
        Query(
            alias="filter",
            description="field=value (repeat for any-of); price=lo..hi, price>=x, price<=x",
            examples=["baseColour=Black"],
        ),
    ] = None,
) -> RecommendationsResponse:
    """Products for this shopper, each with the reason it was picked ("similar to ... you
    viewed", "in your colour (black)", "popular right now"). A shopper without history gets
    picks from their stated preferences and popularity (cold start)."""
    limit = settings(request).max_k
    if not 1 <= k <= limit:
        raise ApiError(400, "bad_query", f"k must be from 1 to {limit}, got {k}")
    if diversity is not None and not 0.0 <= diversity <= 1.0:
        raise ApiError(400, "bad_query", f"diversity must be in [0, 1], got {diversity}")
    filters = parse_filters(filter_)
    svc = services(request)
    picks = await in_worker(request, svc.recommender.recommend, user_id, k, filters, diversity)
    products = svc.products([r.item_id for r in picks])
    items = []
    for r in picks:
        p = products.get(r.item_id)
        if p is None:
            continue
        summary = ProductSummary(
            id=p.id,
            title=p.title,
            image_url=f"/v1/products/{p.id}/image" if p.image else None,
            fields=p.fields,
        )
        items.append(Recommendation(product=summary, score=round(r.score, 6), reason=r.reason))
    return RecommendationsResponse(
        user_id=user_id, items=items, model_version=svc.recommender.version
    )


@router.put(
    "/users/{user_id}/preferences",
    response_model=PreferencesOut,
    dependencies=[Depends(require_api_key)],
    responses={**AUTH, 400: {"model": ErrorBody, "description": "invalid preferences"}},
)
async def put_preferences(request: Request, user_id: UserId, body: PreferencesIn) -> PreferencesOut:
    """Store what the shopper told us (replaces earlier preferences); used at once."""
    try:
        prefs = Preferences.from_dict(body.model_dump())
    except QueryError as exc:
        field = str(exc).split(":", 1)[0].split(" ", 1)[0]
        raise ApiError(400, "bad_query", str(exc), field=field) from None
    stamp = await in_worker(request, services(request).recommender.set_preferences, user_id, prefs)
    return PreferencesOut(user_id=user_id, updated_at=stamp, **body.model_dump())


@router.get(
    "/users/{user_id}/preferences",
    response_model=PreferencesOut,
    dependencies=[Depends(require_api_key)],
    responses=AUTH,
)
async def get_preferences(request: Request, user_id: UserId) -> PreferencesOut:
    """The shopper's stated preferences (empty when none were stated)."""
    prefs, stamp = await in_worker(request, services(request).recommender.get_preferences, user_id)
    return PreferencesOut(
        user_id=user_id,
        updated_at=stamp,
        sizes=prefs.sizes,
        colours=prefs.colours,
        usages=prefs.usages,
        types=prefs.types,
        price_min=prefs.price_min,
        price_max=prefs.price_max,
    )
