"""Prices from HQ price lists take effect at their ``effective_at`` time, not when they arrive.

The ``price_list`` handler stores every item in ``hq_price_schedule`` (same transaction as the
inbox record) and applies the items already due at once; a background task applies later ones
when their time comes. Applying calls ``apply_price(txn, code, price, vat_id) -> bool`` — by
default :func:`update_catalog_price`, which updates the catalog's ``products`` row — and appends
one ``catalog.prices_applied`` journal entry per batch. A price whose effective time is older than
one already applied for the same code is recorded as ``superseded`` and not applied, so a late
list never undoes a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.ledger import Ledger, Txn
from gateway.ledger.store import now_iso
from gateway.mirror.inbound import InboundHandlers, run_script

log = logging.getLogger(__name__)

ApplyPrice = Callable[[Txn, str, int, "int | None"], bool]

SCHEDULE_SCHEMA: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS hq_price_schedule (
        id INTEGER PRIMARY KEY,
        journal_seq INTEGER,
        list_id TEXT,
        code TEXT NOT NULL,
        price INTEGER NOT NULL,
        vat_id INTEGER,
        effective_at TEXT NOT NULL,
        applied_at TEXT,
        outcome TEXT
    );
    CREATE INDEX IF NOT EXISTS hq_price_due ON hq_price_schedule(applied_at, effective_at);
    CREATE INDEX IF NOT EXISTS hq_price_code ON hq_price_schedule(code, effective_at);
    """,
]


def utc_iso(t: datetime) -> str:
    """Fixed-width UTC form, so times compare as strings in SQL."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def update_catalog_price(txn: Txn, code: str, price: int, vat_id: int | None) -> bool:
    """Set the price (and VAT id when given) of a catalog product; False when the code is unknown."""
    cur = txn.execute(
        "UPDATE products SET price=?, vat_id=COALESCE(?, vat_id), updated=? WHERE code=?",
        (price, vat_id, now_iso(), code),
    )
    return cur.rowcount > 0


class PriceSchedule:
    """Component ``hq-prices``: effective-dated prices from HQ (best constructed before ``ledger.open()``)."""

    name = "hq-prices"

    def __init__(
        self,
        ledger: Ledger,
        apply_price: ApplyPrice = update_catalog_price,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ledger = ledger
        self.apply_price = apply_price
        self.clock = clock
        ledger.add_migrations("hq_prices", list(SCHEDULE_SCHEMA))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        self.unknown_codes = 0

    def register(self, handlers: InboundHandlers) -> None:
        """Handle ``price_list`` messages."""
        handlers.register("price_list", self.on_price_list)

    def on_price_list(self, txn: Txn, message: dict[str, Any]) -> None:
        """Inbound handler: schedule the list's items, apply what is due now."""
        eff_raw = message.get("effective_at")
        eff = utc_iso(datetime.fromisoformat(eff_raw)) if eff_raw else utc_iso(self.clock())
        journal_seq = txn.entries[-1].seq if txn.entries else None
        for item in message["items"]:
            txn.execute(
                "INSERT INTO hq_price_schedule(journal_seq, list_id, code, price, vat_id, effective_at) VALUES (?,?,?,?,?,?)",
                (journal_seq, message.get("list_id"), item["code"], item["price"], item.get("vat_id"), eff),
            )
        self.apply_due(txn)
        if self._loop is not None:
            # Runs on the ledger's writer thread: wake the timer through the loop.
            self._loop.call_soon_threadsafe(self._wake.set)

    def apply_due(self, txn: Txn) -> int:
        """Apply every scheduled price whose time has come; returns how many were applied."""
        now = utc_iso(self.clock())
        rows = txn.execute(
            "SELECT id, list_id, code, price, vat_id, effective_at FROM hq_price_schedule "
            "WHERE applied_at IS NULL AND effective_at <= ? ORDER BY effective_at, id",
            (now,),
        ).fetchall()
        if not rows:
            return 0
        applied: list[str] = []
        lists: set[str] = set()
        for rid, list_id, code, price, vat_id, eff in rows:
            newer = txn.one(
                "SELECT 1 FROM hq_price_schedule WHERE code=? AND applied_at IS NOT NULL AND outcome != 'superseded' "
                "AND effective_at > ? LIMIT 1",
                (code, eff),
            )
            if newer:
                outcome = "superseded"
            elif self.apply_price(txn, code, price, vat_id):
                outcome = "applied"
                applied.append(code)
            else:
                outcome = "unknown_code"
                self.unknown_codes += 1
            txn.execute("UPDATE hq_price_schedule SET applied_at=?, outcome=? WHERE id=?", (now, outcome, rid))
            if list_id:
                lists.add(list_id)
        txn.append(
            "catalog.prices_applied",
            "catalog:prices",
            {"count": len(applied), "scheduled": len(rows), "codes": applied[:200], "lists": sorted(lists), "at": now},
        )
        self.applied += len(applied)
        return len(applied)

    def next_due(self) -> datetime | None:
        """Effective time of the earliest price not yet applied."""
        v = self.ledger.query_one("SELECT MIN(effective_at) FROM hq_price_schedule WHERE applied_at IS NULL")
        return datetime.fromisoformat(v) if v else None

    async def start(self) -> None:
        """Start the timer task (applies prices that became due while the gateway was off, too)."""
        await self.ledger.write(lambda txn: run_script(txn, SCHEDULE_SCHEMA))
        self._loop = asyncio.get_running_loop()
        # Wake after the commit that scheduled a list (the handler itself runs before it is visible).
        self.ledger.add_listener(self._on_commit)
        self._task = asyncio.create_task(self._run())

    def _on_commit(self, entries: list[Any]) -> None:
        if any(e.type == "hq.price_list" for e in entries):
            self._wake.set()

    async def stop(self) -> None:
        """Stop the timer; idempotent."""
        task, self._task = self._task, None
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop = None
        self.ledger.remove_listener(self._on_commit)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            due = self.next_due()
            if due is not None and due <= self.clock():
                try:
                    await self.ledger.write(self.apply_due)
                except Exception:
                    log.exception("applying scheduled prices failed")
                    await asyncio.sleep(5)
                continue
            wait = 60.0 if due is None else min(60.0, max(0.01, (due - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def status(self) -> dict[str, Any]:
        """Scheduled and applied counts."""
        pending = int(self.ledger.query_one("SELECT COUNT(*) FROM hq_price_schedule WHERE applied_at IS NULL") or 0)
        nd = self.next_due()
        return {
            "state": "ok",
            "pending": pending,
            "next_due": nd.isoformat() if nd else None,
            "applied": self.applied,
            "unknown_codes": self.unknown_codes,
        }
