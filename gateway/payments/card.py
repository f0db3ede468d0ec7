"""Card payments through a ZVT terminal, crash-safe and charging once per sale attempt.

Every terminal conversation is bracketed by journal entries: ``payment.intent`` before the
terminal is asked, then ``payment.authorized`` / ``payment.declined`` / ``payment.failed`` /
``payment.needs_review``. The ``card_payments`` projection tracks each intent and which receipt
used it. Two rules make a retried payment charge once:

* a retry of the same sale attempt (same idempotency reference, same amount) adopts an authorized
  payment that no receipt used yet instead of charging again;
* an intent without an outcome (the gateway died mid-conversation) is reconciled with the
  terminal before any new charge (``recover_payment``: Repeat Receipt, compared with the receipts
  the journal knows). An authorized payment that no sale used within ``orphan_reverse_after_s``
  is reversed at the terminal and journaled ``payment.reversed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from drivers.zvt import (
    Outcome,
    PaymentResult,
    SerialTransport,
    TcpTransport,
    ZvtClient,
    ZvtConnectionError,
    ZvtError,
    ZvtTimeout,
)
from drivers.zvt.messages import IntermediateStatus
from gateway.bus import Bus
from gateway.config import opt, section
from gateway.errors import GatewayError, Unavailable
from gateway.ledger import JournalEntry, Ledger
from gateway.ledger.store import now_iso

log = logging.getLogger(__name__)


class PaymentDeclined(GatewayError):
    """The terminal declined the card."""

    type, status, title = "payment-declined", 402, "Payment declined"


class PaymentNeedsReview(GatewayError):
    """The terminal booked something the gateway cannot match; a manager must decide."""

    type, status, title = "payment-needs-review", 409, "Payment needs review"


@section
@dataclass(frozen=True)
class ZvtConfig:
    """Card terminal (ZVT) for card payments."""

    SECTION: ClassVar[str] = "zvt"
    enabled: bool = opt(False, "Offer the `card` payment method through a ZVT terminal.")
    device_id: str = opt("terminal-1", "Device id used for progress events (device/{id}/evt/progress).")
    transport: str = opt("tcp", "How the terminal is connected.", choices=["tcp", "serial"])
    host: str = opt("127.0.0.1", "Terminal address (tcp).")
    port: int = opt(20007, "Terminal TCP port.", min=1, max=65535)
    serial_port: str = opt("/dev/ttyUSB0", "Serial device (serial).")
    baudrate: int = opt(9600, "Serial speed.", choices=[9600, 19200, 38400, 57600, 115200])
    password_file: str = opt("", "File holding the 6-digit ZVT password; empty = 000000.")
    t3_s: int = opt(5, "Seconds to wait for the terminal's acknowledgement (T3).", min=1, max=60)
    t4_s: int = opt(180, "Seconds the terminal may take to finish a payment (T4).", min=10, max=900)
    end_of_day_on_close: bool = opt(True, "Run the terminal's end-of-day (Kassenschnitt) when the day is closed.")
    orphan_reverse_after_s: int = opt(900, "Reverse an approved card payment no sale used after this many seconds.",
                                      min=60, max=86400)


PROJECTION_SQL = (
    "CREATE TABLE IF NOT EXISTS card_payments (intent_id TEXT PRIMARY KEY, ref TEXT NOT NULL, amount INTEGER NOT NULL, "
    "kind TEXT NOT NULL, state TEXT NOT NULL, receipt_number INTEGER, details TEXT, created TEXT NOT NULL, "
    "created_at REAL NOT NULL, used_by INTEGER)"
)


class CardPaymentsProjection:
    """State of every card intent, rebuilt from ``payment.*`` and the receipts that used them."""

    name = "card_payments"

    def setup(self, conn: Any) -> None:
        """Create the table."""
        conn.execute(PROJECTION_SQL)
        conn.execute("CREATE INDEX IF NOT EXISTS card_payments_ref ON card_payments(ref, state)")

    def reset(self, conn: Any) -> None:
        """Empty the table."""
        conn.execute("DELETE FROM card_payments")

    def apply(self, conn: Any, e: JournalEntry) -> None:
        """Fold payment events; mark intents used by receipts."""
        p = e.payload
        if e.type == "payment.intent":
            conn.execute(
                "INSERT INTO card_payments(intent_id, ref, amount, kind, state, created, created_at) VALUES (?,?,?,?,?,?,?)",
                (p["intent_id"], p["ref"], p["amount"], p["kind"], "pending", e.ts, p.get("at", 0.0)),
            )
        elif e.type.startswith("payment.") and "intent_id" in p:
            state = e.type.split(".", 1)[1]
            details = json.dumps({k: v for k, v in p.items() if k not in ("intent_id", "reason")})
            conn.execute("UPDATE card_payments SET state=?, receipt_number=COALESCE(?, receipt_number), details=? WHERE intent_id=?",
                         (state, p.get("receipt_number"), details, p["intent_id"]))
        elif e.type in ("sale.finished", "sale.voided", "sale.returned"):
            for pay in p.get("payments", ()):
                iid = (pay.get("details") or {}).get("intent_id")
                if iid:
                    conn.execute("UPDATE card_payments SET used_by=? WHERE intent_id=?", (p["receipt_no"], iid))


def _details(r: PaymentResult) -> dict[str, Any]:
    keep = ("receipt_number", "trace_number", "terminal_id", "card_name", "card_type", "masked_pan", "aid", "date", "time",
            "result_code", "result_text", "amount_cents")
    d = asdict(r)
    return {k: d[k] for k in keep if d.get(k) is not None}


class CardMethod:
    """The ``card`` payment method and the reconciliation task (component ``card``)."""

    name = "card"
    is_cash = False
    dsfinvk_type = "Unbar"

    def __init__(self, cfg: ZvtConfig, ledger: Ledger, bus: Bus) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.bus = bus
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.last_error = ""
        self.stats = {"authorized": 0, "declined": 0, "failed": 0, "recovered": 0, "reversed": 0}
        self._active: ZvtClient | None = None
        self.terminal_id: str | None = None
        self.registered_at = ""

    # ------------------------------------------------------------------ terminal access

    def _client(self) -> ZvtClient:
        password = "000000"
        if self.cfg.password_file:
            password = Path(self.cfg.password_file).read_text(encoding="utf-8").strip()
        transport: Any
        if self.cfg.transport == "tcp":
            transport = TcpTransport(self.cfg.host, self.cfg.port)
        else:
            transport = SerialTransport(self.cfg.serial_port, self.cfg.baudrate)
        return ZvtClient(transport, password=password, t3=self.cfg.t3_s, t4=self.cfg.t4_s, on_event=self._progress)

    def _progress(self, message: Any) -> None:
        if isinstance(message, IntermediateStatus):
            self.bus.publish(f"device.{self.cfg.device_id}.evt.progress",
                             {"code": message.code, "text": message.text, "intent_id": self._current})

    _current = ""

    async def _journal(self, type_: str, payload: dict[str, Any]) -> None:
        await self.ledger.write(lambda txn: txn.append(type_, f"payment:{payload['intent_id']}", payload))

    def _known_receipts(self) -> set[int]:
        return {int(r[0]) for r in self.ledger.query("SELECT receipt_number FROM card_payments WHERE receipt_number IS NOT NULL")}

    # ------------------------------------------------------------------ PaymentMethod

    async def charge(self, amount: int, ref: str) -> dict[str, Any]:
        """Authorize ``amount`` cents; adopts an unused authorization of the same attempt."""
        async with self._lock:
            await self._reconcile_pending()
            if ref:
                row = self.ledger.query(
                    "SELECT intent_id, receipt_number, details FROM card_payments WHERE ref=? AND amount=? AND kind='charge' "
                    "AND state IN ('authorized','recovered') AND used_by IS NULL ORDER BY created LIMIT 1", (ref, amount))
                if row:
                    log.info("reusing card authorization %s for retried sale %s", row[0][0], ref)
                    return {**json.loads(row[0][2] or "{}"), "intent_id": row[0][0]}
            return await self._converse("charge", amount, ref)

    async def refund(self, amount: int, ref: str, original: dict[str, Any] | None) -> dict[str, Any]:
        """Reverse the original card payment when known (same day), else a refund of ``amount``."""
        async with self._lock:
            await self._reconcile_pending()
            spent = (original or {}).get("details") or {}
            receipt = spent.get("receipt_number")
            result = await self._converse("reversal" if receipt else "refund", amount, ref, receipt)
            if receipt and spent.get("intent_id"):
                # The original authorization is gone: a retried sale must not adopt it (see charge).
                await self._journal("payment.reversed", {"intent_id": spent["intent_id"], "amount": amount,
                                                         "reason": f"reversed by intent {result['intent_id']} ({ref})"})
            return result

    async def _converse(self, kind: str, amount: int, ref: str, receipt: int | None = None) -> dict[str, Any]:
        intent_id = uuid.uuid4().hex
        await self._journal("payment.intent", {"intent_id": intent_id, "ref": ref, "amount": amount, "kind": kind,
                                               "method": "card", "at": time.time(), "original_receipt": receipt})
        self._current = intent_id
        client = self._client()
        self._active = client
        try:
            if kind == "charge":
                result = await client.authorize(amount)
            elif kind == "reversal":
                assert receipt is not None
                result = await client.reversal(receipt)
            else:
                result = await client.refund(amount)
        except (ZvtTimeout, ZvtConnectionError, OSError) as err:
            self.last_error = f"{type(err).__name__}: {err}"
            return await self._recover(intent_id, kind, amount, err)
        except ZvtError as err:
            self.last_error = f"{type(err).__name__}: {err}"
            await self._journal("payment.failed", {"intent_id": intent_id, "reason": self.last_error})
            self.stats["failed"] += 1
            raise Unavailable(f"card terminal error: {err}") from err
        finally:
            self._active = None
            with contextlib.suppress(Exception):
                await client.close()
            self._current = ""
        details = _details(result)
        if not result.approved:
            await self._journal("payment.declined", {"intent_id": intent_id, **details})
            self.stats["declined"] += 1
            raise PaymentDeclined(f"card declined: {result.result_text}", result_code=result.result_code)
        await self._journal("payment.authorized", {"intent_id": intent_id, **details})
        self.stats["authorized"] += 1
        return {**details, "intent_id": intent_id, "receipt_lines": result.receipt_lines[:80]}

    async def _recover(self, intent_id: str, kind: str, amount: int, err: BaseException | None) -> dict[str, Any]:
        """Ask the terminal what became of an interrupted conversation and journal the answer."""
        client = self._client()
        try:
            rec = await client.recover_payment(amount, self._known_receipts())
        except (ZvtError, OSError) as err2:
            # The terminal is unreachable: the intent stays pending and is reconciled before the next payment.
            raise Unavailable(f"card terminal unreachable ({err2}); payment state will be checked before the next payment") from err
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        if rec.outcome is Outcome.PAID and rec.payment is not None:
            details = _details(rec.payment)
            await self._journal("payment.recovered", {"intent_id": intent_id, **details, "reason": rec.reason})
            self.stats["recovered"] += 1
            return {**details, "intent_id": intent_id}
        if rec.outcome is Outcome.NOT_PAID:
            await self._journal("payment.failed", {"intent_id": intent_id, "reason": f"interrupted, not booked: {rec.reason}"})
            self.stats["failed"] += 1
            raise Unavailable(f"card payment interrupted and not booked ({rec.reason}); try again") from err
        details = _details(rec.payment) if rec.payment else {}
        await self._journal("payment.needs_review", {"intent_id": intent_id, **details, "reason": rec.reason})
        raise PaymentNeedsReview(f"card terminal booked an unexpected transaction: {rec.reason}") from err

    async def _reconcile_pending(self) -> None:
        for intent_id, kind, amount in self.ledger.query("SELECT intent_id, kind, amount FROM card_payments WHERE state='pending'"):
            with contextlib.suppress(GatewayError):
                await self._recover(intent_id, kind, amount, None)

    async def reverse_orphans(self) -> int:
        """Reverse authorized card payments that no receipt used in time; returns how many."""
        cutoff = time.time() - self.cfg.orphan_reverse_after_s
        rows = self.ledger.query(
            "SELECT intent_id, receipt_number, amount FROM card_payments WHERE kind='charge' AND state IN ('authorized','recovered') "
            "AND used_by IS NULL AND created_at < ?", (cutoff,))
        n = 0
        for intent_id, _receipt, amount in rows:
            async with self._lock:
                # Read again under the lock: a retried sale may have adopted it meanwhile.
                receipt = self.ledger.query_one(
                    "SELECT receipt_number FROM card_payments WHERE intent_id=? AND state IN ('authorized','recovered') "
                    "AND used_by IS NULL", (intent_id,))
                if receipt is None:
                    continue
                client = self._client()
                try:
                    result = await client.reversal(int(receipt))
                except (ZvtError, OSError) as err:
                    log.warning("could not reverse orphaned card payment %s: %s", intent_id, err)
                    continue
                finally:
                    with contextlib.suppress(Exception):
                        await client.close()
                if result.approved:
                    await self._journal("payment.reversed", {"intent_id": intent_id, "amount": amount, **_details(result),
                                                             "reason": "no sale used this authorization"})
                    self.stats["reversed"] += 1
                    n += 1
        return n

    async def abort(self) -> bool:
        """Ask the terminal to abort the payment in progress (06 B0); False when none runs."""
        client = self._active
        if client is None:
            return False
        try:
            await client.abort()
        except (ZvtError, OSError) as err:
            raise Unavailable(f"card terminal did not take the abort: {err}") from err
        return True

    async def register(self) -> dict[str, Any]:
        """Registration (06 00) with password, config byte and currency; the terminal id is kept."""
        async with self._lock:
            client = self._client()
            try:
                reg = await client.register()
            except (ZvtError, OSError) as err:
                self.last_error = f"registration: {type(err).__name__}: {err}"
                raise Unavailable(f"card terminal registration failed: {err}") from err
            finally:
                with contextlib.suppress(Exception):
                    await client.close()
        self.terminal_id = reg.terminal_id or self.terminal_id
        self.registered_at = now_iso()
        self.last_error = ""
        return {"terminal_id": reg.terminal_id, "currency_code": reg.currency_code, "status_byte": reg.status_byte}

    async def end_of_day(self) -> dict[str, Any]:
        """The terminal's end-of-day (06 50): journaled as ``payment.end_of_day`` with its totals."""
        async with self._lock:
            client = self._client()
            try:
                await client.register()
                result = await client.end_of_day()
            except (ZvtError, OSError) as err:
                self.last_error = f"{type(err).__name__}: {err}"
                raise Unavailable(f"card terminal end-of-day failed: {err}") from err
            finally:
                with contextlib.suppress(Exception):
                    await client.close()
        payload = {"approved": result.approved, "result_code": result.result_code, "result_text": result.result_text,
                   "total_cents": result.total_cents, "receipt_lines": result.receipt_lines[:200]}
        await self.ledger.write(lambda txn: txn.append("payment.end_of_day", "payment:terminal", payload))
        return payload

    # ------------------------------------------------------------------ Component

    async def start(self) -> None:
        """Reconcile intents left pending by a crash, then watch for orphans."""
        self._task = asyncio.get_running_loop().create_task(self._housekeeping())

    async def _housekeeping(self) -> None:
        with contextlib.suppress(GatewayError):
            await self.register()  # at start-up; a terminal that is off is registered on the next round
        while True:
            if not self.registered_at:
                with contextlib.suppress(GatewayError):
                    await self.register()
            try:
                async with self._lock:
                    await self._reconcile_pending()
                await self.reverse_orphans()
            except Exception as err:
                self.last_error = str(err)
                log.warning("card reconciliation: %s", err)
            await asyncio.sleep(60)

    async def stop(self) -> None:
        """Stop the housekeeping task."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def status(self) -> dict[str, Any]:
        """Counts and the pending intents."""
        pending = self.ledger.query_one("SELECT COUNT(*) FROM card_payments WHERE state='pending'") or 0
        unused = self.ledger.query_one(
            "SELECT COUNT(*) FROM card_payments WHERE kind='charge' AND state IN ('authorized','recovered') AND used_by IS NULL") or 0
        return {"state": "ok" if not self.last_error else "degraded", "terminal": f"{self.cfg.transport}:{self.cfg.host}:{self.cfg.port}"
                if self.cfg.transport == "tcp" else self.cfg.serial_port, "terminal_id": self.terminal_id,
                "registered_at": self.registered_at, "busy": self._active is not None, "pending": pending,
                "unused_authorizations": unused, "last_error": self.last_error, **self.stats}


def install(gw: Any, cfg: ZvtConfig) -> CardMethod:
    """Register the card method, its projection, component and routes on a gateway (before ``open``)."""
    from gateway.payments.api import api

    method = CardMethod(cfg, gw.ledger, gw.bus)
    gw.ledger.add_projection(CardPaymentsProjection())
    gw.payments.register(method)
    gw.add_component(method, api)
    return method

