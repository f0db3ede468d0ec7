"""Device adapters for input devices: HID and serial barcode scanners, serial scales.

Scans become ``device.{id}.evt.scan`` events carrying the raw text, the AIM symbology and the
parsed barcode (``drivers.barcode``); a code that cannot be parsed is still delivered with the
reason, so the till can show it. Weight reads become ``evt.weight`` events with the
legal-for-trade verdict (a weighed line only from a stable, positive reading).
"""

from __future__ import annotations

import asyncio
from typing import Any

from drivers.barcode import InvalidBarcode
from drivers.scale import SerialScale
from drivers.scale.legal import weighed_line_allowed
from drivers.scale.model import WeightReading
from drivers.scanner.hid import HidDecoder, HidScanner
from drivers.scanner.model import Scan
from drivers.scanner.serial_scanner import SerialScanner
from drivers.serialio.port import SerialSettings
from gateway.devices.base import DeviceError, EmitEvent, EmitState
from gateway.devices.manager import register_driver

ONLINE_WAIT_S = 1.0


def scan_event(scan: Scan) -> dict[str, Any]:
    """The bus payload of one scan."""
    data: dict[str, Any] = {"code": scan.data, "text": scan.text, "aim_id": scan.aim_id, "symbology": scan.symbology}
    try:
        data["barcode"] = scan.barcode().to_json()
    except InvalidBarcode as err:
        data["barcode"] = None
        data["error"] = err.reason
    return data


async def _wait_online(driver: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ONLINE_WAIT_S
    while not driver.online:
        if loop.time() > deadline:
            raise ConnectionError(f"{what}: {getattr(driver, 'reason', '') or 'not reachable'}")
        await asyncio.sleep(0.02)


class _InputBase:
    kind = "scanner"
    actions: frozenset[str] = frozenset({"status"})
    idempotent_actions: frozenset[str] = frozenset()

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.driver: Any = None
        self.emit_event: EmitEvent | None = None
        self.scans = 0

    def _on_scan(self, scan: Scan) -> None:
        self.scans += 1
        if self.emit_event:
            self.emit_event("scan", scan_event(scan))

    async def close(self) -> None:
        """Stop the driver."""
        if self.driver is not None:
            await self.driver.close()
            self.driver = None

    async def health(self) -> dict[str, Any]:
        """Offline when the driver lost its device."""
        if self.driver is None or not self.driver.online:
            raise ConnectionError(getattr(self.driver, "reason", "") or "device lost")
        return {}

    async def command(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """``status``: scans seen so far."""
        return {"online": bool(self.driver and self.driver.online), "scans": self.scans}


class HidScannerAdapter(_InputBase):
    """USB HID (keyboard-wedge) scanner through evdev, grabbed exclusively."""

    def __init__(self, spec: dict[str, Any], opener: Any = None) -> None:
        super().__init__(spec)
        self.path = str(spec["path"])
        self.layout = str(spec.get("layout", "us"))
        self.suffix = str(spec.get("suffix", "enter"))
        gs = spec.get("gs_substitute")
        self.gs_substitute = str(gs) if gs else None
        self._decoder(self.path)  # validate layout and suffix at config time
        self.opener = opener

    def _decoder(self, source: str) -> HidDecoder:
        return HidDecoder(self.layout, self.suffix, gs_substitute=self.gs_substitute, source=source)

    async def open(self, emit_event: EmitEvent, emit_state: EmitState) -> None:
        """Start reading the evdev node."""
        self.emit_event = emit_event
        self.driver = HidScanner(self.path, self._decoder(self.path), on_scan=self._on_scan,
                                 grab=bool(self.spec.get("grab", True)), opener=self.opener)
        await self.driver.start()
        await _wait_online(self.driver, self.path)

    def describe(self) -> dict[str, Any]:
        """Driver and node."""
        return {"driver": "hid-scanner", "transport": f"evdev:{self.path}", "layout": self.layout}


class SerialScannerAdapter(_InputBase):
    """Serial or USB-CDC scanner with CR/LF suffix."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.port = str(spec["port"])
        self.settings = SerialSettings(baudrate=int(spec.get("baudrate", 9600)))

    async def open(self, emit_event: EmitEvent, emit_state: EmitState) -> None:
        """Open the port."""
        self.emit_event = emit_event
        self.driver = SerialScanner(self.port, settings=self.settings, suffix=str(self.spec.get("suffix", "any")),
                                    on_scan=self._on_scan)
        await self.driver.start()
        await _wait_online(self.driver, self.port)

    def describe(self) -> dict[str, Any]:
        """Driver and port."""
        return {"driver": "serial-scanner", "transport": f"serial:{self.port}@{self.settings.baudrate}"}


def reading_dict(r: WeightReading) -> dict[str, Any]:
    """A weight reading as JSON, with the legal-for-trade verdict."""
    allowed, reason = weighed_line_allowed(r)
    return {"state": r.state.value, "weight_g": r.weight_g, "net": r.net, "at_zero": r.at_zero, "stable": r.stable,
            "sellable": allowed, "reason": reason}


class ScaleAdapter:
    """Serial scale: MT-SICS, Toledo 8217 or NCI."""

    kind = "scale"
    actions = frozenset({"read_weight", "zero", "tare", "clear_tare"})
    idempotent_actions: frozenset[str] = frozenset()

    def __init__(self, spec: dict[str, Any]) -> None:
        self.port = str(spec["port"])
        self.protocol = str(spec.get("protocol", "mtsics"))
        if self.protocol not in ("mtsics", "toledo8217", "nci"):
            raise ValueError(f"protocol {self.protocol!r} is not mtsics, toledo8217 or nci")
        self.baudrate = spec.get("baudrate")
        self.scale: SerialScale | None = None
        self.emit_event: EmitEvent | None = None

    async def open(self, emit_event: EmitEvent, emit_state: EmitState) -> None:
        """Open the port and read once to prove the scale answers."""
        self.emit_event = emit_event
        settings = SerialSettings(baudrate=int(self.baudrate)) if self.baudrate else None
        self.scale = SerialScale(self.port, self.protocol, settings=settings)
        await self.scale.start()
        await _wait_online(self.scale, self.port)

    async def close(self) -> None:
        """Close the port."""
        if self.scale:
            await self.scale.close()
            self.scale = None

    async def health(self) -> dict[str, Any]:
        """Port still open."""
        if self.scale is None or not self.scale.online:
            raise ConnectionError("scale port lost")
        return {}

    async def command(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Weigh, zero, tare, clear tare; driver errors become DeviceError with the reason."""
        if self.scale is None:
            raise ConnectionError("scale not connected")
        from drivers.scale.errors import ScaleError

        try:
            if action == "read_weight":
                reading = await self.scale.read_weight(bool(params.get("immediate", False)))
                data = reading_dict(reading)
                if self.emit_event:
                    self.emit_event("weight", data)
                return data
            if action == "zero":
                await self.scale.zero()
            elif action == "tare":
                r = await self.scale.tare()
                return {"tare": reading_dict(r) if r else None}
            else:
                await self.scale.clear_tare()
            return {"ok": True}
        except ScaleError as err:
            raise DeviceError(f"scale: {err}", device_action=action) from err

    def describe(self) -> dict[str, Any]:
        """Driver and port."""
        return {"driver": "scale", "protocol": self.protocol, "transport": f"serial:{self.port}"}


register_driver("hid-scanner", HidScannerAdapter)
register_driver("serial-scanner", SerialScannerAdapter)
register_driver("scale", ScaleAdapter)
