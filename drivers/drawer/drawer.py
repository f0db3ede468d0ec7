"""Cash drawer on a receipt printer's drawer-kick connector (RJ-11/RJ-12, pins 2 and 5).

Hardware: a standard 24 V POS cash drawer on the drawer connector of an ESC/POS receipt printer.
Protocol: Epson ESC/POS ``ESC p m t1 t2`` (pulse queued behind print data) and
``DLE DC4 1 m t`` (real-time pulse), open state from ``DLE EOT 1`` bit 2 = level of connector
pin 3 (Epson TM-T88III / TM-U220A references; fact sheet peripherals.md §1.8). The level that
means "open" depends on printer and drawer, so the polarity is a setting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from drivers.printer.status import PrinterStatus

log = logging.getLogger(__name__)


class DrawerError(Exception):
    """Root of every error raised by ``drivers.drawer``."""


class DrawerConfigError(DrawerError, ValueError):
    """An invalid drawer setting (pin, pulse time, alarm time)."""


class DrawerUnavailable(DrawerError, ConnectionError):
    """The printer that drives the drawer cannot be reached."""


def kick_command(pin: int = 2, on_ms: int = 100, off_ms: int = 100) -> bytes:
    """``ESC p m t1 t2``: pulse ``pin`` (2 or 5) for ``on_ms`` then rest ``off_ms`` (2 ms steps).

    ``kick_command(2)`` equals python-escpos ``cashdraw(2)`` = ``1B 70 00 32 32``.
    """
    if pin not in (2, 5):
        raise DrawerConfigError(f"drawer pin must be 2 or 5, got {pin}")
    for label, ms in (("on", on_ms), ("off", off_ms)):
        if not 2 <= ms <= 510:
            raise DrawerConfigError(f"drawer pulse {label} time must be 2..510 ms, got {ms}")
    return bytes((0x1B, 0x70, 0 if pin == 2 else 1, on_ms // 2, off_ms // 2))


def realtime_kick_command(pin: int = 2, pulse_ms: int = 100) -> bytes:
    """``DLE DC4 1 m t``: immediate pulse of ``pulse_ms`` (100..800 ms, 100 ms steps).

    Executed at once even when the printer is busy or offline; use it for a no-sale open.
    """
    if pin not in (2, 5):
        raise DrawerConfigError(f"drawer pin must be 2 or 5, got {pin}")
    if pulse_ms % 100 or not 100 <= pulse_ms <= 800:
        raise DrawerConfigError(f"real-time pulse must be 100..800 ms in 100 ms steps, got {pulse_ms}")
    return bytes((0x10, 0x14, 0x01, 0 if pin == 2 else 1, pulse_ms // 100))


class DrawerPort(Protocol):
    """What the drawer needs from its printer (``drivers.printer.PrinterConnection`` fits)."""

    async def write(self, data: bytes) -> None:
        """Send raw bytes to the printer."""

    async def query(self, n: int) -> int:
        """Return the reply byte to ``DLE EOT n``."""


@dataclass(frozen=True, slots=True)
class DrawerEvent:
    """A drawer change: ``kind`` is ``opened``, ``closed``, ``kicked`` or ``left-open``."""

    kind: str
    open_seconds: float = 0.0


class CashDrawer:
    """A cash drawer behind a printer: kick it, watch its sensor, raise an alarm if left open.

    ``open_level_high``: True when pin 3 HIGH (status bit 2 set) means the drawer is open.
    ``alarm_after`` seconds open trigger one ``left-open`` event per opening (0 = no alarm).
    ``on_event(event)`` receives every ``DrawerEvent``. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        port: DrawerPort,
        pin: int = 2,
        on_ms: int = 100,
        off_ms: int = 100,
        open_level_high: bool = True,
        alarm_after: float = 0.0,
        on_event: Callable[[DrawerEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = kick_command(pin, on_ms, off_ms)
        if alarm_after < 0:
            raise DrawerConfigError(f"alarm time must be >= 0 s, got {alarm_after}")
        self.port = port
        self.pin = pin
        self.on_ms = on_ms
        self.open_level_high = open_level_high
        self.alarm_after = alarm_after
        self.on_event = on_event
        self.clock = clock
        #: ``None`` until the first status reading.
        self.is_open: bool | None = None
        self.opened_at: float | None = None
        self._alarmed = False
        self._task: asyncio.Task[None] | None = None

    def _emit(self, event: DrawerEvent) -> None:
        log.info("drawer %s", event.kind)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("drawer event callback failed")

    async def open(self, immediate: bool = False) -> None:
        """Kick the drawer.

        By default with ``ESC p``, which the printer executes after the print data already
        sent (open the drawer at the end of a receipt). ``immediate`` uses the real-time
        ``DLE DC4`` pulse instead (a "no sale" open; works even while the printer is out of
        paper), rounded up to whole 100 ms.
        """
        command = self.command
        if immediate:
            pulse = min(800, max(100, -(-self.on_ms // 100) * 100))
            command = realtime_kick_command(self.pin, pulse)
        try:
            await self.port.write(command)
        except (ConnectionError, TimeoutError) as err:
            raise DrawerUnavailable(f"cannot kick drawer: {err}") from err
        self._emit(DrawerEvent("kicked"))

    def observe(self, printer_status_byte: int) -> None:
        """Feed a ``DLE EOT 1`` reply (e.g. from the printer's status poller)."""
        now = self.clock()
        is_open = bool(printer_status_byte & 0x04) == self.open_level_high
        if is_open != self.is_open:
            was_known = self.is_open is not None
            self.is_open = is_open
            if is_open:
                self.opened_at, self._alarmed = now, False
                if was_known:
                    self._emit(DrawerEvent("opened"))
            else:
                duration = now - self.opened_at if self.opened_at is not None else 0.0
                self.opened_at = None
                if was_known:
                    self._emit(DrawerEvent("closed", duration))
        if is_open and self.alarm_after and not self._alarmed and self.opened_at is not None:
            if now - self.opened_at >= self.alarm_after:
                self._alarmed = True
                self._emit(DrawerEvent("left-open", now - self.opened_at))

    def observe_status(self, status: PrinterStatus) -> None:
        """Feed a full decoded printer status."""
        self.observe(status.raw[0])

    async def poll_once(self) -> bool:
        """Read the drawer sensor once; returns whether it is open."""
        try:
            value = await self.port.query(1)
        except (ConnectionError, TimeoutError) as err:
            raise DrawerUnavailable(f"cannot read drawer state: {err}") from err
        except ValueError as err:  # a garbled status byte (PrinterStatusError)
            raise DrawerUnavailable(f"unreadable drawer state: {err}") from err
        self.observe(value)
        return bool(self.is_open)

    async def run(self, interval: float = 0.5) -> None:
        """Poll the sensor forever; failures are logged and polling continues."""
        while True:
            try:
                await self.poll_once()
            except DrawerUnavailable as err:
                log.warning("drawer: %s", err)
            await asyncio.sleep(interval)

    def start(self, interval: float = 0.5) -> None:
        """Start polling in a background task."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(interval), name="cash-drawer")

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
