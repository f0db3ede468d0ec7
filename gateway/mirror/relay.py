"""The outbound relay: publishes the journal (the outbox) to HQ in ``seq`` order, exactly once.

Entries are read from the ledger after the persisted cursor ``hq.relay`` and published with
``Nats-Msg-Id: {sid}:{seq}`` through a bounded window of asynchronous publishes. The cursor only
moves over a contiguous run of acknowledged entries (the head of the window is always awaited
first), so after any failure — a timeout, an error reply, a lost connection, a restart of the
gateway — publishing resumes at the first entry HQ has not confirmed, with the same ids. HQ's
stream drops the re-sent ones inside its duplicate window and answers ``duplicate: true``.

Order: one connection delivers in order, so HQ stores a prefix of what was sent. Two things
could break that and are prevented: (1) nats-py re-sending its unflushed buffer after a
reconnect, behind entries that were lost with the old socket — the link clears that buffer on
disconnect and uses ``pending_size=0`` so nothing is buffered while offline; (2) an error reply to
one entry while a later one is stored — after every failure the relay restarts with a window of
one until the first acknowledgement ("slow start").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from gateway.ledger import JournalEntry, Ledger
from gateway.mirror.subjects import event_body, event_headers, event_subject

log = logging.getLogger(__name__)

CURSOR = "hq.relay"


class LinkLost(ConnectionError):
    """The connection to HQ dropped while publishes were in flight; their outcome is unknown."""


class Relay:
    """Drains the journal to HQ; :meth:`drain` runs while connected and raises on any failure."""

    def __init__(
        self,
        ledger: Ledger,
        store_id: str,
        stream: str = "STORE_EVENTS",
        window: int = 256,
        ack_timeout: float = 5.0,
        batch_size: int = 500,
        cursor_flush_s: float = 0.2,
    ) -> None:
        self.ledger = ledger
        self.store_id = store_id
        self.stream = stream
        self.window = window
        self.ack_timeout = ack_timeout
        self.batch_size = batch_size
        self.cursor_flush_s = cursor_flush_s
        self.acked = ledger.get_cursor(CURSOR)
        self._persisted = self.acked
        self._last_flush = time.monotonic()
        self._wake = asyncio.Event()
        self._inflight: deque[tuple[int, asyncio.Future[PubAck]]] = deque()
        self.slow_start = True
        self.published = 0
        self.acks = 0
        self.duplicates = 0
        self.failures = 0
        self.last_error = ""
        self.last_ack_at: float | None = None
        ledger.add_listener(self._on_commit)

    def close(self) -> None:
        """Stop listening to the ledger."""
        self.ledger.remove_listener(self._on_commit)

    def _on_commit(self, entries: list[JournalEntry]) -> None:
        # Called on the loop after each commit: only a flag, selling never waits for HQ.
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Journal entries not yet acknowledged by HQ."""
        return max(0, self.ledger.last_seq - self.acked)

    def abort_window(self, reason: str) -> None:
        """Fail every in-flight publish now (connection lost): their outcome is unknown."""
        for _, fut in self._inflight:
            if not fut.done():
                fut.set_exception(LinkLost(reason))
        self._wake.set()

    async def flush_cursor(self, force: bool = False) -> None:
        """Persist the acknowledged cursor if it moved (at most every ``cursor_flush_s`` unless forced)."""
        if self.acked == self._persisted:
            return
        if not force and time.monotonic() - self._last_flush < self.cursor_flush_s:
            return
        seq = self.acked
        await self.ledger.set_cursor(CURSOR, seq)
        self._persisted = seq
        self._last_flush = time.monotonic()

    async def _send(self, js: JetStreamContext, entry: JournalEntry) -> asyncio.Future[PubAck]:
        return await js.publish_async(
            event_subject(self.store_id, entry.type),
            event_body(entry),
            headers=event_headers(self.store_id, entry),
            stream=self.stream,
        )

    async def drain(self, js: JetStreamContext, idle_wait: float = 1.0) -> None:
        """Publish until cancelled; raises on the first failure (the caller backs off and calls again)."""
        self.acked = max(self.acked, self.ledger.get_cursor(CURSOR))
        next_after = self.acked  # highest seq handed to the window
        pending: deque[JournalEntry] = deque()
        limit = 1 if self.slow_start else self.window
        try:
            while True:
                while len(self._inflight) < limit:
                    if not pending:
                        pending.extend(self.ledger.entries_since(next_after, self.batch_size))
                        if not pending:
                            break
                    entry = pending.popleft()
                    self._inflight.append((entry.seq, await self._send(js, entry)))
                    next_after = entry.seq
                    self.published += 1
                if not self._inflight:
                    await self.flush_cursor(force=True)
                    self._wake.clear()
                    if self.ledger.last_seq <= next_after:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), idle_wait)
                    continue
                seq, fut = self._inflight[0]
                ack = fut.result() if fut.done() else await asyncio.wait_for(asyncio.shield(fut), self.ack_timeout)
                self._inflight.popleft()
                self.acked = seq
                self.acks += 1
                self.duplicates += int(bool(ack.duplicate))
                self.last_ack_at = time.time()
                if self.slow_start:
                    self.slow_start = False
                    limit = self.window
                await self.flush_cursor()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self.failures += 1
            self.slow_start = True
            self.last_error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            log.info("HQ relay stopped at acked seq %d: %s", self.acked, self.last_error)
            raise
        finally:
            for _, fut in self._inflight:
                fut.cancel()
            self._inflight.clear()
            with contextlib.suppress(Exception):
                await self.flush_cursor(force=True)

    def status(self) -> dict[str, Any]:
        """Counters for the status page."""
        return {
            "last_seq": self.ledger.last_seq,
            "acked_seq": self.acked,
            "backlog": self.backlog,
            "in_flight": len(self._inflight),
            "published": self.published,
            "acks": self.acks,
            "duplicates": self.duplicates,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_ack_at": self.last_ack_at,
        }
