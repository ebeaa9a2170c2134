"""Versioned schema migrations, applied in order; each runs in its own transaction.

Append new migrations at the end with the next number; never edit one that has shipped. A
PostgreSQL backend keeps the same numbers (its SQL may differ).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "products and feedback events",
        (
            """CREATE TABLE products (
                id TEXT PRIMARY KEY,
                title TEXT NOT NULL DEFAULT '',
                image TEXT,
                fields TEXT NOT NULL DEFAULT '{}',
                updated_at REAL NOT NULL
            )""",
            """CREATE TABLE events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created_at REAL NOT NULL,
                user_id TEXT NOT NULL,
                product_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                reason TEXT,
                value REAL,
                session_id TEXT,
                context TEXT NOT NULL DEFAULT '{}'
            )""",
            "CREATE INDEX events_user ON events (user_id, id)",
            "CREATE INDEX events_product ON events (product_id, id)",
        ),
    ),
    Migration(
        2,
        "index events by type (recommendation training reads purchases and returns)",
        ("CREATE INDEX events_type ON events (event_type, id)",),
    ),
    Migration(
        3,
        "stated shopper preferences (sizes, colours, usages, types, price range) as JSON",
        (
            """CREATE TABLE preferences (
                user_id TEXT PRIMARY KEY,
                data TEXT NOT NULL DEFAULT '{}',
                updated_at REAL NOT NULL
            )""",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
