"""The ``fiscal`` component: signs every receipt with the TSE before it is committed and printed.

Built from the ``[tse]`` section (see docs/tse.md). At start it opens the TSE, registers the
recording system (client), runs the self-test and sets the TSE clock. It then hooks into the sale
flow: every sale, void, return and cash movement becomes one ``Kassenbeleg-V1`` transaction
(fact sheet §1.3-§1.4) whose result is merged into the journaled receipt as its ``tse`` object.
Carts start their transaction at the first line (§2 KassenSichV: at the first action; journaled as
``cart.tse_started``) and finish it at checkout; cancelled carts finish it as ``AVBelegabbruch``
(``cart.tse_aborted``). When the TSE fails the store keeps selling: receipts carry
``{"failed": true, ...}``, the outage is journaled as ``tse.outage_started``/``tse.outage_ended``
and a background task retries until the TSE is back (AEAO zu §146a Nr. 7, fact sheet §1.8).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from drivers.tse import Tse, TseError, TseInfo
from gateway.config import opt, section
from gateway.ledger import JournalEntry, Txn

from .amounts import qr_time
from .process_data import PROCESS_TYPE_RECEIPT, Payment, abort_process_data, receipt_process_data
from .signing import OpenTransaction, Outage, SaleSigner, failed_tse_object
from .tse_factory import open_tse

log = logging.getLogger(__name__)

#: VAT key of cash movements: not taxable, processData slot E (fact sheet §1.4.1, §8.1).
CASH_MOVE_VAT_KEY = 5
#: DSFinV-K GV_TYP of deposits and withdrawals (till <-> bank or safe, fact sheet §8.4).
CASH_MOVE_GV_TYPE = "Geldtransit"


@section
@dataclass(frozen=True)
class TseConfig:
    """The TSE (KassenSichV technical security element) that signs every receipt; see docs/tse.md."""

    SECTION: ClassVar[str] = "tse"
    enabled: bool = opt(False, "Sign every sale, void, return and cash movement with the TSE.")
    mode: str = opt("production", "`production` refuses uncertified TSEs (the software TSE); `demo` allows them.",
                    choices=["production", "demo"])
    type: str = opt("software", "TSE backend.", choices=["software", "fiskaly"])
    client_id: str = opt("till-1", "Serial number of this recording system (TSE clientId, KASSE_SERIENNR); no '_' or '/'.",
                         pattern=r"^[A-Za-z0-9 '()+,\-.:=?]{1,70}$")
    state_dir: str = opt("", "Software TSE: state directory (default DATA_DIR/tse).")
    tss_id: str = opt("", "fiskaly: TSS id.")
    client_uuid: str = opt("", "fiskaly: client UUID registered for client_id.")
    base_url: str = opt("https://kassensichv-middleware.fiskaly.com/api/v2", "fiskaly: API base URL (TEST or LIVE follows from the API key).")
    api_key_file: str = opt("", "fiskaly: file holding the API key.", secret=True)
    api_secret_file: str = opt("", "fiskaly: file holding the API secret.", secret=True)
    admin_pin_file: str = opt("", "fiskaly: file holding the TSS admin PIN.", secret=True)
    request_timeout_s: int = opt(10, "fiskaly: seconds per HTTP request.", min=1, max=120)
    attempts: int = opt(4, "fiskaly: attempts of a request that is safe to repeat.", min=1, max=10)
    call_timeout_s: int = opt(5, "Seconds a TSE operation may take before the outage mode starts.", min=1, max=120)
    recover_interval_s: int = opt(30, "Seconds between recovery attempts during a TSE outage.", min=1, max=3600)

    def settings(self, data_dir: Path) -> dict[str, Any]:
        """The settings mapping :func:`open_tse` reads (empty options left out)."""
        out: dict[str, Any] = {"mode": self.mode, "type": self.type, "client_id": self.client_id,
                               "state_dir": self.state_dir or str(data_dir / "tse")}
        if self.type == "fiskaly":
            out.update(tss_id=self.tss_id or None, client_uuid=self.client_uuid or None, base_url=self.base_url,
                       request_timeout=float(self.request_timeout_s), attempts=self.attempts)
            for key in ("api_key_file", "api_secret_file", "admin_pin_file"):
                if getattr(self, key):
                    out[key] = getattr(self, key)
        return out


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def tse_master(info: TseInfo) -> dict[str, Any]:
    """The TSE's master data as the closing and tse.csv need it (serial, key, algorithm, certificate)."""
    return {"serial_number": info.serial_number, "public_key": info.public_key,
            "signature_algorithm": info.signature_algorithm, "log_time_format": info.log_time_format,
            "certificate": info.certificate, "certified": info.certified,
            "process_data_encoding": info.process_data_encoding}


