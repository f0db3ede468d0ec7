"""Idempotency stores: memory bound and SQLite persistence across instances."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.mqtt.idempotency import IdempotencyStore, MemoryIdempotencyStore, SqliteIdempotencyStore


async def test_memory_store_evicts_oldest() -> None:
    s = MemoryIdempotencyStore(capacity=2)
    assert isinstance(s, IdempotencyStore)
    await s.put("a", {"v": 1})
    await s.put("b", {"v": 2})
    await s.put("c", {"v": 3})
    assert await s.get("a") is None and await s.get("c") == {"v": 3}


async def test_sqlite_store_persists_and_replaces(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    s1 = SqliteIdempotencyStore(db)
    await s1.put("till-1:r1", {"state": "running"})
    await s1.put("till-1:r1", {"state": "done", "outcome": {"status": "ok", "result": {"cents": 1299}}})
    s2 = SqliteIdempotencyStore(db)
    assert await s2.get("till-1:r1") == {"state": "done", "outcome": {"status": "ok", "result": {"cents": 1299}}}
    assert await s2.get("till-1:r2") is None
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM mqtt_requests").fetchone() == (1,)


async def test_sqlite_prune_drops_old_rows(tmp_path: Path) -> None:
    s = SqliteIdempotencyStore(tmp_path / "gw.db", retention=0.0)
    await s.put("k", {"state": "done"})
    await s.prune()
    assert await s.get("k") is None
