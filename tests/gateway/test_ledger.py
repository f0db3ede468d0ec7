"""The ledger: append-only journal, hash chain verification, projections rebuilt from the journal."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.bus import Bus
from gateway.ledger import Ledger
from gateway.ledger.journal import GENESIS_HASH, entry_hash


def make(tmp_path: Path, bus: Bus | None = None) -> Ledger:
    return Ledger(tmp_path / "ledger.db", bus).open()


def fill(led: Ledger, n: int) -> None:
    for i in range(n):
        led.write_sync(lambda t, i=i: t.append("test.event", f"agg:{i % 3}", {"i": i, "text": "Grüße €"}))


def tamper(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER journal_no_update")
    conn.execute("DROP TRIGGER journal_no_delete")
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def test_chain_links_rows(tmp_path: Path) -> None:
    led = make(tmp_path)
    fill(led, 3)
    rows = led.entries_since(0)
    assert [e.seq for e in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH
    assert rows[1].prev_hash == rows[0].hash
    assert led.verify().ok


def test_pragmas_are_durable(tmp_path: Path) -> None:
    led = make(tmp_path)
    assert led.reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert led.reader.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_triggers_refuse_update_and_delete(tmp_path: Path) -> None:
    led = make(tmp_path)
    fill(led, 2)
    conn = sqlite3.connect(led.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE journal SET type='x' WHERE seq=1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM journal WHERE seq=2")


@pytest.mark.parametrize(
    ("sql", "params", "bad"),
    [
        ("UPDATE journal SET payload=? WHERE seq=4", ('{"i":99}',), 4),
        ("DELETE FROM journal WHERE seq=3", (), 3),
        # A forged row with a correct hash of its own still breaks the link of the row after it.
        ("UPDATE journal SET seq=seq+1 WHERE seq>=5", (), 6),
    ],
)
def test_verify_names_first_bad_seq(tmp_path: Path, sql: str, params: tuple[Any, ...], bad: int) -> None:
    led = make(tmp_path)
    fill(led, 8)
    led.close()
    if "seq=seq+1" in sql:
        # Insert a forged row in the middle: shift the tail up by one and put a row at 5.
        conn = sqlite3.connect(tmp_path / "ledger.db")
        conn.execute("DROP TRIGGER journal_no_update")
        for s in range(8, 4, -1):
            conn.execute("UPDATE journal SET seq=? WHERE seq=?", (s + 1, s))
        prev = conn.execute("SELECT hash FROM journal WHERE seq=4").fetchone()[0]
        h = entry_hash(prev, 5, "2026-01-01T00:00:00.000+00:00", "test.event", "x", "{}")
        conn.execute("INSERT INTO journal VALUES (5, '2026-01-01T00:00:00.000+00:00', 'test.event', 'x', '{}', ?, ?)", (prev, h))
        conn.commit()
        conn.close()
    else:
        tamper(tmp_path / "ledger.db", sql, params)
    led = make(tmp_path)
    result = led.verify()
    assert not result.ok
    assert result.first_bad_seq == bad


def test_failed_write_rolls_back_and_keeps_chain(tmp_path: Path) -> None:
    led = make(tmp_path)
    fill(led, 2)

    def boom(t: Any) -> None:
        t.append("test.event", "a", {"n": 1})
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        led.write_sync(boom)
    fill(led, 1)
    assert led.last_seq == 3
    assert led.verify().ok


def test_reopen_continues_chain(tmp_path: Path) -> None:
    led = make(tmp_path)
    fill(led, 3)
    led.close()
    led2 = make(tmp_path)
    fill(led2, 2)
    assert led2.last_seq == 5
    assert led2.verify().ok


async def test_async_write_publishes_after_commit(tmp_path: Path) -> None:
    bus = Bus()
    led = make(tmp_path, bus)
    sub = bus.subscribe("ledger.#")
    seen: list[int] = []
    led.add_listener(lambda entries: seen.extend(e.seq for e in entries))
    await led.write(lambda t: t.append("sale.finished", "receipt:1", {"x": 1}))
    ev = await asyncio.wait_for(sub.get(), 2)
    assert ev.topic == "ledger.sale.finished" and ev.seq == 1
    assert seen == [1]
    # visible to the reader connection once write() returned
    assert led.entries_since(0)[0].payload == {"x": 1}


async def test_concurrent_writes_are_serialised(tmp_path: Path) -> None:
    led = make(tmp_path)
    await asyncio.wait_for(asyncio.gather(*(led.write(lambda t, i=i: t.append("t.e", "a", {"i": i})) for i in range(50))), 20)
    assert led.last_seq == 50
    assert led.verify().ok


def test_migrations_run_once(tmp_path: Path) -> None:
    calls: list[int] = []
    led = Ledger(tmp_path / "ledger.db")
    led.add_migrations("x", ["CREATE TABLE a(id INTEGER)", lambda c: calls.append(1)])
    led.open()
    led.close()
    led = Ledger(tmp_path / "ledger.db")
    led.add_migrations("x", ["CREATE TABLE a(id INTEGER)", lambda c: calls.append(1), "CREATE TABLE b(id INTEGER)"])
    led.open()
    assert calls == [1]
    assert led.stats()["schema"]["x"] == 3


def test_cursor_is_not_a_journal_event(tmp_path: Path) -> None:
    led = make(tmp_path)
    led.set_cursor_sync("hq.relay", 7)
    assert led.get_cursor("hq.relay") == 7
    assert led.last_seq == 0


async def test_group_commit_isolates_a_failing_write(tmp_path: Path) -> None:
    """Writes committed together: the one that raises is rolled back alone, the others stand."""
    led = make(tmp_path)

    def ok(i: int) -> Any:
        return lambda t: t.append("t.ok", "a", {"i": i}).seq

    def bad(t: Any) -> None:
        t.append("t.bad", "a", {})
        raise ValueError("refused")

    results = await asyncio.wait_for(asyncio.gather(led.write(ok(1)), led.write(bad),
                                                    led.write(ok(2)), return_exceptions=True), 10)
    assert isinstance(results[1], ValueError)
    assert [e.type for e in led.entries_since(0)] == ["t.ok", "t.ok"]
    assert results[0] == 1 and results[2] == 2
    assert led.verify().ok
    assert led.commits <= 2  # the three writes shared at most two commits


def test_removed_tail_is_found_through_the_relay_cursor(tmp_path: Path) -> None:
    led = make(tmp_path)
    fill(led, 5)
    led.set_cursor_sync("hq.relay", 5)  # HQ acknowledged everything up to 5
    led.close()
    tamper(tmp_path / "ledger.db", "DELETE FROM journal WHERE seq >= 4")
    led = make(tmp_path)
    result = led.verify()
    assert not result.ok and result.first_bad_seq == 4 and "hq.relay" in result.reason
