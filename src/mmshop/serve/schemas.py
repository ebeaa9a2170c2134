"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmshop.serve.store.base import MAX_ID_CHARS

EventType = Literal[
    "view", "click", "add_to_cart", "purchase", "return", "thumbs_up", "thumbs_down"
]
FitReason = Literal["too_small", "too_large", "fit_ok", "not_as_pictured", "quality", "other"]


class ErrorBody(BaseModel):
    """Every error: a stable machine-readable ``code`` and a human ``message``."""

    code: str = Field(examples=["bad_query"])
    message: str = Field(examples=["the text query is empty; type what you are looking for"])


class ProductSummary(BaseModel):
    id: str
    title: str
    image_url: str | None = Field(None, description="relative URL of the product photo")
    fields: dict[str, Any] = Field(default_factory=dict, description="catalogue attributes")


class Hit(ProductSummary):
    rank: int = Field(description="1-based")
    score: float = Field(description="higher is more relevant")


class SearchResponse(BaseModel):
    query: str | None = None
    mode: str
    k: int
    filters: dict[str, list[str]] = Field(default_factory=dict)
    results: list[Hit]
    facets: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="counts of each value of the facet fields among the results",
    )
    took_ms: float


class ClassScore(BaseModel):
    value: str
    probability: float


class AttributesResponse(BaseModel):
    product_id: str | None = None
    attributes: dict[str, list[ClassScore]] = Field(
        description="per label, the tagger's top classes, most probable first"
    )


class ProductDetail(ProductSummary):
    predicted: dict[str, list[ClassScore]] | None = Field(
        None, description="the tagger's top classes per label (null when no tagger is loaded)"
    )


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    product_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    event_type: EventType
    reason: FitReason | None = Field(None, description="required for 'return', else absent")
    value: float | None = Field(None, description="e.g. price paid or quantity")
    session_id: str | None = Field(None, max_length=MAX_ID_CHARS)
    context: dict[str, Any] = Field(default_factory=dict, description="query, page, rank, ...")


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1)


class EventsAck(BaseModel):
    stored: int = Field(description="events written (all of them, in one transaction)")
    ids: list[int]


class StoredEvent(EventIn):
    id: int
    created_at: float = Field(description="unix seconds, UTC")


class EventsPage(BaseModel):
    events: list[StoredEvent]
    next_after_id: int | None = Field(None, description="pass as after_id for the next page")


class Recommendation(BaseModel):
    product: ProductSummary
    score: float
    reason: str = Field(description="why this item, in words a shopper understands")


class RecommendationsResponse(BaseModel):
    user_id: str
    items: list[Recommendation]
    model_version: str | None = None


class Health(BaseModel):
    status: Literal["ok"]
    products: int
    indexed: int
    events: int
    tagger: bool
    schema_version: int


class Version(BaseModel):
    mmshop: str
    api: str
    search_model_version: str | None
    tagger_labels: list[str]


class PageConfig(BaseModel):
    api_key: str | None
    facets: list[str]
    max_k: int
    max_upload_bytes: int
    tagger: bool
