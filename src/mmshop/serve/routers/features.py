"""Size advice, review sentiment, attribute extraction from titles and title generation.

Each route is backed by an optional model (``ServeSettings.fit_model``, ``body_size_model``,
``sentiment_model``, ``extract_model``, ``caption_model``); a missing one answers 503
``model_missing`` naming the command that makes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from mmshop.errors import DataError, QueryError
from mmshop.serve.deps import in_worker, services, settings
from mmshop.serve.errors import ApiError
from mmshop.serve.features import field_of
from mmshop.serve.schemas import (
    CaptionResponse,
    ErrorBody,
    ExtractResponse,
    ReviewsIn,
    SentimentResponse,
    SizeAdviceIn,
    SizeAdviceResponse,
    TitlesIn,
)
from mmshop.serve.uploads import read_image_upload

router = APIRouter()
MAX_TITLE_CHARS = 1000
MAX_BEAMS = 10  # as mmshop.caption allows (imported lazily: the package is optional)


def _errors(what: str) -> dict[int | str, dict[str, Any]]:
    return {
        400: {"model": ErrorBody, "description": f"bad {what}; the message names the field"},
        413: {"model": ErrorBody, "description": "too many items or a text too long"},
        503: {"model": ErrorBody, "description": "model_missing: the message names the command"},
    }


def _bad(exc: Exception, code: str = "bad_input") -> ApiError:
    field = field_of(exc)
    extra = {"field": field} if field else {}
    return ApiError(400, code, str(exc), **extra)


@router.post(
    "/fit/size-advice",
    tags=["fit"],
    response_model=SizeAdviceResponse,
    responses=_errors("measurement, item or size"),
)
async def size_advice(request: Request, body: SizeAdviceIn) -> SizeAdviceResponse:
    """The size most likely to fit, with its confidence and per-size probabilities.

    With a fit model that knows ``item_id`` (or ``category``) the advice is per item (P(fits)
    per size); otherwise the body-size model maps height / weight / age to XXS..XXXL. Every
    measurement is optional: the answer says which were used and how sure it is. Impossible
    values (height 20 m, a negative weight, age 300) are a 400 naming the field.
    """
    svc = services(request)
    try:
        advice = await in_worker(
            request,
            svc.features.size_advice,
            body.measurements,
            body.item_id,
            body.category,
            body.user_id,
        )
    except (DataError, QueryError) as exc:
        raise _bad(exc, "bad_measurement" if isinstance(exc, DataError) else "bad_query") from None
    return SizeAdviceResponse(**advice)


@router.post(
    "/reviews/sentiment",
    tags=["reviews"],
    response_model=SentimentResponse,
    responses=_errors("review"),
)
async def sentiment(request: Request, body: ReviewsIn) -> SentimentResponse:
    """Sentiment of each review (``text`` + any context fields the model reads, e.g. a
    product category); results are in input order."""
    cfg = settings(request)
    if len(body.reviews) > cfg.max_reviews_per_request:
        raise ApiError(
            413,
            "too_large",
            f"at most {cfg.max_reviews_per_request} reviews per request, got {len(body.reviews)}",
        )
    texts, context = [], []
    for i, review in enumerate(body.reviews):
        if len(review.text) > cfg.max_review_chars:
            raise ApiError(
                413,
                "too_large",
                f"reviews[{i}].text is {len(review.text):,} characters long; the limit is "
                f"{cfg.max_review_chars:,}",
                field=f"reviews[{i}].text",
            )
        if not review.text.strip():
            raise ApiError(
                400, "bad_input", f"reviews[{i}].text is empty", field=f"reviews[{i}].text"
            )
        extra = review.model_extra or {}
        for key, value in extra.items():
            if not isinstance(value, str | int | float | bool | None):
                raise ApiError(
                    400,
                    "bad_input",
                    f"reviews[{i}].{key} must be a plain value (text or number)",
                    field=f"reviews[{i}].{key}",
                )
        texts.append(review.text)
        context.append(extra)
    try:
        results = await in_worker(request, services(request).features.sentiment, texts, context)
    except DataError as exc:
        raise _bad(exc) from None
    return SentimentResponse(results=results)


@router.post(
    "/extract",
    tags=["extract"],
    response_model=ExtractResponse,
    responses=_errors("title"),
)
async def extract(request: Request, body: TitlesIn) -> ExtractResponse:
    """Brand, gender, colour and article type read out of each product title."""
    cfg = settings(request)
    if len(body.titles) > cfg.max_titles_per_request:
        raise ApiError(
            413,
            "too_large",
            f"at most {cfg.max_titles_per_request} titles per request, got {len(body.titles)}",
        )
    for i, title in enumerate(body.titles):
        if len(title) > MAX_TITLE_CHARS:
            raise ApiError(
                413,
                "too_large",
                f"titles[{i}] is {len(title):,} characters long; the limit is {MAX_TITLE_CHARS}",
                field=f"titles[{i}]",
            )
        if not title.strip():
            raise ApiError(400, "bad_input", f"titles[{i}] is empty", field=f"titles[{i}]")
    try:
        found = await in_worker(request, services(request).features.extract, body.titles)
    except DataError as exc:
        raise _bad(exc) from None
    results = [{"title": t, **f} for t, f in zip(body.titles, found, strict=True)]
    return ExtractResponse(results=results)  # type: ignore[arg-type]


@router.post(
    "/caption",
    tags=["caption"],
    response_model=CaptionResponse,
    responses={
        **_errors("image"),
        415: {"model": ErrorBody, "description": "not an image"},
        422: {"model": ErrorBody, "description": "the image cannot be read"},
    },
)
async def caption(
    request: Request,
    image: Annotated[UploadFile, File(description="a JPEG, PNG, GIF or WebP product photo")],
    beams: Annotated[int, Form(description="beam width (1: greedy .. 10)")] = 3,
) -> CaptionResponse:
    """A suggested product title for a photo (title generation)."""
    cfg = settings(request)
    if not 1 <= beams <= MAX_BEAMS:
        raise ApiError(
            400, "bad_query", f"beams must be from 1 to {MAX_BEAMS}, got {beams}", field="beams"
        )
    svc = services(request)
    svc.features.require("caption_model")  # a missing model is a 503 before any upload work
    data, _ = await read_image_upload(image, cfg.max_upload_bytes, cfg.max_image_pixels)
    try:
        title = await in_worker(request, svc.features.caption, data, beams)
    except (DataError, QueryError) as exc:
        raise ApiError(422, "bad_image", str(exc)) from None
    return CaptionResponse(title=title)
