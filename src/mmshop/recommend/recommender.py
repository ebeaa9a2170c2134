"""Recommender: rank catalogue items for a customer; feedback events update the profile online.

Nothing is retrained when an event arrives: :meth:`Recommender.record_event` folds the item's
embedding and attributes into the customer's profile in O(dim), so the next
:meth:`Recommender.recommend` already reflects it. Events can also be read from any store that
has an ``events(user_id=None, product_id=None, event_types=None, after_id=0, limit=1000)``
method returning objects with ``id``, ``user_id``, ``product_id``, ``event_type`` and ``reason``
(:class:`EventSource`; the service's SQLite store satisfies it) with :meth:`Recommender.sync`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mmshop.errors import QueryError
from mmshop.recommend.config import EVENT_TYPES, RecommendConfig
from mmshop.recommend.items import ItemCatalogue
from mmshop.recommend.profile import SIZE_REASONS, Preferences, UserProfile

VERBS = {
    "purchase": "bought",
    "view": "viewed",
    "click": "viewed",
    "add_to_cart": "saved",
    "thumbs_up": "liked",
    "return": "tried",
}


@dataclass
class Recommendation:
    """One recommended item with its score and a short reason a shopper understands."""

    item_id: str
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "score": self.score, "reason": self.reason}


@runtime_checkable
class EventSource(Protocol):
    """A store of feedback events, read oldest first and paged by ``after_id``."""

    def events(
        self,
        user_id: str | None = None,
        product_id: str | None = None,
        event_types: Any = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Any]: ...


class _Column:
    """An attribute column as integer codes (lower-cased values) for vectorised lookups."""

    def __init__(self, values: pd.Series) -> None:
        text = values.astype(object).where(values.notna(), None)
        self.raw = [None if v is None else str(v) for v in text]
        lowered = pd.Series([None if v is None else v.lower() for v in self.raw], dtype=object)
        codes, uniques = pd.factorize(lowered, use_na_sentinel=True)
        self.codes = codes
        self.values = [str(u) for u in uniques]
        self.lookup = {v: i for i, v in enumerate(self.values)}
        known = codes[codes >= 0]
        counts = np.bincount(known, minlength=len(self.values)).astype(np.float64)
        self.frequencies = counts / max(1.0, counts.sum())

    def vector(self, weights: Mapping[str, float]) -> np.ndarray:
        """Per-item value of ``weights[item's value]`` (0 for other or missing values)."""
        table = np.zeros(len(self.values) + 1, dtype=np.float32)
        for value, w in weights.items():
            idx = self.lookup.get(value.lower())
            if idx is not None:
                table[idx] = w
        return table[self.codes]  # code -1 (missing) reads the last, zero slot

    def matches(self, wanted: Iterable[str]) -> np.ndarray:
        return self.vector({w: 1.0 for w in wanted}) > 0


class Recommender:
    """Ranks the items of an :class:`ItemCatalogue` for a customer.

    Call :meth:`record_event` (or :meth:`sync` with a store) as feedback arrives,
    :meth:`set_preferences` for stated preferences, and :meth:`recommend` to ask.
    """

    def __init__(
        self,
        items: ItemCatalogue,
        config: RecommendConfig | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        base = config or RecommendConfig()
        self.config = base.replace(dict(overrides)) if overrides else base
        self.items = items
        self.profiles: dict[str, UserProfile] = {}
        self.popularity = np.zeros(len(items), dtype=np.float64)
        self._event_weight = 1.0  # grows per event when popularity is "trending"
        self.last_event_id = 0
        self.skipped_events = 0
        self._columns: dict[str, _Column] = {
            c: _Column(items.attributes[c]) for c in items.attributes.columns
        }
        self._item_attrs = [c for c in self.config.attribute_columns if c in self._columns]

    # ------------------------------------------------------------------ state
    def _profile(self, user_id: str) -> UserProfile:
        if not isinstance(user_id, str) or not user_id.strip():
            raise QueryError(f"user_id: expected a non-empty string, got {user_id!r}")
        profile = self.profiles.get(user_id)
        if profile is None:
            dim = self.items.embeddings.shape[1]
            profile = UserProfile(vector=np.zeros(dim, dtype=np.float32))
            self.profiles[user_id] = profile
        return profile

    def set_preferences(self, user_id: str, preferences: Preferences | Mapping[str, Any]) -> None:
        """Store what the customer told us (replaces earlier stated preferences)."""
        prefs = (
            preferences
            if isinstance(preferences, Preferences)
            else Preferences.from_dict(dict(preferences))
        )
        self._profile(user_id).preferences = prefs

    def set_popularity(self, counts: Mapping[str, float]) -> None:
        """Seed item popularity (e.g. sales counts); unknown ids are ignored."""
        self.popularity[:] = 0
        self._event_weight = 1.0
        for item_id, count in counts.items():
            pos = self.items.index.get(str(item_id))
            if pos is not None:
                self.popularity[pos] = float(count)

    def record_event(
        self,
        user_id: str,
        item_id: str,
        event_type: str,
        reason: str | None = None,
        value: float | None = None,
    ) -> None:
        """Fold one feedback event into the customer's profile (and item popularity) now."""
        if event_type not in EVENT_TYPES:
            raise QueryError(f"event_type: unknown '{event_type}'; valid: {list(EVENT_TYPES)}")
        position = self.items.position(item_id)
        profile = self._profile(user_id)
        cfg = self.config
        if event_type == "return" and reason in SIZE_REASONS:
            weight = cfg.size_return_weight
            profile.fit_returns.append((position, str(reason)))
        else:
            weight = cfg.event_weights.get(event_type, 0.0)
        attrs = {c: self._columns[c].raw[position] for c in self._item_attrs}
        profile.update(
            position,
            self.items.embeddings[position],
            attrs,
            event_type,
            weight,
            cfg.decay,
            event_type in cfg.exclude,
            cfg.history_limit,
        )
        if weight > 0:
            self._count(position)

    def _count(self, position: int) -> None:
        half_life = self.config.popularity_half_life
        if half_life is not None:
            self._event_weight *= 2.0 ** (1.0 / half_life)
            if self._event_weight > 1e100:  # rescale; only ratios matter
                self.popularity /= self._event_weight
                self._event_weight = 1.0
        self.popularity[position] += self._event_weight

    def sync(self, source: EventSource, page: int = 1000) -> int:
        """Read the events stored after the last one seen; returns how many were applied.

        Events on items outside the catalogue are skipped and counted in ``skipped_events``.
        """
        applied = 0
        while True:
            batch = source.events(after_id=self.last_event_id, limit=page)
            for event in batch:
                try:
                    self.record_event(
                        event.user_id, event.product_id, event.event_type, event.reason
                    )
                    applied += 1
                except QueryError:
                    self.skipped_events += 1
                if event.id is not None:
                    self.last_event_id = max(self.last_event_id, int(event.id))
            if len(batch) < page:
                return applied

    # ---------------------------------------------------------------- scoring
    def _filter_mask(self, filters: Mapping[str, Any] | None, prefs: Preferences) -> np.ndarray:
        cfg = self.config
        mask = np.ones(len(self.items), dtype=bool)
        filters = dict(filters or {})
        price_min = filters.pop("price_min", prefs.price_min)
        price_max = filters.pop("price_max", prefs.price_max)
        sizes = filters.pop("size", None)
        sizes = [sizes] if isinstance(sizes, str) else list(sizes or prefs.sizes)
        for column, wanted in filters.items():
            if column not in self._columns:
                raise QueryError(
                    f"filters: unknown field '{column}'; known: "
                    f"{sorted([*self._columns, 'price_min', 'price_max', 'size'])}"
                )
            wanted = [wanted] if isinstance(wanted, str | int | float) else list(wanted)
            mask &= self._columns[column].matches(str(w) for w in wanted)
        if price_min is not None or price_max is not None:
            price = self.items.attribute(cfg.price_column)
            if price is None:
                raise QueryError(f"filters: the catalogue has no '{cfg.price_column}' column")
            values = pd.to_numeric(price, errors="coerce").to_numpy(dtype=np.float64)
            ok = np.isfinite(values)
            if price_min is not None:
                ok &= values >= float(price_min)
            if price_max is not None:
                ok &= values <= float(price_max)
            mask &= ok
        if sizes:
            column = self.items.attribute(cfg.sizes_column)
            if column is not None:
                wanted_sizes = {s.lower() for s in sizes}
                mask &= np.array(
                    [bool(wanted_sizes & _size_set(v)) for v in column.tolist()], dtype=bool
                )
        return mask

    def scores(
        self, user_id: str, filters: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``(score [N], allowed mask [N], parts)`` for every item; parts are the score terms."""
        cfg = self.config
        profile = self.profiles.get(user_id)
        prefs = profile.preferences if profile else Preferences()
        n = len(self.items)
        parts: dict[str, np.ndarray] = {}
        norm = float(np.linalg.norm(profile.vector)) if profile is not None else 0.0
        parts["similarity"] = (
            self.items.embeddings @ (profile.vector / norm) if norm > 1e-9 else np.zeros(n)
        )
        attr = np.zeros(n, dtype=np.float64)
        if profile is not None and self._item_attrs:
            for column in self._item_attrs:
                attr += self._lift(column, profile)
            attr /= len(self._item_attrs)
        parts["attributes"] = attr
        pref = np.zeros(n, dtype=np.float32)
        stated = [
            (cfg.colour_column, prefs.colours),
            (cfg.usage_column, prefs.usages),
            (cfg.type_column, prefs.types),
        ]
        stated = [(c, v) for c, v in stated if v and c in self._columns]
        for column, wanted in stated:
            pref += self._columns[column].matches(wanted)
        if stated:
            pref /= len(stated)
        parts["preferences"] = pref
        top = self.popularity.max()
        # log(1 + count / mean count): 0 for an average item, scale-free (trending counts grow)
        mean = self.popularity.mean()
        parts["popularity"] = np.log1p(self.popularity / mean) if top > 0 else np.zeros(n)
        score = sum(getattr(cfg, name) * parts[name] for name in parts)
        mask = self._filter_mask(filters, prefs)
        if profile is not None and profile.excluded:
            mask[list(profile.excluded)] = False
        return np.asarray(score, dtype=np.float64), mask, parts

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        filters: Mapping[str, Any] | None = None,
        diversity: float | None = None,
    ) -> list[Recommendation]:
        """The ``k`` best items for ``user_id`` (a new customer gets preference/popularity picks).

        ``filters``: ``{column: value or [values]}`` on item attributes, plus ``price_min``,
        ``price_max`` and ``size`` (needs a sizes column). ``diversity`` (0..1, default from the
        config) re-ranks with maximal marginal relevance so the list is less repetitive.
        """
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(self.items):
            raise QueryError(f"k must be an integer from 1 to {len(self.items)}, got {k!r}")
        lam = self.config.diversity if diversity is None else float(diversity)
        if not 0.0 <= lam <= 1.0:
            raise QueryError(f"diversity must be in [0, 1], got {diversity!r}")
        score, mask, parts = self.scores(user_id, filters)
        allowed = np.flatnonzero(mask)
        if allowed.size == 0:
            return []
        pool = min(allowed.size, max(k, self.config.candidates if lam > 0 else k))
        order = allowed[np.argsort(-score[allowed], kind="stable")[:pool]]
        chosen = _mmr(order, score, self.items.embeddings, k, lam) if lam > 0 else order[:k]
        profile = self.profiles.get(user_id)
        return [
            Recommendation(self.items.ids[i], float(score[i]), self._reason(i, profile, parts))
            for i in chosen
        ]

    def _lift(self, column: str, profile: UserProfile) -> np.ndarray:
        """Per item: log of how much more often the customer chose the item's value of
        ``column`` than the catalogue offers it (smoothed with ``attribute_prior`` pseudo-events
        spread like the catalogue; 0 = no preference either way)."""
        col = self._columns[column]
        counts = profile.attribute_counts.get(column) or {}
        freq = col.frequencies
        table = np.zeros(len(col.values) + 1, dtype=np.float64)
        total = sum(v for v in counts.values() if v > 0)
        if total <= 0:
            return table[col.codes]
        chosen = np.zeros(len(col.values), dtype=np.float64)
        for value, c in counts.items():
            idx = col.lookup.get(value.lower())
            if idx is not None and c > 0:
                chosen[idx] += c
        alpha = self.config.attribute_prior
        share = (chosen + alpha * freq) / (total + alpha)
        table[:-1] = np.log(share / np.maximum(freq, 1e-12))
        return table[col.codes]

    # ---------------------------------------------------------------- reasons
    def _title(self, position: int) -> str:
        column = self._columns.get(self.config.title_column)
        title = column.raw[position] if column is not None else None
        return title or f"item {self.items.ids[position]}"

    def _reason(
        self, position: int, profile: UserProfile | None, parts: dict[str, np.ndarray]
    ) -> str:
        cfg = self.config
        if profile is not None and profile.history:
            liked = [(p, e) for p, e in profile.history if cfg.event_weights.get(e, 0) > 0]
            if liked:
                positions = np.array([p for p, _ in liked])
                sims = self.items.embeddings[positions] @ self.items.embeddings[position]
                best = int(np.argmax(sims))
                if sims[best] >= cfg.reason_similarity and positions[best] != position:
                    verb = VERBS.get(liked[best][1], "viewed")
                    return f"similar to {self._title(int(positions[best]))} you {verb}"
        prefs = profile.preferences if profile else Preferences()
        colour_col = self._columns.get(cfg.colour_column)
        colour = colour_col.raw[position] if colour_col is not None else None
        if colour and any(colour.lower() == c.lower() for c in prefs.colours):
            return f"in your colour ({colour.lower()})"
        if colour and profile is not None:
            affinity = profile.affinity(cfg.colour_column)
            if affinity and max(affinity, key=affinity.get).lower() == colour.lower():
                return f"in your colour ({colour.lower()})"
        for column, wanted in ((cfg.usage_column, prefs.usages), (cfg.type_column, prefs.types)):
            col = self._columns.get(column)
            value = col.raw[position] if col is not None else None
            if value and any(value.lower() == w.lower() for w in wanted):
                return f"matches your {value.lower()} style"
        if parts["attributes"][position] > 0:
            return "like things you often choose"
        return "popular right now" if parts["popularity"][position] > 0 else "new in"


def _size_set(value: Any) -> set[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return set()
    if isinstance(value, list | tuple | set):
        return {str(v).strip().lower() for v in value}
    return {s.strip().lower() for s in str(value).split("|") if s.strip()}


def _mmr(order: np.ndarray, score: np.ndarray, emb: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: trade score (scaled 0..1) for novelty w.r.t. picks so far."""
    s = score[order]
    span = s.max() - s.min()
    rel = (s - s.min()) / span if span > 0 else np.ones_like(s)
    vecs = emb[order]
    chosen: list[int] = []
    max_sim = np.full(len(order), -np.inf)
    available = np.ones(len(order), dtype=bool)
    for _ in range(min(k, len(order))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = (1 - lam) * rel - lam * penalty
        value[~available] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(int(order[pick]))
        available[pick] = False
        max_sim = np.maximum(max_sim, vecs @ vecs[pick])
    return chosen
