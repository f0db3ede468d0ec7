"""Serial and USB-CDC barcode scanners read through pyserial: one code per suffix-terminated line.

Hardware: scanners in RS-232 or USB-CDC ("virtual COM", ``/dev/ttyACM*``) mode. Protocol:
the code text, optionally AIM-prefixed, followed by the configured suffix, usually CR or
CR LF (fact sheet §3.4). Text is decoded as UTF-8 and, when that fails, as Latin-1 so no
byte is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from drivers.scanner.model import Scan, make_scan
from drivers.serialio import Framer, Garbage, SerialLine, SerialSettings

log = logging.getLogger(__name__)

SUFFIXES = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "any": b"\r\n"}


class SerialDecoder:
    """Pure part: bytes in, :class:`Scan` objects out (``suffix``: cr, lf, crlf or any)."""

    def __init__(self, suffix: str = "any", *, gs_substitute: str | None = None, source: str = "serial",
                 max_length: int = 4096) -> None:
        if suffix not in SUFFIXES:
            raise ValueError(f"unknown suffix {suffix!r} (cr, lf, crlf, any)")
        # With CR LF both bytes end a frame and the empty frame between them is skipped.
        self.framer = Framer(SUFFIXES[suffix], max_len=max_length)
        self.gs_substitute = gs_substitute
        self.source = source
        self.errors = 0

    def feed(self, data: bytes, timestamp: float) -> list[Scan]:
        """Consume bytes; return the scans completed by them."""
        scans = []
        for item in self.framer.feed(data):
            if isinstance(item, Garbage):
                self.errors += 1
                log.warning("%s: %s, %d bytes dropped", self.source, item.reason, len(item.data))
                continue
            try:
                text = item.decode("utf-8")
            except UnicodeDecodeError:
                self.errors += 1
                log.warning("%s: code is not UTF-8, read as Latin-1: %r", self.source, item)
                text = item.decode("latin-1")
            scans.append(make_scan(text, self.source, timestamp, self.gs_substitute))
        return scans


class SerialScanner:
    """A scanner on a serial port; ``on_scan(scan)`` per code, ``on_state(online, reason)``."""

    def __init__(
        self,
        port: str,
        *,
        settings: SerialSettings | None = None,
        suffix: str = "any",
        gs_substitute: str | None = None,
        on_scan: Callable[[Scan], None],
        on_state: Callable[[bool, str], None] | None = None,
    ) -> None:
        self.decoder = SerialDecoder(suffix, gs_substitute=gs_substitute, source=port)
        self.on_scan = on_scan
        self.on_state = on_state
        self.line = SerialLine(port, settings or SerialSettings(), on_data=self._on_data, on_state=self._on_state)

    @property
    def online(self) -> bool:
        """True while the port is open."""
        return self.line.online

    async def start(self) -> None:
        """Open (and keep reopening) the port; returns at once."""
        await self.line.start()

    async def close(self) -> None:
        """Close the port."""
        await self.line.close()

    def _on_data(self, data: bytes) -> None:
        for scan in self.decoder.feed(data, asyncio.get_running_loop().time()):
            try:
                self.on_scan(scan)
            except Exception:  # a failing consumer must not stop the reader
                log.exception("%s: scan handler failed", self.line.path)

    def _on_state(self, online: bool, reason: str) -> None:
        self.decoder.framer.reset()
        if self.on_state is not None:
            self.on_state(online, reason)
