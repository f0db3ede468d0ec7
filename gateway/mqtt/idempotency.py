"""Remembered command results keyed by request id, so a retried command runs at most once.

Two implementations of :class:`IdempotencyStore`: :class:`MemoryIdempotencyStore` (bounded,
lost on restart; fine for harmless commands) and :class:`SqliteIdempotencyStore` (table
``mqtt_requests`` in the given database file; used for money, print and drawer commands).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class IdempotencyStore(Protocol):
    """Where command outcomes are kept by key (``{client_id}:{request_id}``)."""

    async def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for ``key``, or None."""

    async def put(self, key: str, result: dict[str, Any]) -> None:
        """Store (or replace) the record for ``key``."""


class MemoryIdempotencyStore:
    """The most recent ``capacity`` records in a dict; forgotten on restart."""

    def __init__(self, capacity: int = 10000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for ``key``, or None."""
        return self._items.get(key)

    async def put(self, key: str, result: dict[str, Any]) -> None:
        """Store the record, evicting the oldest beyond ``capacity``."""
        self._items[key] = result
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS mqtt_requests (
    key TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    record TEXT NOT NULL
)
"""


class SqliteIdempotencyStore:
    """Records in table ``mqtt_requests`` of a SQLite file, committed before the reply is sent.

    One connection, used from worker threads one call at a time, so the event loop never waits
    on the disk. ``retention`` (seconds) bounds the table: older rows are removed on
    :meth:`prune`, which :meth:`put` calls now and then.
    """

    def __init__(self, path: str | Path, retention: float = 7 * 86400) -> None:
        self.path = str(path)
        self.retention = retention
        self._puts = 0
        self._lock = asyncio.Lock()
        self._db_lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A stored money/print outcome must survive power loss, like the ledger's rows.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def _get(self, key: str) -> dict[str, Any] | None:
        with self._db_lock:
            row = self._db.execute("SELECT record FROM mqtt_requests WHERE key = ?", (key,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def _put(self, key: str, record: dict[str, Any], prune_before: float | None) -> None:
        now = time.time()
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO mqtt_requests(key, created_at, updated_at, record) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET updated_at = excluded.updated_at, record = excluded.record",
                    (key, now, now, json.dumps(record, separators=(",", ":"))),
                )
                if prune_before is not None:
                    self._db.execute("DELETE FROM mqtt_requests WHERE updated_at < ?", (prune_before,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the connection (the store is unusable afterwards)."""
        with self._db_lock:
            self._db.close()

    async def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for ``key``, or None."""
        return await asyncio.to_thread(self._get, key)

    async def put(self, key: str, result: dict[str, Any]) -> None:
        """Store the record durably (returns after the commit)."""
        self._puts += 1
        prune = time.time() - self.retention if self._puts % 500 == 0 else None
        async with self._lock:
            await asyncio.to_thread(self._put, key, result, prune)

    async def prune(self) -> None:
        """Delete records older than ``retention``."""
        async with self._lock:
            await asyncio.to_thread(self._prune)

    def _prune(self) -> None:
        with self._db_lock:
            self._db.execute("DELETE FROM mqtt_requests WHERE updated_at < ?", (time.time() - self.retention,))
