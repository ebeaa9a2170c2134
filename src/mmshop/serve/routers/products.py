"""Product routes: detail, photo, predicted attributes; attribute prediction for new products."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse

from mmshop.serve.deps import in_worker, services, settings
from mmshop.serve.errors import ApiError
from mmshop.serve.schemas import AttributesResponse, ErrorBody, ProductDetail
from mmshop.serve.uploads import read_image_upload

router = APIRouter(tags=["products"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown product"}
}
NO_TAGGER: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "no tagger trained; the message names the command"}
}


def _missing(product_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no product with id {product_id!r}")


@router.get("/products/{product_id}", response_model=ProductDetail, responses=NOT_FOUND)
async def product(request: Request, product_id: str) -> ProductDetail:
    """A catalogue product with its attributes and, when a tagger is loaded, its predicted ones."""
    svc = services(request)
    try:
        p = await in_worker(request, svc.product, product_id)
    except KeyError:
        raise _missing(product_id) from None
    predicted = None
    if svc.tagger is not None:
        predicted = await in_worker(request, svc.product_attributes, product_id)
    return ProductDetail(
        id=p.id,
        title=p.title,
        image_url=f"/v1/products/{p.id}/image" if p.image else None,
        fields=p.fields,
        predicted=predicted,
    )


@router.get(
    "/products/{product_id}/image",
    response_class=FileResponse,
    responses={**NOT_FOUND, 200: {"content": {"image/jpeg": {}}}},
)
async def product_image(request: Request, product_id: str) -> FileResponse:
    """The product photo (only files inside the catalogue folder are served)."""
    from mmshop.serve.uploads import sniff_image_type

    svc = services(request)
    try:
        path = await in_worker(request, svc.image_path, product_id)
    except KeyError:
        raise ApiError(404, "not_found", f"no photo for product {product_id!r}") from None
    with open(path, "rb") as fh:
        kind = sniff_image_type(fh.read(16))
    if kind is None:
        raise ApiError(404, "not_found", f"the photo of product {product_id!r} is not an image")
    return FileResponse(path, media_type=kind[0], headers={"Cache-Control": "max-age=3600"})


@router.get(
    "/products/{product_id}/attributes",
    response_model=AttributesResponse,
    responses={**NOT_FOUND, **NO_TAGGER},
)
async def product_attributes(request: Request, product_id: str) -> AttributesResponse:
    """The tagger's predicted attributes for a catalogue product (photo + title)."""
    svc = services(request)
    try:
        attrs = await in_worker(request, svc.product_attributes, product_id)
    except KeyError:
        raise _missing(product_id) from None
    return AttributesResponse(product_id=product_id, attributes=attrs)


@router.post(
    "/predict",
    response_model=AttributesResponse,
    responses={
        **NO_TAGGER,
        413: {"model": ErrorBody, "description": "file or image too large"},
        415: {"model": ErrorBody, "description": "not an image"},
    },
)
async def predict(
    request: Request,
    image: Annotated[UploadFile, File(description="the new product's photo")],
    title: Annotated[str, Form(description="the new product's title")],
    attributes: Annotated[
        str, Form(description='JSON object of known attributes, e.g. {"usage": "Casual"}')
    ] = "{}",
) -> AttributesResponse:
    """Predict attributes (e.g. article type, colour) for a new product: photo + title."""
    cfg = settings(request)
    if not title.strip():
        raise ApiError(400, "bad_query", "title is empty")
    if len(title) > cfg.max_query_chars:
        raise ApiError(400, "bad_query", f"title is longer than {cfg.max_query_chars} chars")
    try:
        extra = json.loads(attributes)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "bad_request", f"attributes is not valid JSON: {exc}") from None
    if not isinstance(extra, dict) or not all(
        isinstance(v, str | int | float) for v in extra.values()
    ):
        raise ApiError(400, "bad_request", "attributes must be a JSON object of plain values")
    data, suffix = await read_image_upload(image, cfg.max_upload_bytes, cfg.max_image_pixels)
    svc = services(request)
    attrs = await in_worker(request, svc.predict_new, data, suffix, title.strip(), extra)
    return AttributesResponse(attributes=attrs)
