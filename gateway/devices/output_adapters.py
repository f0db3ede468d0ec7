"""Device adapters for output devices: ESC/POS receipt printers (with their cash drawer) and pole displays.

The printer adapter owns a persistent print queue (job id = idempotency key or receipt number,
so a retried job prints once), polls the DLE EOT status into the device state (offline, cover
open, paper near end / out) and watches the drawer sensor through the same status byte.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from drivers.display.codec import DisplayCodec
from drivers.display.display import PoleDisplay
from drivers.drawer.drawer import CashDrawer, DrawerEvent
from drivers.printer.connection import PrinterConnection, StatusPoller
from drivers.printer.layout import ReceiptLayout
from drivers.printer.queue import JobState, MemoryJobStore, PrintQueue, SqliteJobStore
from drivers.printer.render import render_bytes, slip_to_text
from drivers.printer.status import PrinterStatus, device_state
from gateway.config import StoreConfig
from gateway.devices.base import DeviceError, EmitEvent, EmitState
from gateway.devices.manager import register_driver
from gateway.errors import BadRequest


def status_dict(s: PrinterStatus) -> dict[str, Any]:
    """Printer status for the device state."""
    return {"online": s.online, "cover_open": s.cover_open, "paper_near_end": s.paper_near_end, "paper_out": s.paper_out,
            "error": "" if not s.error else "printer error", "drawer_pin3_high": s.drawer_pin3_high}


class PrinterAdapter:
    """ESC/POS receipt printer over TCP (9100), serial or USB; drawer kicked through it."""

    kind = "printer"
    actions = frozenset({"receipt", "print", "test_page", "reprint", "open_drawer", "status"})
    idempotent_actions = frozenset({"receipt", "print", "test_page", "reprint", "open_drawer"})

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.store: StoreConfig | None = None
        self.layout = ReceiptLayout(str(spec.get("profile", "default")), str(spec.get("code_page", "CP858")),
                                    columns=spec.get("columns"))
        if "host" in spec:
            self.transport = f"tcp://{spec['host']}:{int(spec.get('port', 9100))}"
        elif "serial_port" in spec:
            self.transport = f"serial:{spec['serial_port']}"
        elif "usb" in spec:
            self.transport = f"usb:{spec['usb']}"
        else:
            raise ValueError("a printer needs host, serial_port or usb (vid:pid)")
        pin = int(spec.get("drawer_pin", 2))
        if pin not in (2, 5):
            raise ValueError("drawer_pin must be 2 or 5")
        self.jobs_db = spec.get("jobs_db")
        self.printer: PrinterConnection | None = None
        self.queue: PrintQueue | None = None
        self.poller: StatusPoller | None = None
        self.drawer: CashDrawer | None = None
        self.emit_event: EmitEvent | None = None
        self.emit_state: EmitState | None = None
        self.last: dict[str, Any] = {}
        self.link_error = ""

    def bind_store(self, store: StoreConfig) -> None:
        """The store's name, address and VAT id for the legal receipt header (set by the device manager)."""
        self.store = store

    def _connect(self) -> PrinterConnection:
        s = self.spec
        if "host" in s:
            return PrinterConnection.network(str(s["host"]), int(s.get("port", 9100)), timeout=float(s.get("timeout_s", 3.0)))
        if "serial_port" in s:
            return PrinterConnection.serial(str(s["serial_port"]), int(s.get("baudrate", 9600)))
        vid, pid = str(s["usb"]).split(":")
        return PrinterConnection.usb(int(vid, 16), int(pid, 16))

    async def open(self, emit_event: EmitEvent, emit_state: EmitState) -> None:
        """Connect, read the status once, start the queue, the status poller and the drawer watch."""
        self.emit_event, self.emit_state = emit_event, emit_state
        self.printer = self._connect()
        status = await self.printer.read_status()
        store = SqliteJobStore(Path(self.jobs_db)) if self.jobs_db else MemoryJobStore()
        self.queue = PrintQueue(self.printer, store, name=str(self.spec.get("name", "printer")),
                                wait_timeout=float(self.spec.get("wait_timeout_s", 60)), on_update=self._job_update)
        self.drawer = CashDrawer(self.printer, pin=int(self.spec.get("drawer_pin", 2)),
                                 on_ms=int(self.spec.get("drawer_pulse_ms", 100)), off_ms=int(self.spec.get("drawer_pulse_ms", 100)),
                                 open_level_high=bool(self.spec.get("drawer_open_high", True)),
                                 alarm_after=float(self.spec.get("drawer_alarm_s", 120)), on_event=self._drawer_event)
        self._on_status(status)
        await self.queue.start()
        self.poller = StatusPoller(self.printer, interval=float(self.spec.get("status_interval_s", 2.0)),
                                   on_status=self._on_status, on_error=self._on_error)
        self.poller.start()

    def _on_status(self, status: PrinterStatus) -> None:
        self.link_error = ""
        self.last = status_dict(status)
        if self.drawer:
            self.drawer.observe_status(status)
        self.last["drawer_open"] = self.drawer.is_open if self.drawer else None
        if self.emit_state:
            self.emit_state(self.last)

    def _on_error(self, err: Exception) -> None:
        self.link_error = f"{type(err).__name__}: {err}"

    def _drawer_event(self, ev: DrawerEvent) -> None:
        if self.emit_event:
            self.emit_event("drawer", {"event": ev.kind, "open_seconds": round(ev.open_seconds, 1)})

    def _job_update(self, job: Any) -> None:
        if self.emit_event:
            self.emit_event("job", {"job_id": job.job_id, "state": str(job.state), "reason": job.reason})

    async def close(self) -> None:
        """Stop poller and queue, close the connection."""
        if self.poller:
            await self.poller.stop()
            self.poller = None
        if self.queue:
            await self.queue.stop()
            self.queue = None
        if self.printer:
            await self.printer.close()
            self.printer = None

    async def health(self) -> dict[str, Any]:
        """Offline when the status cannot be read; error with the reason for cover open or paper out."""
        state, reason = device_state(None if self.link_error else _status_from(self.last), self.link_error)
        if state == "offline":
            raise ConnectionError(reason or "printer offline")
        out = dict(self.last)
        out["error"] = reason if state == "error" else ""
        out["warning"] = reason if state == "online" else ""
        return out

    async def command(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Print a receipt, lines or a test page; reprint a copy; open the drawer; report status."""
        if self.queue is None or self.printer is None:
            raise ConnectionError("printer not connected")
        if action == "status":
            return {**self.last, "recent": [{"job_id": j.job_id, "state": str(j.state)} for j in self.queue.recent(5)]}
        if action == "open_drawer":
            assert self.drawer is not None
            await self.drawer.open(immediate=bool(params.get("immediate", True)))
            return {"kicked": True}
        if action == "reprint":
            job = await self.queue.reprint(str(params["job_id"]), copy_id=params.get("copy_id"))
            return await self._finish(job.job_id)
        if action == "receipt":
            from gateway.printing import receipt_document

            receipt = params.get("receipt")
            if not isinstance(receipt, dict) or "receipt_no" not in receipt:
                raise BadRequest("receipt needs a committed receipt object")
            if self.store is None:
                raise DeviceError("this printer has no store identity to print on receipts (not added by the device manager)")
            doc = receipt_document(receipt, self.store)
            original, copy = self.layout.render_pair(doc)
            job = await self.queue.submit(f"receipt-{receipt['receipt_no']}", original, copy)
            return await self._finish(job.job_id, wait=bool(params.get("wait", False)))
        if action == "test_page":
            data = self.layout.test_page(str(self.spec.get("name", "")))
        else:
            lines = params.get("lines")
            if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines) or len(lines) > 200:
                raise BadRequest("print needs lines: a list of up to 200 strings", field="lines")
            data = self.layout.text_job(lines, str(params.get("title", "")))
        job = await self.queue.submit(str(params.get("job_id") or uuid.uuid4().hex), data)
        return await self._finish(job.job_id, wait=bool(params.get("wait", True)))

    async def _finish(self, job_id: str, wait: bool = True) -> dict[str, Any]:
        assert self.queue is not None
        job = await self.queue.wait(job_id) if wait else self.queue.get(job_id)
        if job.state is JobState.FAILED:
            raise DeviceError(f"print job {job_id} failed: {job.reason}", job_id=job_id)
        return {"job_id": job.job_id, "state": str(job.state), "reason": job.reason}

    def last_receipt_text(self) -> str:
        """Text rendering of the last printed sale receipt (else the last job) for the status page preview."""
        if self.queue is None:
            return ""
        done = [j for j in self.queue.recent(20) if j.state is JobState.DONE]
        receipts = [j for j in done if re.fullmatch(r"receipt-\d+", j.job_id)]
        job = max(receipts or done, key=lambda j: j.updated_at, default=None)
        return slip_to_text(render_bytes(job.data)) if job else ""

    def describe(self) -> dict[str, Any]:
        """Driver, transport, profile."""
        return {"driver": "escpos", "transport": self.transport, "profile": str(self.spec.get("profile", "default")),
                "code_page": str(self.spec.get("code_page", "CP858"))}


def _status_from(last: dict[str, Any]) -> PrinterStatus | None:
    if not last:
        return None
    return PrinterStatus(online=bool(last["online"]), drawer_pin3_high=bool(last.get("drawer_pin3_high")),
                         cover_open=bool(last["cover_open"]), paper_near_end=bool(last["paper_near_end"]),
                         paper_out=bool(last["paper_out"]), feed_button=False, stopped_by_paper_end=bool(last["paper_out"]),
                         error=bool(last.get("error")), mechanical_error=False, autocutter_error=False,
                         unrecoverable_error=False, auto_recoverable_error=False, raw=(0, 0, 0, 0))


class DisplayAdapter:
    """2x20 customer pole display on a serial port."""

    kind = "display"
    actions = frozenset({"show", "clear", "item", "total", "thanks"})
    idempotent_actions: frozenset[str] = frozenset()

    def __init__(self, spec: dict[str, Any]) -> None:
        self.port = str(spec["port"])
        self.baudrate = int(spec.get("baudrate", 9600))
        self.codec = DisplayCodec(code_page=str(spec.get("code_page", "CP858")))
        self.display: PoleDisplay | None = None
        self.lines: list[str] = ["", ""]

    async def open(self, emit_event: EmitEvent, emit_state: EmitState) -> None:
        """Open the port and clear the screen."""
        self.display = PoleDisplay(self.port, self.baudrate, codec=self.codec)
        await self.display.clear()
        self.emit_state = emit_state

    async def close(self) -> None:
        """Close the port."""
        if self.display:
            await self.display.close()
            self.display = None

    async def health(self) -> dict[str, Any]:
        """The lines shown (a write proves the port; the display has no status)."""
        if self.display is None:
            raise ConnectionError("display not open")
        return {"lines": self.lines}

    async def command(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Show lines, an item with price, the total, a thank-you; clear."""
        if self.display is None:
            raise ConnectionError("display not open")
        if action == "show":
            lines = params.get("lines")
            if not isinstance(lines, list) or not 1 <= len(lines) <= 2 or not all(isinstance(x, str) for x in lines):
                raise BadRequest("show needs lines: one or two strings", field="lines")
            await self.display.show(*lines)
            self.lines = [*lines, ""][:2]
        elif action == "clear":
            await self.display.clear()
            self.lines = ["", ""]
        elif action == "item":
            await self.display.show_item(str(params.get("name", "")), int(params.get("price", 0)), params.get("total"))
        elif action == "total":
            await self.display.show_total(int(params.get("total", 0)))
        else:
            await self.display.show_thanks()
        return {"lines": self.lines}

    def describe(self) -> dict[str, Any]:
        """Driver and port."""
        return {"driver": "pole-display", "transport": f"serial:{self.port}@{self.baudrate}"}


register_driver("escpos", PrinterAdapter)
register_driver("pole-display", DisplayAdapter)