def bon_type_of(draft: dict[str, Any]) -> str:
    """DSFinV-K BON_TYP (processData Vorgangstyp) of a receipt: ``AVTraining`` or ``Beleg``."""
    return "AVTraining" if draft.get("training") else "Beleg"


def process_data_for(kind: str, draft: dict[str, Any], cash_methods: set[str]) -> str:
    """processData of a receipt draft of ``kind`` sale/void/return/deposit/withdrawal.

    Gross per VAT slot from ``totals.by_vat`` (negative for voids and returns); payments Bar for
    cash methods and Unbar otherwise, as recorded (cash net of change). Cash movements are slot E
    with one Bar payment, negative for withdrawals (fact sheet §1.4.1). Training carries no payment.
    """
    bon_type = bon_type_of(draft)
    if kind in ("deposit", "withdrawal"):
        amount = draft["amount"] if kind == "deposit" else -draft["amount"]
        gross = {CASH_MOVE_VAT_KEY: amount}
        payments = [Payment(amount, cash=True)]
    else:
        gross = {}
        for v in draft["totals"]["by_vat"]:
            gross[v["vat_id"]] = gross.get(v["vat_id"], 0) + v["gross"]
        payments = [Payment(p["amount"], cash=p["method"] in cash_methods) for p in draft["payments"]]
    return receipt_process_data(bon_type, gross, [] if bon_type == "AVTraining" else payments)


