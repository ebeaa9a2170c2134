"""The service's recommender: a :class:`mmshop.recommend.Recommender` over the served catalogue,
kept up to date from the store's feedback events and stated preferences.

Item vectors are read from the search index (no re-encoding at start-up); products missing
from the index fall back to :func:`~mmshop.recommend.attribute_embeddings` for the whole
catalogue. Before each request the recommender reads only the events stored after the last
one it has seen (:meth:`Recommender.sync`), so a click changes the next answer at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mmshop.data.catalog import Catalog
from mmshop.errors import ConfigError, QueryError
from mmshop.recommend import ItemCatalogue, Preferences, Recommendation, Recommender
from mmshop.recommend import attribute_embeddings as attribute_items
from mmshop.serve.store import Store

log = logging.getLogger("mmshop.serve")
SHOP_EXCLUDE = ("view", "click", "add_to_cart", "purchase", "return", "thumbs_down")

_ROLES = {
    "colour_column": ("colour", "color"),
    "type_column": ("articletype", "category", "type"),
    "usage_column": ("usage", "style", "occasion"),
    "price_column": ("price",),
    "sizes_column": ("sizes", "size"),
}


def _find(columns: list[str], words: tuple[str, ...]) -> str | None:
    lowered = {c: c.lower() for c in columns}
    for word in words:
        exact = [c for c, low in lowered.items() if low == word]
        if exact:
            return exact[0]
    for word in words:
        for c, low in lowered.items():
            if word in low:
                return c
    return None


def column_roles(catalog: Catalog, title_column: str | None) -> dict[str, Any]:
    """``RecommendConfig`` overrides naming this catalogue's colour, type, usage, price and
    title columns (found by name, e.g. ``baseColour`` / ``colour``, ``articleType`` /
    ``category``, ``usage`` / ``style``)."""
    roles = catalog.roles
    skip = {roles.id, roles.image, title_column, "split"}
    columns = [c for c in catalog.df.columns if c not in skip]
    found = {key: _find(columns, words) for key, words in _ROLES.items()}
    out: dict[str, Any] = {k: v for k, v in found.items() if v is not None}
    if title_column:
        out["title_column"] = title_column
    attrs = [found[k] for k in ("colour_column", "type_column", "usage_column") if found[k]]
    out["attribute_columns"] = list(dict.fromkeys(attrs))
    return out


def index_items(catalog: Catalog, index: Any, title_column: str | None) -> ItemCatalogue:
    """The catalogue's products with the vectors stored in the search index (read, not
    re-encoded); every catalogue product must be indexed, else the attribute fallback."""
    df = catalog.df.reset_index(drop=True)
    ids = [str(i) for i in df[catalog.roles.id]]
    slots = [_slot(index, i) for i in ids]
    attributes = df.drop(columns=[catalog.roles.id])
    if all(s is not None for s in slots) and len(getattr(index, "vectors", ())) > 0:
        vectors = np.asarray(index.vectors)[np.asarray(slots, dtype=np.int64)]
        return ItemCatalogue(ids, vectors, attributes, "search-index")
    missing = sum(s is None for s in slots)
    log.warning(
        "%d catalogue products are not in the search index: recommending over attribute "
        "embeddings of the catalogue instead",
        missing,
    )
    skip = {catalog.roles.image, "split"}
    columns = [
        c
        for c in df.columns
        if c not in skip | {catalog.roles.id, title_column}
        and df[c].dtype == object
        and df[c].nunique() < 500
    ]
    frame = df.assign(**{catalog.roles.id: ids})
    return attribute_items(frame, catalog.roles.id, columns, title_column)


def _slot(index: Any, product_id: str) -> int | None:
    try:
        return int(index.slot(product_id))
    except QueryError:
        return None


class ServeRecommender:
    """A thread-safe recommender for the service: one lock around sync, state and ranking."""

    def __init__(
        self,
        items: ItemCatalogue,
        store: Store,
        overrides: Mapping[str, Any] | None = None,
        popularity: Mapping[str, float] | None = None,
    ) -> None:
        self.store = store
        self.recommender = Recommender(items, overrides=overrides)
        if popularity:
            self.recommender.set_popularity(popularity)
        self._lock = threading.Lock()
        self._loaded_prefs: set[str] = set()
        with self._lock:
            applied = self.recommender.sync(store)
        log.info("recommender: %d items, %d stored events replayed", len(items), applied)

    @property
    def version(self) -> str:
        return f"{self.recommender.items.source}:{len(self.recommender.items)}"

    def _ensure_preferences(self, user_id: str) -> None:
        """Called with the lock held: apply the stored preferences the first time we see a user."""
        if user_id in self._loaded_prefs:
            return
        stored = self.store.get_preferences(user_id)
        if stored is not None:
            self.recommender.set_preferences(user_id, Preferences.from_dict(stored[0]))
        self._loaded_prefs.add(user_id)

    def recommend(
        self,
        user_id: str,
        k: int,
        filters: Mapping[str, Any] | None = None,
        diversity: float | None = None,
    ) -> list[Recommendation]:
        """Sync new events, then rank; filters use the catalogue's columns (+ price range)."""
        with self._lock:
            self.recommender.sync(self.store)
            self._ensure_preferences(user_id)
            k = min(k, len(self.recommender.items))
            return self.recommender.recommend(user_id, k, self._filters(filters), diversity)

    def _filters(self, filters: Mapping[str, Any] | None) -> dict[str, Any]:
        """``mmshop search --filter`` style filters -> the recommender's (ranges: price only)."""
        out: dict[str, Any] = {}
        price = self.recommender.config.price_column
        for field, value in (filters or {}).items():
            if isinstance(value, dict):
                if field != price:
                    raise QueryError(
                        f"filter '{field}': ranges work on the price column ('{price}') only"
                    )
                for bound in ("min", "max"):
                    if value.get(bound) is not None:
                        try:
                            out[f"price_{bound}"] = float(value[bound])
                        except ValueError:
                            raise QueryError(
                                f"filter '{field}': {value[bound]!r} is not a number"
                            ) from None
            else:
                out[field] = value
        return out

    def set_preferences(self, user_id: str, preferences: Preferences) -> float:
        """Store durably, then apply to the live profile; returns the stored time."""
        with self._lock:
            stamp = self.store.set_preferences(user_id, _as_dict(preferences))
            self.recommender.set_preferences(user_id, preferences)
            self._loaded_prefs.add(user_id)
        return stamp

    def get_preferences(self, user_id: str) -> tuple[Preferences, float | None]:
        stored = self.store.get_preferences(user_id)
        if stored is None:
            return Preferences(), None
        return Preferences.from_dict(stored[0]), stored[1]


