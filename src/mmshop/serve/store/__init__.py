"""Storage for the service: the :class:`Store` protocol and its SQLite (WAL) implementation."""

from mmshop.serve.store.base import EVENT_TYPES, FIT_REASONS, Event, Product, Store
from mmshop.serve.store.migrations import LATEST, MIGRATIONS
from mmshop.serve.store.sqlite import SQLiteStore

__all__ = [
    "EVENT_TYPES",
    "FIT_REASONS",
    "LATEST",
    "MIGRATIONS",
    "Event",
    "Product",
    "SQLiteStore",
    "Store",
]
