"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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
    model_version: str | None = Field(
        None, description="where the item vectors come from and how many items are ranked"
    )


ShortText = Annotated[str, Field(min_length=1, max_length=64)]


class PreferencesIn(BaseModel):
    """What a shopper told us; empty lists / null mean "no preference"."""

    model_config = ConfigDict(extra="forbid")

    sizes: list[ShortText] = Field(default_factory=list, max_length=20, examples=[["M", "L"]])
    colours: list[ShortText] = Field(default_factory=list, max_length=20, examples=[["Black"]])
    usages: list[ShortText] = Field(default_factory=list, max_length=20, examples=[["Casual"]])
    types: list[ShortText] = Field(default_factory=list, max_length=20, examples=[["Tshirts"]])
    price_min: float | None = Field(None, ge=0)
    price_max: float | None = Field(None, ge=0)


class PreferencesOut(PreferencesIn):
    user_id: str
    updated_at: float | None = Field(None, description="unix seconds; null: none stated yet")


Measurement = Annotated[str, Field(max_length=40)] | float | int | None


class SizeAdviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str | None = Field(None, max_length=MAX_ID_CHARS)
    category: str | None = Field(None, max_length=MAX_ID_CHARS)
    user_id: str | None = Field(None, max_length=MAX_ID_CHARS)
    measurements: dict[str, Measurement] = Field(
        default_factory=dict,
        max_length=20,
        description="any of height (cm or 5' 8\"), weight (kg or 137lbs), age, bust (34d), "
        "waist, hips, body_type; raw strings or numbers; all optional",
        examples=[{"height": 170, "weight": "62kg", "age": 30}],
    )


class SizeOption(BaseModel):
    size: str
    probability: float = Field(description="P(this size) or, from the fit model, P(it fits)")
    small: float | None = None
    fit: float | None = None
    large: float | None = None


class SizeAdviceResponse(BaseModel):
    item_id: str | None
    size: str
    fit_probability: float = Field(description="confidence in the recommended size (0..1)")
    within_one_probability: float | None = None
    options: list[SizeOption]
    measurements_used: list[str]
    measurements_missing: list[str]
    source: Literal["fit_model", "body_size_model"]
    note: str
    new_customer: bool | None = None
    new_item: bool | None = None


class ReviewIn(BaseModel):
    """A review's ``text`` plus any context fields the sentiment model reads."""

    model_config = ConfigDict(extra="allow")

    text: str = Field(description="the review text (UTF-8)")


class ReviewsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviews: list[ReviewIn] = Field(min_length=1)


class SentimentResult(BaseModel):
    sentiment: str
    confidence: float
    probabilities: dict[str, float]


class SentimentResponse(BaseModel):
    results: list[SentimentResult]


class TitlesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    titles: list[str] = Field(min_length=1, examples=[["Puma Men Black Running Shoes"]])


class ExtractedSpan(BaseModel):
    type: str = Field(examples=["BRAND"])
    text: str
    start: int = Field(description="first word (0-based)")
    end: int = Field(description="one past the last word")


class ExtractResult(BaseModel):
    title: str
    attributes: dict[str, str] = Field(description="first span of each type")
    spans: list[ExtractedSpan]


class ExtractResponse(BaseModel):
    results: list[ExtractResult]


class CaptionResponse(BaseModel):
    title: str = Field(description="a suggested product title for the photo")


class Health(BaseModel):
    status: Literal["ok"]
    products: int
    indexed: int
    events: int
    tagger: bool
    schema_version: int
    models: dict[str, bool] = Field(
        default_factory=dict, description="which optional feature models are loaded"
    )


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
    size_advice: bool = False
    caption: bool = False
    fit_panel_when: dict[str, list[str]] = Field(default_factory=dict)
    search_mode: str = "vector"
