"""Applying HQ messages to the ledger exactly once: the inbox table, handlers and dead letters.

A message from ``HQ_TO_STORE`` is applied in ONE ledger transaction that (1) checks the inbox
table for its stream sequence (a redelivery stops here and changes nothing), (2) appends the
journal entry ``hq.{type}`` with the validated message, (3) runs every handler registered for the
type in :class:`InboundHandlers` with the same transaction, and (4) records the stream sequence.
Only after the commit is the message acknowledged, so a crash between commit and ack leads to a
redelivery that is a no-op. A message that cannot be applied (not JSON, unknown type or version,
schema error, handler exception) is recorded as a dead letter (journal entry ``hq.rejected`` so
HQ learns of it through ``STORE_EVENTS``, a row in ``hq_dead_letters``, bus event
``hq.dead_letter``) and terminated, so it never blocks the messages behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.bus import Bus
from gateway.ledger import Ledger, Txn
from gateway.ledger.store import now_iso
from gateway.mirror.errors import SchemaError
from gateway.mirror.schemas import decode

log = logging.getLogger(__name__)

Handler = Callable[[Txn, dict[str, Any]], None]

INBOX_MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS hq_inbox (
        stream_seq INTEGER PRIMARY KEY,
        subject TEXT NOT NULL,
        type TEXT,
        msg_id TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'dead')),
        journal_seq INTEGER,
        received TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hq_dead_letters (
        stream_seq INTEGER PRIMARY KEY,
        subject TEXT NOT NULL,
        reason TEXT NOT NULL,
        body TEXT NOT NULL,
        num_delivered INTEGER NOT NULL,
        received TEXT NOT NULL
    );
    """,
]

# Which message field names the aggregate of the journal entry (``order:{order_id}``); types not
# listed use the stream sequence (``price_list:{stream_seq}``).
AGGREGATE_KEYS: dict[str, str] = {
    "order": "order_id",
    "reservation": "reservation_id",
    "promotion": "promotion_id",
    "stock_adjustment": "adjustment_id",
    "stock_transfer": "transfer_id",
    "loyalty": "account_ref",
    "voucher": "code",
}

MAX_DEAD_BODY = 65536


def run_script(txn: Txn, scripts: list[str]) -> None:
    """Execute idempotent schema scripts (no triggers) statement by statement in ``txn``."""
    for script in scripts:
        for stmt in script.split(";"):
            if stmt.strip():
                txn.execute(stmt)


