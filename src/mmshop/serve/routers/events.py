"""Feedback events (view, click, add-to-cart, purchase, return with a fit reason, thumbs up/down).

Writes need the API key. An acknowledged event is committed to the store (one transaction per
request: all events of a batch are stored, or none and the answer is an error). An event about a
product the catalogue does not know is refused (422, naming the event and the id), so typos in a
shop's integration do not silently train the recommender on products that do not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from mmshop.serve.deps import in_worker, require_api_key, services, settings
from mmshop.serve.errors import ApiError
from mmshop.serve.schemas import ErrorBody, EventIn, EventsAck, EventsIn, EventsPage, StoredEvent
from mmshop.serve.store import Event

router = APIRouter(tags=["events"], dependencies=[Depends(require_api_key)])
AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or wrong API key"}
}


@router.post(
    "/events",
    response_model=EventsAck,
    status_code=201,
    responses={
        **AUTH,
        413: {"model": ErrorBody, "description": "too many events"},
        422: {"model": ErrorBody, "description": "invalid event or unknown product id"},
    },
)
async def post_events(request: Request, body: EventIn | EventsIn) -> EventsAck:
    """Store one event, or a batch ``{"events": [...]}`` atomically."""
    items = body.events if isinstance(body, EventsIn) else [body]
    limit = settings(request).max_events_per_request
    if len(items) > limit:
        raise ApiError(413, "too_large", f"at most {limit} events per request, got {len(items)}")
    events = [Event(**item.model_dump()).validate() for item in items]
    svc = services(request)
    known = svc.products([e.product_id for e in events])
    for i, event in enumerate(events):
        if event.product_id not in known:
            where = f"events[{i}]" if isinstance(body, EventsIn) else "event"
            raise ApiError(
                422, "unknown_product",
                f"{where}: no product with id {event.product_id!r} in the catalogue; "
                "nothing was stored",
            )  # fmt: skip
    ids = await in_worker(request, svc.store.add_events, events)
    return EventsAck(stored=len(ids), ids=ids)


@router.get("/events", response_model=EventsPage, responses=AUTH)
async def list_events(
    request: Request,
    user_id: str | None = None,
    product_id: str | None = None,
    event_type: Annotated[list[str] | None, Query()] = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventsPage:
    """Stored events, oldest first; page with ``after_id``."""
    store = services(request).store
    found = await in_worker(request, store.events, user_id, product_id, event_type, after_id, limit)
    events = [StoredEvent(**e.to_dict()) for e in found]
    return EventsPage(events=events, next_after_id=events[-1].id if len(events) == limit else None)
