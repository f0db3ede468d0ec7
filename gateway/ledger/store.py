"""The Ledger: one SQLite file in WAL mode with ``synchronous=FULL``, one writer thread, projections.

All writes go through :meth:`Ledger.write` (async, on the dedicated writer thread) or
:meth:`Ledger.write_sync` (CLI, no event loop). A write function receives a :class:`Txn`; every
``txn.append`` adds a hash-chained journal row and applies the registered projections to it in the
same ``BEGIN IMMEDIATE`` transaction, so state and journal can never disagree. After the commit the
new entries are published on the bus as ``ledger.{type}`` and handed to listeners (WebSocket
replay, HQ relay). Reads on the event loop use a separate read connection (WAL readers never block
the writer).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlite_utils

from gateway.bus import Bus
from gateway.errors import GatewayError
from gateway.ledger.journal import (
    GENESIS_HASH,
    JournalEntry,
    VerifyResult,
    canonical_json,
    entry_hash,
    verify_rows,
)

log = logging.getLogger(__name__)

MAX_GROUP = 64  # writes committed together at most (bounds the latency of the first one)

R = TypeVar("R")

CORE_SCHEMA: list[str] = [
    # v1: the journal, append-only by trigger.
    """
    CREATE TABLE IF NOT EXISTS journal (
        seq INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        type TEXT NOT NULL,
        aggregate TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS journal_type ON journal(type, seq);
    CREATE INDEX IF NOT EXISTS journal_aggregate ON journal(aggregate, seq);
    CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal
        BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
        BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS idempotency (
        key TEXT PRIMARY KEY,
        client TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        response TEXT NOT NULL,
        seq INTEGER,
        created TEXT NOT NULL
    );
    """,
]


class LedgerError(GatewayError):
    """The ledger could not be opened or written."""

    type, status, title = "ledger-error", 500, "Ledger error"


class Projection(Protocol):
    """State derived from the journal, updated in the writer's transaction and rebuildable."""

    name: str

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create the projection's tables (idempotent)."""

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty the projection's tables before a rebuild."""

    def apply(self, conn: sqlite3.Connection, entry: JournalEntry) -> None:
        """Fold one journal entry into the state; ignore types it does not handle."""


def now_iso() -> str:
    """Current UTC time in ISO 8601 with milliseconds (the journal's time format)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Txn:
    """A write transaction on the writer connection; append journal rows, read and write projections."""

    def __init__(self, ledger: Ledger, conn: sqlite3.Connection) -> None:
        self.ledger = ledger
        self.conn = conn
        self.entries: list[JournalEntry] = []

    def append(self, type_: str, aggregate: str, payload: dict[str, Any]) -> JournalEntry:
        """Append one journal row and apply the projections to it."""
        led = self.ledger
        seq = led._last_seq + 1
        ts = now_iso()
        body = canonical_json(payload)
        h = entry_hash(led._last_hash, seq, ts, type_, aggregate, body)
        self.conn.execute(
            "INSERT INTO journal(seq, ts, type, aggregate, payload, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
            (seq, ts, type_, aggregate, body, led._last_hash, h),
        )
        # Projections get the payload exactly as stored (canonical JSON), so an incremental update
        # and a rebuild from the journal see identical input.
        entry = JournalEntry(seq, ts, type_, aggregate, json.loads(body), led._last_hash, h)
        led._last_seq, led._last_hash = seq, h
        for proj in led.projections:
            proj.apply(self.conn, entry)
        self.entries.append(entry)
        return entry

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run a statement in this transaction."""
        return self.conn.execute(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """First column of the first row, or ``None``."""
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]


class Ledger:
    """The store ledger. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, path: Path | str, bus: Bus | None = None, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.bus = bus
        self.busy_timeout_ms = busy_timeout_ms
        self.projections: list[Projection] = []
        self._migrations: list[tuple[str, list[str | Callable[[sqlite3.Connection], None]]]] = [("core", list(CORE_SCHEMA))]
        self._listeners: list[Callable[[list[JournalEntry]], None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._last_seq = 0
        self._last_hash = GENESIS_HASH
        self._lock = threading.Lock()
        self._qlock = threading.Lock()
        self._pending: collections.deque[tuple[Callable[[Txn], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]] = (
            collections.deque())
        self._draining = False
        self.last_verification: dict[str, Any] | None = None
        self._probes: dict[str, str] = {}
        self.probed: dict[str, Any] = {}
        self.commits = 0
        self.opened_at = 0.0

    # ------------------------------------------------------------------ set-up

    def add_projection(self, projection: Projection) -> None:
        """Register a projection; must happen before :meth:`open`."""
        self.projections.append(projection)

    def add_migrations(self, component: str, steps: list[str | Callable[[sqlite3.Connection], None]]) -> None:
        """Register a component's schema steps (SQL scripts or callables), applied once each in order."""
        self._migrations.append((component, steps))

    def add_commit_probe(self, name: str, sql: str) -> None:
        """Run ``sql`` (one value) in every write transaction just before its COMMIT; the value is
        in ``probed[name]`` once the commit is durable, before any writer is answered.

        Lets readers notice changes made by this process's writes without querying (the product
        cache watches the catalog version this way).
        """
        self._probes[name] = sql

    def _probe(self, conn: sqlite3.Connection) -> dict[str, Any]:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in self._probes.items()}

    def add_listener(self, fn: Callable[[list[JournalEntry]], None]) -> None:
        """Call ``fn(entries)`` on the event loop after each commit."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[list[JournalEntry]], None]) -> None:
        """Stop calling ``fn``."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout_ms / 1000)
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def open(self) -> Ledger:
        """Open (creating if needed) the database, run migrations, load the chain head."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LedgerError(f"cannot create the data directory {self.path.parent}: {err.strerror or err}") from None
        try:
            self._wconn = self._connect()
            self._migrate(self._wconn)
            for proj in self.projections:
                proj.setup(self._wconn)
            row = self._wconn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
            self.probed = self._probe(self._wconn)
            self._rconn = self._connect()
        except sqlite3.DatabaseError as err:
            raise LedgerError(f"cannot open ledger {self.path}: {err}") from err
        if row:
            self._last_seq, self._last_hash = row
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
        self.opened_at = time.time()
        return self

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        for component, steps in self._migrations:
            row = conn.execute("SELECT version FROM schema_versions WHERE component=?", (component,)).fetchone()
            done = row[0] if row else 0
            for i, step in enumerate(steps[done:], start=done + 1):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if isinstance(step, str):
                        for stmt in _split_sql(step):
                            conn.execute(stmt)
                    else:
                        step(conn)
                    conn.execute(
                        "INSERT INTO schema_versions(component, version) VALUES (?, ?) "
                        "ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                        (component, i),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                log.info("ledger migration %s -> v%d applied", component, i)

    def close(self) -> None:
        """Finish pending writes and close connections."""
        if self._executor:
            self._executor.shutdown(wait=True)
            self._executor = None
        for conn in (self._wconn, self._rconn):
            if conn:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._wconn = self._rconn = None

    @property
    def db(self) -> sqlite_utils.Database:
        """A sqlite-utils view on the read connection (introspection, stats)."""
        return sqlite_utils.Database(self.reader)

    @property
    def reader(self) -> sqlite3.Connection:
        """The read connection (use from the event loop's thread or the CLI)."""
        if self._rconn is None:
            raise LedgerError("ledger is not open")
        return self._rconn

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest committed row."""
        return self._last_seq

    # ------------------------------------------------------------------ writing

    def _run(self, fn: Callable[[Txn], R]) -> tuple[R, list[JournalEntry]]:
        conn = self._wconn
        if conn is None:
            raise LedgerError("ledger is not open")
        with self._lock:
            saved = (self._last_seq, self._last_hash)
            conn.execute("BEGIN IMMEDIATE")
            txn = Txn(self, conn)
            try:
                result = fn(txn)
                probed = self._probe(conn)
                conn.execute("COMMIT")
                self.probed.update(probed)
            except BaseException:
                self._last_seq, self._last_hash = saved
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            self.commits += 1
            return result, txn.entries

    async def write(self, fn: Callable[[Txn], R]) -> R:
        """Run ``fn`` in its own savepoint of a group commit on the writer thread; durable when this returns.

        Writes that arrive while the writer is busy are committed together (group commit): each
        runs in a SAVEPOINT, so one that raises is rolled back alone and only its caller gets the
        error, and one fsync makes the whole group durable. A caller is answered only after the
        COMMIT of its group.
        """
        if self._executor is None:
            raise LedgerError("ledger is not open")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[Any, list[JournalEntry]]] = loop.create_future()
        with self._qlock:
            self._pending.append((fn, fut, loop))
            start = not self._draining
            self._draining = True
        if start:
            self._executor.submit(self._drain)
        result, entries = await fut
        if entries:
            self._announce(entries)
        return typing.cast(R, result)

    def _drain(self) -> None:
        while True:
            with self._qlock:
                if not self._pending:
                    self._draining = False
                    return
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), MAX_GROUP))]
            try:
                self._run_group(batch)
            except BaseException:  # never leave the queue marked as draining with nobody draining it
                log.exception("ledger writer failed")
                for _fn, fut, loop in batch:
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(_settle, fut, None, LedgerError("ledger writer failed"))

    def _run_group(self, batch: list[tuple[Callable[[Txn], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]]) -> None:
        conn = self._wconn
        outcomes: list[tuple[asyncio.Future[Any], asyncio.AbstractEventLoop, Any, BaseException | None]] = []
        with self._lock:
            start = (self._last_seq, self._last_hash)
            try:
                if conn is None:
                    raise LedgerError("ledger is not open")
                conn.execute("BEGIN IMMEDIATE")
                single = len(batch) == 1  # alone in its transaction: no savepoint needed
                for fn, fut, loop in batch:
                    saved = (self._last_seq, self._last_hash)
                    if not single:
                        conn.execute("SAVEPOINT w")
                    txn = Txn(self, conn)
                    try:
                        result = fn(txn)
                        if not single:
                            conn.execute("RELEASE w")
                        outcomes.append((fut, loop, (result, txn.entries), None))
                    except Exception as err:
                        if single:
                            conn.execute("ROLLBACK")
                            conn.execute("BEGIN IMMEDIATE")
                        else:
                            conn.execute("ROLLBACK TO w")
                            conn.execute("RELEASE w")
                        self._last_seq, self._last_hash = saved
                        outcomes.append((fut, loop, None, err))
                probed = self._probe(conn)
                conn.execute("COMMIT")
                self.probed.update(probed)
                self.commits += 1
            except BaseException as err:
                self._last_seq, self._last_hash = start
                if conn is not None:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                outcomes = [(fut, loop, None, err) for _fn, fut, loop in batch]
        # One wake-up per event loop for the whole group, not one per caller.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for fut, loop, value, exc in outcomes:
            by_loop.setdefault(loop, []).append((fut, value, exc))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle_all, settled)

    def write_sync(self, fn: Callable[[Txn], R]) -> R:
        """Blocking variant for the CLI and set-up code; announces entries to listeners too."""
        result, entries = self._run(fn)
        if entries:
            self._announce(entries)
        return result

    def _announce(self, entries: list[JournalEntry]) -> None:
        if self.bus is not None:
            for e in entries:
                self.bus.publish(f"ledger.{e.type}", e.to_dict(), seq=e.seq)
        for fn in list(self._listeners):
            try:
                fn(entries)
            except Exception:
                log.exception("ledger listener failed")

    # ------------------------------------------------------------------ reading

    def entries_since(self, after_seq: int, limit: int = 1000, conn: sqlite3.Connection | None = None) -> list[JournalEntry]:
        """Entries with ``seq > after_seq`` in order, at most ``limit``."""
        rows = (conn or self.reader).execute(
            "SELECT seq, ts, type, aggregate, payload, prev_hash, hash FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [JournalEntry.from_row(r) for r in rows]

    def entry(self, seq: int) -> JournalEntry | None:
        """One entry by sequence number."""
        row = self.reader.execute(
            "SELECT seq, ts, type, aggregate, payload, prev_hash, hash FROM journal WHERE seq=?", (seq,)
        ).fetchone()
        return JournalEntry.from_row(row) if row else None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query on the read connection."""
        return self.reader.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """First column of the first row, or ``None``."""
        row = self.reader.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def get_cursor(self, name: str) -> int:
        """A named progress cursor (e.g. the HQ relay's acked seq); 0 when unset."""
        v = self.query_one("SELECT seq FROM cursors WHERE name=?", (name,))
        return int(v) if v is not None else 0

    def set_cursor_sync(self, name: str, seq: int) -> None:
        """Store a cursor in its own short transaction (not a journal event)."""

        def fn(txn: Txn) -> None:
            txn.execute(
                "INSERT INTO cursors(name, seq, updated) VALUES (?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET seq=excluded.seq, updated=excluded.updated",
                (name, seq, now_iso()),
            )

        self._run(fn)

    async def set_cursor(self, name: str, seq: int) -> None:
        """Async variant of :meth:`set_cursor_sync` on the writer thread."""
        if self._executor is None:
            raise LedgerError("ledger is not open")
        await asyncio.get_running_loop().run_in_executor(self._executor, self.set_cursor_sync, name, seq)

    # ------------------------------------------------------------------ maintenance

    def verify(self) -> VerifyResult:
        """Walk the whole journal with a fresh connection and check the hash chain."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT seq, ts, type, aggregate, payload, prev_hash, hash FROM journal ORDER BY seq")
            result = verify_rows(rows)
            if result.ok:
                # The chain cannot show a removed tail by itself; progress cursors (the HQ relay's
                # acked seq) can: they never point past the journal's end.
                for name, seq in conn.execute("SELECT name, seq FROM cursors"):
                    if seq > result.last_seq:
                        result = VerifyResult(False, result.checked, result.last_seq, result.last_seq + 1,
                                              f"journal ends at seq {result.last_seq} but cursor {name} is at {seq}: rows were removed")
                        break
        finally:
            conn.close()
        self.last_verification = {"at": now_iso(), **result.to_dict()}
        return result

    def rebuild(self) -> int:
        """Reset every projection and replay the whole journal into it; returns rows replayed."""

        def fn(txn: Txn) -> int:
            for proj in self.projections:
                proj.reset(txn.conn)
            count = 0
            cur = txn.conn.execute("SELECT seq, ts, type, aggregate, payload, prev_hash, hash FROM journal ORDER BY seq")
            for row in cur.fetchall():
                entry = JournalEntry.from_row(row)
                for proj in self.projections:
                    proj.apply(txn.conn, entry)
                count += 1
            return count

        result, _ = self._run(fn)
        return result

    def stats(self) -> dict[str, Any]:
        """Size, head and counts by type for ``storegw ledger stats`` and the status page."""
        by_type = dict(self.query("SELECT type, COUNT(*) FROM journal GROUP BY type ORDER BY type"))
        size = _file_size(self.path)
        wal = _file_size(Path(str(self.path) + "-wal"))
        first_ts = self.query_one("SELECT ts FROM journal ORDER BY seq LIMIT 1")
        last_ts = self.query_one("SELECT ts FROM journal ORDER BY seq DESC LIMIT 1")
        return {
            "path": str(self.path),
            "last_seq": self._last_seq,
            "head_hash": self._last_hash,
            "size_bytes": size,
            "wal_bytes": wal,
            "entries": sum(by_type.values()),
            "by_type": by_type,
            "first_ts": first_ts,
            "last_ts": last_ts,
            "last_verification": self.last_verification,
            "schema": dict(self.query("SELECT component, version FROM schema_versions ORDER BY component")),
        }


def _settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():  # the caller was cancelled; the write itself stands
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, value, exc in settled:
        _settle(fut, value, exc)


def _file_size(p: Path) -> int:
    try:
        return os.path.getsize(p)
    except OSError:
        return 0


def _split_sql(script: str) -> Iterable[str]:
    """Split a schema script into statements, keeping trigger bodies whole."""
    buf: list[str] = []
    for line in script.splitlines():
        buf.append(line)
        candidate = "\n".join(buf).strip()
        if candidate.endswith(";") and sqlite3.complete_statement(candidate):
            yield candidate
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        yield rest
