"""The store interface: catalogue metadata, feedback events and stated preferences, behind a
small protocol.

The embedded default is :class:`~mmshop.serve.store.sqlite.SQLiteStore`; a PostgreSQL backend
implements the same :class:`Store` protocol (same tables, same migrations numbered the same way).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from mmshop.errors import DataError

EVENT_TYPES = (
    "view",
    "click",
    "add_to_cart",
    "purchase",
    "return",
    "thumbs_up",
    "thumbs_down",
)
FIT_REASONS = ("too_small", "too_large", "fit_ok", "not_as_pictured", "quality", "other")
MAX_ID_CHARS = 128


@dataclass
class Product:
    """A catalogue row as the service shows it: id, title, image path and attribute fields."""

    id: str
    title: str = ""
    image: str | None = None  # path relative to the catalogue folder, or None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Event:
    """One feedback event. ``id`` and ``created_at`` are set by the store when it is written.

    ``event_type`` is one of :data:`EVENT_TYPES`; a ``return`` carries a ``reason`` from
    :data:`FIT_REASONS`; ``value`` is an optional number (e.g. price paid, quantity);
    ``context`` is free-form JSON (query, page, rank, ...).
    """

    user_id: str
    product_id: str
    event_type: str
    reason: str | None = None
    value: float | None = None
    session_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_at: float | None = None  # unix seconds (UTC)

    def validate(self) -> Event:
        """Raise DataError naming the field when the event is not storable."""
        for name in ("user_id", "product_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"event {name} must be a non-empty string, got {value!r}")
            if len(value) > MAX_ID_CHARS:
                raise DataError(f"event {name} is longer than {MAX_ID_CHARS} characters")
        if self.event_type not in EVENT_TYPES:
            raise DataError(
                f"event_type must be one of {list(EVENT_TYPES)}, got {self.event_type!r}"
            )
        if self.event_type == "return":
            if self.reason not in FIT_REASONS:
                raise DataError(
                    f"a 'return' event needs a reason from {list(FIT_REASONS)}, got {self.reason!r}"
                )
        elif self.reason is not None:
            raise DataError(f"only 'return' events carry a reason (got {self.event_type!r})")
        if self.value is not None and not math.isfinite(float(self.value)):
            raise DataError(f"event value must be a finite number, got {self.value!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Store(Protocol):
    """What the service and the recommendation work need from a database."""

    def schema_version(self) -> int:
        """The number of the last migration applied."""
        ...

    def upsert_products(self, products: Iterable[Product]) -> int:
        """Insert or replace products; returns how many were written."""
        ...

    def get_product(self, product_id: str) -> Product | None: ...

    def get_products(self, product_ids: Sequence[str]) -> dict[str, Product]: ...

    def count_products(self) -> int: ...

    def add_events(self, events: Sequence[Event]) -> list[int]:
        """Validate and store events in one transaction; returns their ids (all or nothing)."""
        ...

    def events(
        self,
        user_id: str | None = None,
        product_id: str | None = None,
        event_types: Sequence[str] | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Event]:
        """Events in id order (oldest first), optionally filtered; page with ``after_id``."""
        ...

    def count_events(self) -> int: ...

    def set_preferences(self, user_id: str, preferences: Mapping[str, Any]) -> float:
        """Store (replace) a shopper's stated preferences as JSON; returns the unix time."""
        ...

    def get_preferences(self, user_id: str) -> tuple[dict[str, Any], float] | None:
        """``(preferences, updated_at)`` of a shopper, or None when none were stated."""
        ...

    def close(self) -> None: ...
