"""SQLite store in WAL mode: the embedded default for catalogue metadata, feedback events and
stated preferences.

One writer connection behind a lock (SQLite allows one writer at a time anyway) and one reader
connection per thread; in WAL mode readers never block the writer. ``add_events`` returns only
after the transaction holding its events has committed, so an acknowledged event is on disk
(``synchronous=FULL`` by default: it survives a power cut, not only a crash of the process).
Concurrent calls share transactions (group commit: one fsync for many requests); one call's
events are always stored all together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmshop.errors import ConfigError, DataError, ModelLoadError
from mmshop.serve.store.base import EVENT_TYPES, MAX_ID_CHARS, Event, Product
from mmshop.serve.store.migrations import LATEST, MIGRATIONS

SYNC_MODES = ("full", "normal")
_EVENT_COLUMNS = (
    "id, created_at, user_id, product_id, event_type, reason, value, session_id, context"
)


class _Pending:
    """Rows of one ``add_events`` call waiting for a group commit."""

    __slots__ = ("done", "error", "ids", "rows")

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self.ids: list[int] = []
        self.done = False
        self.error: BaseException | None = None


class SQLiteStore:
    """:class:`~mmshop.serve.store.base.Store` on one SQLite file (``:memory:`` is refused:
    each connection would see its own database)."""

    def __init__(self, path: str | Path, synchronous: str = "full", timeout: float = 30.0) -> None:
        if str(path) == ":memory:":
            raise ConfigError("SQLiteStore needs a file path (WAL mode does not work in memory)")
        if synchronous not in SYNC_MODES:
            raise ConfigError(f"synchronous must be one of {list(SYNC_MODES)}, got {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous
        self.timeout = timeout
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._pending_lock = threading.Lock()
        self._closed = False
        self._writer = self._connect()
        mode = self._writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ModelLoadError(f"cannot put {self.path} in WAL mode (got {mode!r})")
        self.migrate()

    # ------------------------------------------------------------------ connections
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise ModelLoadError(f"cannot open the store {self.path}: {exc}") from exc
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise ModelLoadError(f"the store {self.path} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _write(self, fn: Any) -> Any:
        """Run ``fn(conn)`` inside one IMMEDIATE transaction on the writer connection."""
        if self._closed:
            raise ModelLoadError(f"the store {self.path} is closed")
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return out

    # ------------------------------------------------------------------ schema
    def schema_version(self) -> int:
        conn = self._writer
        with self._write_lock:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
            ).fetchone()
            if not exists:
                return 0
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def migrate(self, target: int = LATEST) -> int:
        """Apply the migrations after the current version up to ``target``; returns the version."""
        with self._write_lock:
            self._writer.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
        current = self.schema_version()
        if current > LATEST:
            raise ModelLoadError(
                f"the store {self.path} has schema version {current}, newer than this mmshop "
                f"knows ({LATEST}); upgrade mmshop"
            )
        for migration in MIGRATIONS:
            if current < migration.version <= target:

                def apply(conn: sqlite3.Connection, m: Any = migration) -> None:
                    done = conn.execute(
                        "SELECT 1 FROM schema_migrations WHERE version=?", (m.version,)
                    ).fetchone()
                    if done:  # another process applied it meanwhile
                        return
                    for statement in m.statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        (m.version, m.description, time.time()),
                    )

                self._write(apply)
        return self.schema_version()

    # ------------------------------------------------------------------ products
    def upsert_products(self, products: Iterable[Product]) -> int:
        now = time.time()
        rows = [
            (str(p.id), p.title or "", p.image, json.dumps(p.fields, default=str), now)
            for p in products
        ]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO products (id, title, image, fields, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET title=excluded.title, image=excluded.image, "
                "fields=excluded.fields, updated_at=excluded.updated_at",
                rows,
            )

        self._write(write)
        return len(rows)

    @staticmethod
    def _product(row: tuple) -> Product:
        return Product(id=row[0], title=row[1], image=row[2], fields=json.loads(row[3]))

    def get_product(self, product_id: str) -> Product | None:
        row = (
            self._reader()
            .execute("SELECT id, title, image, fields FROM products WHERE id=?", (str(product_id),))
            .fetchone()
        )
        return self._product(row) if row else None

    def get_products(self, product_ids: Sequence[str]) -> dict[str, Product]:
        ids = [str(p) for p in product_ids]
        out: dict[str, Product] = {}
        conn = self._reader()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT id, title, image, fields FROM products WHERE id IN ({marks})", chunk
            ):
                out[row[0]] = self._product(row)
        return out

    def count_products(self) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM products").fetchone()[0])

    # ------------------------------------------------------------------ events
    def add_events(self, events: Sequence[Event]) -> list[int]:
        checked = [e.validate() for e in events]
        if not checked:
            return []
        now = time.time()
        rows = [
            (
                now,
                e.user_id,
                e.product_id,
                e.event_type,
                e.reason,
                None if e.value is None else float(e.value),
                e.session_id,
                json.dumps(e.context or {}, default=str),
            )
            for e in checked
        ]

        ids = self._group_commit(rows)
        for e, i in zip(checked, ids, strict=True):
            e.id, e.created_at = i, now
        return ids

    def _group_commit(self, rows: list[tuple]) -> list[int]:
        """Write ``rows`` in a transaction shared with other threads' pending rows.

        Group commit: callers queue their rows; whoever takes the write lock writes every
        queued request in one transaction and one fsync, then wakes its owners. A caller
        returns only after the transaction holding its rows has committed.
        """
        request = _Pending(rows)
        with self._pending_lock:
            self._pending.append(request)
        with self._write_lock:
            if not request.done:
                with self._pending_lock:
                    todo, self._pending = self._pending, []
                self._write_pending(todo)
        if request.error is not None:
            raise request.error
        return request.ids

    def _write_pending(self, todo: list[_Pending]) -> None:
        """Called with the write lock held."""
        if self._closed:
            error: BaseException | None = ModelLoadError(f"the store {self.path} is closed")
        else:
            error = None
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for request in todo:
                        for row in request.rows:
                            cur = conn.execute(
                                "INSERT INTO events (created_at, user_id, product_id, "
                                "event_type, reason, value, session_id, context) "
                                "VALUES (?,?,?,?,?,?,?,?)",
                                row,
                            )
                            request.ids.append(int(cur.lastrowid))
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                error = DataError(f"cannot store events in {self.path}: {exc}")
        for request in todo:
            if error is not None:
                request.ids, request.error = [], error
            request.done = True

    def events(
        self,
        user_id: str | None = None,
        product_id: str | None = None,
        event_types: Sequence[str] | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Event]:
        if not 1 <= int(limit) <= 100_000:
            raise DataError(f"limit must be in 1..100000, got {limit}")
        where, args = ["id > ?"], [int(after_id)]
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        if product_id is not None:
            where.append("product_id = ?")
            args.append(product_id)
        if event_types:
            bad = [t for t in event_types if t not in EVENT_TYPES]
            if bad:
                raise DataError(f"unknown event type(s) {bad}; valid: {list(EVENT_TYPES)}")
            where.append(f"event_type IN ({','.join('?' * len(event_types))})")
            args.extend(event_types)
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)} "
            f"ORDER BY id LIMIT {int(limit)}"
        )
        return [
            Event(
                id=r[0],
                created_at=r[1],
                user_id=r[2],
                product_id=r[3],
                event_type=r[4],
                reason=r[5],
                value=r[6],
                session_id=r[7],
                context=json.loads(r[8]),
            )
            for r in self._reader().execute(sql, args)
        ]

    def count_events(self) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # ------------------------------------------------------------------ preferences
    def set_preferences(self, user_id: str, preferences: Mapping[str, Any]) -> float:
        if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > MAX_ID_CHARS:
            raise DataError(
                f"user_id must be a non-empty string of at most {MAX_ID_CHARS} characters"
            )
        data = json.dumps(dict(preferences), sort_keys=True)
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO preferences (user_id, data, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(user_id) DO UPDATE SET data=excluded.data, "
                "updated_at=excluded.updated_at",
                (user_id, data, now),
            )

        self._write(write)
        return now

    def get_preferences(self, user_id: str) -> tuple[dict[str, Any], float] | None:
        row = (
            self._reader()
            .execute("SELECT data, updated_at FROM preferences WHERE user_id=?", (user_id,))
            .fetchone()
        )
        return (json.loads(row[0]), float(row[1])) if row else None

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._write_lock:
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