def _as_dict(preferences: Preferences) -> dict[str, Any]:
    return {
        "sizes": preferences.sizes,
        "colours": preferences.colours,
        "usages": preferences.usages,
        "types": preferences.types,
        "price_min": preferences.price_min,
        "price_max": preferences.price_max,
    }


def build_recommender(
    catalog: Catalog,
    index: Any,
    title_column: str | None,
    store: Store,
    popularity_column: str | None,
) -> ServeRecommender:
    """The service's recommender over ``catalog`` (see the module docstring)."""
    items = index_items(catalog, index, title_column)
    overrides = column_roles(catalog, title_column)
    # a shop strip shows what the shopper has not looked at yet (the library default only
    # leaves out purchases and returns)
    overrides["exclude"] = list(SHOP_EXCLUDE)
    popularity = None
    if popularity_column:
        df = catalog.df
        if popularity_column not in df.columns:
            raise ConfigError(
                f"popularity_column '{popularity_column}' is not a catalogue column; "
                f"columns: {list(df.columns)}"
            )
        counts = pd.to_numeric(df[popularity_column], errors="coerce").fillna(0.0)
        if (counts < 0).any():
            raise ConfigError(f"popularity_column '{popularity_column}' has negative values")
        popularity = dict(zip(df[catalog.roles.id].astype(str), counts.astype(float), strict=True))
    return ServeRecommender(items, store, overrides, popularity)
