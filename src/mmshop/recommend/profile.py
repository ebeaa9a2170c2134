"""A customer's profile: stated preferences plus a taste vector updated online by each event."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmshop.errors import QueryError

SIZE_REASONS = ("too_small", "too_large")


@dataclass
class Preferences:
    """What a customer told us: sizes, colours, usages/styles, article types, a price range.

    Matching is case-insensitive. Empty lists mean "no preference".
    """

    sizes: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    usages: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    price_min: float | None = None
    price_max: float | None = None

    def __post_init__(self) -> None:
        for name in ("sizes", "colours", "usages", "types"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise QueryError(f"{name}: expected a list of text values, got {value!r}")
            setattr(self, name, [v.strip() for v in value if v.strip()])
        for name in ("price_min", "price_max"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int | float) or not math.isfinite(value) or value < 0
            ):
                raise QueryError(f"{name}: expected a price >= 0, got {value!r}")
        if (
            self.price_min is not None
            and self.price_max is not None
            and self.price_min > self.price_max
        ):
            raise QueryError(f"price_min {self.price_min} is above price_max {self.price_max}")

    @property
    def empty(self) -> bool:
        return not (self.sizes or self.colours or self.usages or self.types) and (
            self.price_min is None and self.price_max is None
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preferences:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise QueryError(
                f"unknown preference(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**data)


@dataclass
class UserProfile:
    """Online state of one customer. ``vector`` is the decayed, weighted sum of item embeddings."""

    vector: np.ndarray
    weight: float = 0.0
    attribute_counts: dict[str, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    history: list[tuple[int, str]] = field(default_factory=list)  # (item position, event type)
    excluded: set[int] = field(default_factory=set)
    fit_returns: list[tuple[int, str]] = field(default_factory=list)
    preferences: Preferences = field(default_factory=Preferences)
    events: int = 0

    def update(
        self,
        position: int,
        embedding: np.ndarray,
        attributes: dict[str, str | None],
        event_type: str,
        weight: float,
        decay: float,
        exclude: bool,
        history_limit: int,
    ) -> None:
        """Fold one event into the profile (O(dim + attributes))."""
        self.vector *= decay
        self.weight *= decay
        for counts in self.attribute_counts.values():
            for key in counts:
                counts[key] *= decay
        self.vector += weight * embedding
        self.weight += abs(weight)
        if weight > 0:
            for column, value in attributes.items():
                if value is not None:
                    self.attribute_counts[column][value] += weight
        self.history.append((position, event_type))
        if len(self.history) > history_limit:
            self.history = self.history[-history_limit:]
        if exclude:
            self.excluded.add(position)
        self.events += 1

    def affinity(self, column: str) -> dict[str, float]:
        """Share of the positive weighted history per value of ``column`` (sums to 1)."""
        counts = self.attribute_counts.get(column)
        if not counts:
            return {}
        total = sum(v for v in counts.values() if v > 0)
        return {k: v / total for k, v in counts.items() if v > 0} if total > 0 else {}
