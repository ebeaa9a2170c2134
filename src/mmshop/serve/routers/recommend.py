"""Recommendations for a user: the route and its schema are fixed; the model comes with
``mmshop.recommend`` (it reads the feedback events from the store). Until then: JSON 501."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from mmshop.serve.deps import settings
from mmshop.serve.errors import ApiError
from mmshop.serve.schemas import ErrorBody, RecommendationsResponse

router = APIRouter(tags=["recommendations"])


@router.get(
    "/users/{user_id}/recommendations",
    response_model=RecommendationsResponse,
    responses={501: {"model": ErrorBody, "description": "no recommender in this version yet"}},
)
async def recommendations(
    request: Request, user_id: str, k: Annotated[int, Query(ge=1)] = 12
) -> RecommendationsResponse:
    """Products for this user, each with the reason it was picked (e.g. "bought together with
    ...", "similar to what you viewed")."""
    limit = settings(request).max_k
    if k > limit:
        raise ApiError(400, "bad_query", f"k must be from 1 to {limit}, got {k}")
    raise ApiError(
        501,
        "not_implemented",
        "recommendations are not available yet: the recommender (mmshop.recommend) is not part "
        "of this version; feedback events are already being stored for it",
    )