class FiscalService:
    """The TSE signing component (name ``fiscal``); see the module docstring."""

    name = "fiscal"

    def __init__(self, gw: Any, cfg: TseConfig, tse: Tse | None = None) -> None:
        self.gw = gw
        self.cfg = cfg
        self.tse = tse
        self.client_id = cfg.client_id
        self.signer: SaleSigner | None = None
        self.startup_error = ""
        self._starts: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._recovery: asyncio.Task[None] | None = None
        self._info: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    def install(self) -> None:
        """Hook into the sale flow and the journal (before :meth:`start`, so no sale goes unsigned)."""
        self.gw.sales.sign_hooks.append(self.sign)
        self.gw.ledger.add_listener(self._on_entries)

    async def start(self) -> None:
        """Open the TSE, register the client, self-test, set the time; outage mode on failure."""
        self.signer = None
        try:
            if self.tse is None:
                self.tse = open_tse(self.cfg.settings(self.gw.data_dir), self.gw.config.source)
        except Exception as err:
            self.startup_error = f"{type(err).__name__}: {getattr(err, 'detail', err)}"
            await self._journal_outage_start(Outage(start=_now(), reason=self.startup_error))
            raise
        self.signer = SaleSigner(self.tse, self.client_id, call_timeout=float(self.cfg.call_timeout_s),
                                 on_outage_start=self._journal_outage_start, on_outage_end=self._journal_outage_end)
        open_outage = self._open_outage()
        try:
            await self._prepare()
        except (TseError, TimeoutError) as err:
            log.error("TSE not ready at start: %s", err)
            reason = f"{type(err).__name__}: {err}"
            if open_outage is None:
                self.signer.outage = Outage(start=_now(), reason=reason)
                await self._journal_outage_start(self.signer.outage)
            else:
                self.signer.outage = open_outage
        else:
            if open_outage is not None:  # the outage journaled before the restart is over now
                open_outage.end = _now()
                await self._journal_outage_end(open_outage)
        self._recovery = asyncio.get_running_loop().create_task(self._recover_loop())

    async def _prepare(self) -> None:
        assert self.tse is not None
        async with asyncio.timeout(self.cfg.call_timeout_s * 4):
            await self.tse.register_client(self.client_id)
            await self.tse.self_test(self.client_id)
            await self.tse.update_time()
            info = await self.tse.info()
        self._info = {**tse_master(info), "description": info.description}

    async def stop(self) -> None:
        """Stop background work, unhook, close the TSE."""
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        pending = [*self._starts.values(), *self._tasks]
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._starts.clear()
        self._tasks.clear()
        if self.sign in self.gw.sales.sign_hooks:
            self.gw.sales.sign_hooks.remove(self.sign)
        self.gw.ledger.remove_listener(self._on_entries)
        if self.tse is not None:
            with contextlib.suppress(Exception):
                await self.tse.close()

    def status(self) -> dict[str, Any]:
        """Health for the status page: ok, or degraded with the outage reason."""
        out: dict[str, Any] = {"state": "ok", "client_id": self.client_id, "type": self.cfg.type, "mode": self.cfg.mode}
        if self._info:
            out.update(serial_number=self._info["serial_number"], certified=self._info["certified"])
        outage = self.signer.outage if self.signer else None
        if self.signer is None:
            out.update(state="failed", error=self.startup_error or "not started")
        elif outage is not None:
            out.update(state="degraded", outage={"start": qr_time(outage.start), "reason": outage.reason})
        return out

    def tse_master(self) -> dict[str, Any]:
        """Identity of the TSE for tse.csv and the archive (empty before a successful start)."""
        return dict(self._info)

    # ------------------------------------------------------------------ outage journal

    def _open_outage(self) -> Outage | None:
        rows = self.gw.ledger.query(
            "SELECT type, payload FROM journal WHERE type IN ('tse.outage_started', 'tse.outage_ended') ORDER BY seq DESC LIMIT 1")
        if not rows or rows[0][0] != "tse.outage_started":
            return None
        p = json.loads(rows[0][1])
        return Outage(start=_parse_time(p["start"]), reason=p["reason"])

    async def _journal_outage_start(self, outage: Outage) -> None:
        payload = {"client_id": self.client_id, "start": qr_time(outage.start), "reason": outage.reason}
        log.error("TSE outage started: %s", outage.reason)
        await self.gw.ledger.write(lambda txn: txn.append("tse.outage_started", "tse", payload))

    async def _journal_outage_end(self, outage: Outage) -> None:
        end = outage.end or _now()
        payload = {"client_id": self.client_id, "start": qr_time(outage.start), "end": qr_time(end),
                   "reason": outage.reason, "bons": list(outage.bon_ids)}
        log.warning("TSE outage ended after %s", end - outage.start)
        await self.gw.ledger.write(lambda txn: txn.append("tse.outage_ended", "tse", payload))

    async def _recover_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.recover_interval_s)
            await self.recover()

    async def recover(self) -> bool:
        """One recovery attempt during an outage (re-register, self-test, time); True when signing."""
        if self.signer is None:
            return False
        if self.signer.outage is None:
            return True
        try:
            await self._prepare()
        except (TseError, TimeoutError) as err:
            log.info("TSE still unavailable: %s", err)
            return False
        return await self.signer.try_recover()

    # ------------------------------------------------------------------ signing

    async def sign(self, kind: str, draft: dict[str, Any]) -> dict[str, Any]:
        """Sign hook of :class:`SaleService`: finish the Vorgang's TSE transaction, return its ``tse`` object.

        Never raises: the customer may already have paid by card, so any unexpected error gives a
        receipt marked as not secured by the TSE instead of a lost sale.
        """
        began = _now()
        try:
            return await self._sign(kind, draft)
        except Exception as err:
            log.exception("signing a %s failed", kind)
            return {"tse": failed_tse_object(f"{type(err).__name__}: {err}", began, _now())}

    async def _sign(self, kind: str, draft: dict[str, Any]) -> dict[str, Any]:
        cash = self.gw.payments.cash_names
        pd = process_data_for(kind, draft, cash)
        fiscal = {"bon_type": bon_type_of(draft),
                  "payment_types": [self._zahlart(p["method"]) for p in draft.get("payments", ())]}
        began = _now()
        if self.signer is None:
            return {"tse": failed_tse_object(self.startup_error or "TSE not started", began, _now()), "fiscal": fiscal}
        started: OpenTransaction | Any = None
        cart_id = draft.get("cart_id") if kind == "sale" else None
        if cart_id:
            record = await self._cart_record(cart_id)
            if record is not None and record.get("failed"):
                # Started without the TSE: never signed later (fact sheet §1.8).
                return {"tse": failed_tse_object(record["reason"], _parse_time(record["start"]), _now()), "fiscal": fiscal}
            if record is not None:
                started = OpenTransaction(int(record["transaction_number"]), _parse_time(record["start"]))
                began = started.start_time
        if started is None:
            started = await self.signer.start()
        tse = await self.signer.finish(started, PROCESS_TYPE_RECEIPT, pd, began=began)
        return {"tse": tse, "fiscal": fiscal}

    def _zahlart(self, method: str) -> str:
        try:
            return str(self.gw.payments.get(method).dsfinvk_type)
        except Exception:
            return "Unbar"

    # ------------------------------------------------------------------ carts

    def _on_entries(self, entries: list[JournalEntry]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # offline CLI writes: no sale flow to sign
            return
        for e in entries:
            cart_id = e.payload.get("cart_id")
            if not isinstance(cart_id, str):
                continue
            if e.type == "cart.line_added" and cart_id not in self._starts:
                self._starts[cart_id] = loop.create_task(self._start_cart(cart_id))
                self._starts[cart_id].add_done_callback(_log_failure)
            elif e.type == "cart.cancelled":
                task = loop.create_task(self._abort_cart(cart_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(_log_failure)
            elif e.type == "sale.finished":
                self._starts.pop(cart_id, None)

    def _journaled_start(self, cart_id: str) -> dict[str, Any] | None:
        row = self.gw.ledger.query_one(
            "SELECT payload FROM journal WHERE aggregate=? AND type='cart.tse_started' ORDER BY seq LIMIT 1", (f"cart:{cart_id}",))
        return None if row is None else dict(json.loads(row))

    async def _cart_record(self, cart_id: str) -> dict[str, Any] | None:
        task = self._starts.get(cart_id)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
        return self._journaled_start(cart_id)

    async def _start_cart(self, cart_id: str) -> None:
        if self.signer is None or self._journaled_start(cart_id) is not None:
            return
        began = _now()
        tx = await self.signer.start()
        if tx is None:
            reason = self.signer.outage.reason if self.signer.outage else "TSE unavailable"
            payload: dict[str, Any] = {"cart_id": cart_id, "failed": True, "reason": reason, "start": qr_time(began)}
        else:
            payload = {"cart_id": cart_id, "client_id": self.client_id, "transaction_number": tx.number,
                       "start": qr_time(tx.start_time)}

        def fn(txn: Txn) -> None:
            txn.append("cart.tse_started", f"cart:{cart_id}", payload)

        await self.gw.ledger.write(fn)

    async def _abort_cart(self, cart_id: str) -> None:
        record = await self._cart_record(cart_id)
        self._starts.pop(cart_id, None)
        if record is None or self.signer is None:
            return
        if record.get("failed"):
            tse = failed_tse_object(record["reason"], _parse_time(record["start"]), _now())
        else:
            started = OpenTransaction(int(record["transaction_number"]), _parse_time(record["start"]))
            tse = await self.signer.finish(started, PROCESS_TYPE_RECEIPT, abort_process_data(), began=started.start_time)
        row = self.gw.ledger.query_one("SELECT data FROM carts WHERE id=?", (cart_id,))
        lines = json.loads(row)["lines"] if row else []
        kept = [{k: ln[k] for k in ("line", "code", "name", "vat_id", "unit", "unit_price", "qty_milli") if k in ln}
                for ln in lines]

        def fn(txn: Txn) -> None:
            txn.append("cart.tse_aborted", f"cart:{cart_id}", {"cart_id": cart_id, "tse": tse, "lines": kept})

        await self.gw.ledger.write(fn)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("fiscal cart task failed: %r", task.exception())


def install(gw: Any, cfg: TseConfig, tse: Tse | None = None) -> FiscalService:
    """Build the fiscal component, hook it into the sale flow and add it (with its routes) to ``gw``."""
    from .api import api

    svc = FiscalService(gw, cfg, tse)
    svc.install()
    gw.add_component(svc, api)
    return svc
