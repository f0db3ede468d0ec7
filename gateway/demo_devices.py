"""Simulated devices for ``storegw demo``: each speaks its real wire protocol on a local port or pty.

The demo till has a receipt printer with a cash drawer (ESC/POS on TCP), a serial barcode
scanner, an MT-SICS scale and a pole display (on ptys) and a ZVT card terminal (TCP). The
device manager drives them through the same adapters and drivers as real hardware, so a demo
scan travels pty -> scanner driver -> bus like a real one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from drivers.display.simulator import PtyDisplaySimulator
from drivers.printer.simulator import TcpPrinterSimulator
from drivers.scale.simulator import ScaleSimulator
from drivers.scanner.simulator import SerialScannerSimulator
from drivers.zvt.simulator import ZvtSimulator
from gateway.bus import Event
from gateway.devices.input_adapters import ScaleAdapter, SerialScannerAdapter
from gateway.devices.output_adapters import DisplayAdapter, PrinterAdapter
from gateway.payments.card import ZvtConfig

log = logging.getLogger(__name__)

SCANNER_ID = "scanner-1"


class DemoSimulators:
    """Component ``simulators``: starts the simulators and registers their devices before the manager runs."""

    name = "simulators"

    def __init__(self, gw: Any) -> None:
        self.gw = gw
        self.zvt: ZvtSimulator | None = None
        self.printer: TcpPrinterSimulator | None = None
        self.scanner: SerialScannerSimulator | None = None
        self.scale: ScaleSimulator | None = None
        self.display: PtyDisplaySimulator | None = None
        self.endpoints: dict[str, str] = {}

    async def start(self) -> None:
        """Start every simulator and pin its device in the device manager."""
        zcfg = self.gw.config.get(ZvtConfig)
        if zcfg.enabled and zcfg.transport == "tcp" and zcfg.host in ("127.0.0.1", "localhost"):
            self.zvt = ZvtSimulator()
            port = await self.zvt.start_tcp(zcfg.host, zcfg.port)
            self.endpoints["zvt"] = f"tcp://{zcfg.host}:{port}"
        mgr = self.gw.components.get("devices")
        if mgr is None:
            return
        self.printer = TcpPrinterSimulator()
        await self.printer.start()
        self.endpoints["printer"] = f"tcp://127.0.0.1:{self.printer.port}"
        mgr.add("printer-1", "receipt-printer", PrinterAdapter({
            "host": "127.0.0.1", "port": self.printer.port, "name": "printer-1", "drawer_alarm_s": 60,
            "jobs_db": str(self.gw.data_dir / "print-jobs.db")}), "demo")
        self.scanner = SerialScannerSimulator()
        await self.scanner.start()
        self.endpoints["scanner"] = self.scanner.path
        mgr.add(SCANNER_ID, "main-scanner", SerialScannerAdapter({"port": self.scanner.path}), "demo")
        self.scale = ScaleSimulator("mtsics")
        await self.scale.start()
        self.scale.state.gross_g = 1234
        self.endpoints["scale"] = self.scale.path
        mgr.add("scale-1", "checkout-scale", ScaleAdapter({"port": self.scale.path, "protocol": "mtsics"}), "demo")
        self.display = PtyDisplaySimulator()
        path = self.display.plug()
        self.endpoints["display"] = path
        mgr.add("display-1", "customer-display", DisplayAdapter({"port": path}), "demo")
        log.info("demo simulators: %s", ", ".join(f"{k} {v}" for k, v in self.endpoints.items()))

    async def scan(self, code: str) -> Event:
        """Send ``code`` from the simulated scanner and wait for the decoded scan event."""
        assert self.scanner is not None
        with self.gw.bus.subscribe(f"device.{SCANNER_ID}.evt.scan") as sub:
            self.scanner.scan(code)
            return await asyncio.wait_for(sub.get(), 3)

    async def stop(self) -> None:
        """Stop the simulators."""
        if self.zvt:
            await self.zvt.stop()
        if self.printer:
            await self.printer.stop()
        for sim in (self.scanner, self.scale):
            if sim:
                sim.close()
        if self.display:
            self.display.unplug()

    def status(self) -> dict[str, Any]:
        """Where each simulator listens; the demo display's screen."""
        out: dict[str, Any] = {"state": "ok", **self.endpoints}
        if self.display is not None:
            out["display_lines"] = list(self.display.sim.lines)
        return out
