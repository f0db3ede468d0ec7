"""Customer pole display on a serial port: item and price, total, change, thank-you text.

Hardware: 2 x 20 ESC/POS (Epson DM-D compatible) pole displays on RS-232 or USB-serial, see
``drivers.display.codec`` for the command set. Each update rewrites both rows, so a display
that was power-cycled or replugged shows the right text after the next update; a failed
write closes the port and the next call reopens it.
"""

from __future__ import annotations

import asyncio
import logging
import termios
from collections.abc import Callable

import serial

from drivers.blocking import in_thread
from drivers.display.codec import DisplayCodec, DisplayOffline
from drivers.printer.receipt import format_money

log = logging.getLogger(__name__)


class PoleDisplay:
    """A 2 x 20 customer display on ``port`` (e.g. ``/dev/ttyUSB1``), 8N1 at ``baudrate``.

    ``on_state(online, reason)`` is called when the display goes online or offline.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        codec: DisplayCodec | None = None,
        timeout: float = 1.0,
        on_state: Callable[[bool, str], None] | None = None,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.codec = codec or DisplayCodec()
        self.timeout = timeout
        self.on_state = on_state
        self.online: bool | None = None
        self.lines: tuple[str, ...] = ()
        self._serial: serial.Serial | None = None
        self._lock = asyncio.Lock()

    def _set_online(self, online: bool, reason: str = "") -> None:
        if online != self.online:
            self.online = online
            (log.info if online else log.warning)("display %s %s %s", self.port,
                                                  "online" if online else "offline:", reason)
            if self.on_state is not None:
                try:
                    self.on_state(online, reason)
                except Exception:
                    log.exception("display state callback failed")

    def _write_blocking(self, data: bytes) -> None:
        if self._serial is None:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=self.timeout,
                                         write_timeout=self.timeout)
            # A freshly (re)connected display may show anything: start from a known state.
            data = self.codec.init() + data
        self._serial.write(data)
        self._serial.flush()

    def _close_blocking(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except (OSError, termios.error):
                pass
            self._serial = None

    async def send(self, data: bytes) -> None:
        """Write raw display bytes (opening the port first if needed)."""
        async with self._lock:
            try:
                await in_thread(self._write_blocking, data)
            except (OSError, termios.error, serial.SerialException) as err:
                reason = " ".join(str(err).split()) or type(err).__name__
                await in_thread(self._close_blocking)
                self._set_online(False, reason)
                raise DisplayOffline(self.port, reason) from err
            self._set_online(True)

    async def show(self, *lines: str) -> None:
        """Show up to ``rows`` lines (each cut/padded to the width)."""
        await self.send(self.codec.show(*lines))
        self.lines = tuple(self.codec.fit(t) for t in lines)

    async def clear(self) -> None:
        """Blank the display."""
        await self.show()

    async def show_item(self, name: str, price_cents: int, total_cents: int | None = None) -> None:
        """The article just scanned with its price; the running total below when given."""
        second = self.codec.two_sided("Summe", format_money(total_cents)) if total_cents is not None else ""
        await self.show(self.codec.two_sided(name, format_money(price_cents)), second)

    async def show_total(self, total_cents: int, label: str = "SUMME") -> None:
        """The amount due."""
        await self.show(label, format_money(total_cents).rjust(self.codec.columns))

    async def show_change(self, paid_cents: int, change_cents: int) -> None:
        """What the customer paid and the change due."""
        await self.show(self.codec.two_sided("Gegeben", format_money(paid_cents)),
                        self.codec.two_sided("Rückgeld", format_money(change_cents)))

    async def show_thanks(self, first: str = "Vielen Dank!", second: str = "Auf Wiedersehen") -> None:
        """The goodbye text, centred."""
        width = self.codec.columns
        await self.show(first.center(width), second.center(width))

    async def close(self) -> None:
        """Close the port."""
        async with self._lock:
            await in_thread(self._close_blocking)
