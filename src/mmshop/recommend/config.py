"""Settings of the recommender: event weights, recency, score mix, diversity and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError

#: Event types understood (the service's feedback events use the same names).
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "return", "thumbs_up", "thumbs_down")


def _event_weights() -> dict[str, float]:
    return {
        "view": 1.0,
        "click": 1.5,
        "add_to_cart": 2.5,
        "purchase": 4.0,
        "return": -2.0,
        "thumbs_up": 3.0,
        "thumbs_down": -3.0,
    }


@dataclass
class RecommendConfig(ConfigBase):
    """How events become a profile and how items are scored.

    ``event_weights``: weight of each event type in the taste profile (negative pushes away).
    A ``return`` for a size reason (``too_small`` / ``too_large``) counts as ``size_return_weight``
    instead: the customer liked the item, the size was wrong. ``decay``: every new event
    multiplies the older profile by this factor (recency). Score of an item::

        similarity * cos(profile, item)
        + attributes * mean over attribute_columns of log((share of the customer's weighted
          history with the item's value, smoothed) / (share of the catalogue with that value))
        + preferences * (share of stated preferences the item matches)
        + popularity * log(1 + item count / mean item count)

    The attribute term is a "lift": 0 when the customer chooses a value as often as the
    catalogue offers it, positive when more often. ``attribute_prior``: pseudo-events spread
    like the catalogue that smooth it (a short history moves it less).

    ``popularity_half_life``: when set, popularity is "trending": an event counts half as much
    after this many newer events (``None``: plain counts). ``exclude``: event types whose items
    are not recommended again. ``diversity`` (0..1) is the
    default trade-off of the MMR re-ranking (0 = by score only). ``reason_similarity``: the
    least cosine similarity for the reason "similar to X you bought".
    """

    event_weights: dict[str, float] = field(default_factory=_event_weights)
    size_return_weight: float = 1.0
    decay: float = 0.95
    similarity: float = 1.0
    attributes: float = 0.5
    preferences: float = 0.5
    popularity: float = 0.2
    attribute_prior: float = 2.0
    popularity_half_life: float | None = None
    attribute_columns: list[str] = field(
        default_factory=lambda: ["baseColour", "articleType", "usage"]
    )
    colour_column: str = "baseColour"
    usage_column: str = "usage"
    type_column: str = "articleType"
    title_column: str = "productDisplayName"
    price_column: str = "price"
    sizes_column: str = "sizes"
    exclude: list[str] = field(default_factory=lambda: ["purchase", "return"])
    diversity: float = 0.0
    candidates: int = 200
    reason_similarity: float = 0.5
    history_limit: int = 50

    def validate(self) -> None:
        unknown = sorted(set(self.event_weights) - set(EVENT_TYPES))
        if unknown:
            raise ConfigError(
                f"event_weights: unknown event type(s) {unknown}; valid {EVENT_TYPES}"
            )
        bad_excl = sorted(set(self.exclude) - set(EVENT_TYPES))
        if bad_excl:
            raise ConfigError(f"exclude: unknown event type(s) {bad_excl}; valid {EVENT_TYPES}")
        if not 0.0 < self.decay <= 1.0:
            raise ConfigError(f"decay must be in (0, 1], got {self.decay!r}")
        for name in ("similarity", "attributes", "preferences", "popularity"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{name} must be a weight >= 0, got {value!r}")
        if not isinstance(self.attribute_prior, int | float) or self.attribute_prior <= 0:
            raise ConfigError(f"attribute_prior must be > 0, got {self.attribute_prior!r}")
        if self.popularity_half_life is not None and not self.popularity_half_life > 0:
            raise ConfigError(
                f"popularity_half_life must be > 0 or null, got {self.popularity_half_life!r}"
            )
        if not 0.0 <= self.diversity <= 1.0:
            raise ConfigError(f"diversity must be in [0, 1], got {self.diversity!r}")
        for name in ("candidates", "history_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if not -1.0 <= self.reason_similarity <= 1.0:
            raise ConfigError(
                f"reason_similarity must be in [-1, 1], got {self.reason_similarity!r}"
            )