class InboundHandlers:
    """Registry of what other components do with an HQ message type, inside the applying transaction.

    A handler is ``fn(txn, message) -> None``; ``message`` is the validated JSON object (with
    ``type``, ``version`` and the fields of its schema). It may read and write its own tables with
    ``txn.execute`` and append further journal entries with ``txn.append``. Raising any exception
    rolls the whole message back and sends it to the dead letters. Handlers run in registration
    order; several components may register for the same type.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def register(self, type_: str, fn: Handler) -> None:
        """Run ``fn`` for every applied message of ``type_`` (e.g. ``"price_list"``)."""
        self._handlers.setdefault(type_, []).append(fn)

    def unregister(self, type_: str, fn: Handler) -> None:
        """Stop running ``fn`` for ``type_`` (idempotent)."""
        fns = self._handlers.get(type_, [])
        if fn in fns:
            fns.remove(fn)

    def for_type(self, type_: str) -> list[Handler]:
        """Handlers of ``type_`` in registration order."""
        return list(self._handlers.get(type_, []))

    def types(self) -> list[str]:
        """Types with at least one handler."""
        return sorted(t for t, fns in self._handlers.items() if fns)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message as fetched from the store's consumer."""

    stream_seq: int
    subject: str
    data: bytes
    num_delivered: int = 1
    msg_id: str = ""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying one message did: ``applied``, ``duplicate`` (no-op) or ``dead``."""

    outcome: str
    journal_seq: int | None = None
    reason: str = ""


class Inbox:
    """Applies inbound messages to the ledger; independent of NATS so it is testable alone."""

    def __init__(self, ledger: Ledger, handlers: InboundHandlers | None = None, bus: Bus | None = None) -> None:
        self.ledger = ledger
        self.handlers = handlers or InboundHandlers()
        self.bus = bus
        self.applied = 0
        self.duplicates = 0
        self.dead = 0

    @staticmethod
    def register_schema(ledger: Ledger) -> None:
        """Register the inbox tables' migrations; call before ``ledger.open()``."""
        ledger.add_migrations("hq_inbox", list(INBOX_MIGRATIONS))

    async def ensure_schema(self) -> None:
        """Create the inbox tables on an already open ledger (idempotent)."""
        await self.ledger.write(lambda txn: run_script(txn, INBOX_MIGRATIONS))

    def dead_letter_count(self) -> int:
        """Rows in the dead-letter table."""
        return int(self.ledger.query_one("SELECT COUNT(*) FROM hq_dead_letters") or 0)

    async def apply(self, msg: InboundMessage) -> ApplyResult:
        """Apply ``msg`` once; decoding, schema and handler failures become dead letters."""
        try:
            message = decode(msg.data)
        except SchemaError as err:
            return await self._reject(msg, str(err))
        mtype = str(message["type"])

        def fn(txn: Txn) -> ApplyResult:
            if txn.one("SELECT outcome FROM hq_inbox WHERE stream_seq=?", (msg.stream_seq,)) is not None:
                return ApplyResult("duplicate")
            key = AGGREGATE_KEYS.get(mtype)
            aggregate = f"{mtype}:{message[key] if key else msg.stream_seq}"
            payload = {**message, "hq_stream_seq": msg.stream_seq, "hq_subject": msg.subject}
            entry = txn.append(f"hq.{mtype}", aggregate, payload)
            for handler in self.handlers.for_type(mtype):
                handler(txn, message)
            txn.execute(
                "INSERT INTO hq_inbox(stream_seq, subject, type, msg_id, outcome, journal_seq, received) "
                "VALUES (?,?,?,?, 'applied', ?, ?)",
                (msg.stream_seq, msg.subject, mtype, msg.msg_id or message.get("id"), entry.seq, now_iso()),
            )
            return ApplyResult("applied", entry.seq)

        try:
            result = await self.ledger.write(fn)
        except Exception as err:
            # The handler's changes were rolled back with the transaction; keep the message.
            log.warning("HQ message %d (%s) failed in a handler: %r", msg.stream_seq, mtype, err)
            return await self._reject(msg, f"handler for {mtype} failed: {type(err).__name__}: {err}", mtype)
        self._count(result)
        return result

    async def _reject(self, msg: InboundMessage, reason: str, mtype: str | None = None) -> ApplyResult:
        body = msg.data[:MAX_DEAD_BODY].decode("utf-8", errors="replace")

        def fn(txn: Txn) -> ApplyResult:
            if txn.one("SELECT outcome FROM hq_inbox WHERE stream_seq=?", (msg.stream_seq,)) is not None:
                return ApplyResult("duplicate")
            entry = txn.append(
                "hq.rejected",
                f"hq:{msg.stream_seq}",
                {"hq_stream_seq": msg.stream_seq, "hq_subject": msg.subject, "reason": reason, "msg_type": mtype},
            )
            now = now_iso()
            txn.execute(
                "INSERT INTO hq_dead_letters(stream_seq, subject, reason, body, num_delivered, received) VALUES (?,?,?,?,?,?)",
                (msg.stream_seq, msg.subject, reason, body, msg.num_delivered, now),
            )
            txn.execute(
                "INSERT INTO hq_inbox(stream_seq, subject, type, msg_id, outcome, journal_seq, received) "
                "VALUES (?,?,?,?, 'dead', ?, ?)",
                (msg.stream_seq, msg.subject, mtype, msg.msg_id or None, entry.seq, now),
            )
            return ApplyResult("dead", entry.seq, reason)

        result = await self.ledger.write(fn)
        self._count(result)
        if result.outcome == "dead":
            log.error("HQ message %d on %s is a dead letter: %s", msg.stream_seq, msg.subject, reason)
            if self.bus is not None:
                self.bus.publish(
                    "hq.dead_letter",
                    {"stream_seq": msg.stream_seq, "subject": msg.subject, "reason": reason, "type": mtype},
                )
        return result

    def _count(self, result: ApplyResult) -> None:
        if result.outcome == "applied":
            self.applied += 1
        elif result.outcome == "duplicate":
            self.duplicates += 1
        else:
            self.dead += 1

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest dead letters first."""
        rows = self.ledger.query(
            "SELECT stream_seq, subject, reason, body, num_delivered, received FROM hq_dead_letters "
            "ORDER BY stream_seq DESC LIMIT ?",
            (limit,),
        )
        keys = ("stream_seq", "subject", "reason", "body", "num_delivered", "received")
        return [dict(zip(keys, r, strict=True)) for r in rows]
