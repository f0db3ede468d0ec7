"""Async serial port on the asyncio loop: pyserial opens and configures, the loop reads.

No threads: the file descriptor pyserial opened (always non-blocking on POSIX) is watched
with ``loop.add_reader``. When the device disappears (read error, EOF, EIO on a USB adapter
or a closed pty) the port reports offline and reopens the same path with exponential
backoff, so a replugged device (same udev symlink) comes back on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import serial

log = logging.getLogger(__name__)


class PortOffline(ConnectionError):
    """The port is not open (device absent, unplugged, or the port was closed)."""


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings: ``parity`` is ``"N"``, ``"E"`` or ``"O"``; sizes as pyserial takes them."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1


class SerialLine:
    """One serial device path, kept open across unplug/replug.

    ``on_data(bytes)`` gets every chunk read; ``on_state(online, reason)`` is called on every
    transition. Call :meth:`start` once and :meth:`close` at the end.
    """

    def __init__(
        self,
        path: str,
        settings: SerialSettings | None = None,
        *,
        on_data: Callable[[bytes], None],
        on_state: Callable[[bool, str], None] | None = None,
        retry_initial: float = 0.05,
        retry_max: float = 2.0,
    ) -> None:
        self.path = path
        self.settings = settings or SerialSettings()
        self.on_data = on_data
        self.on_state = on_state
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.online = False
        self.reason = "not started"
        self._ser: serial.Serial | None = None
        self._lost: asyncio.Future[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._online_event = asyncio.Event()

    async def start(self) -> None:
        """Start the open/reconnect loop; returns at once (use :meth:`wait_online` to wait)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"serial:{self.path}")

    async def wait_online(self) -> None:
        """Wait until the port is open (bound it with ``asyncio.timeout``)."""
        await self._online_event.wait()

    def write(self, data: bytes) -> None:
        """Write ``data`` now; raise :class:`PortOffline` when the port is not open."""
        ser = self._ser
        if ser is None or not self.online:
            raise PortOffline(f"{self.path}: {self.reason}")
        view = memoryview(data)
        try:
            while view:
                n = os.write(ser.fileno(), view)
                view = view[n:]
        except BlockingIOError:
            # A command is a few bytes; a full kernel buffer means the device is stuck.
            self._mark_lost("write buffer full")
            raise PortOffline(f"{self.path}: write buffer full") from None
        except OSError as exc:
            self._mark_lost(f"write failed: {exc}")
            raise PortOffline(f"{self.path}: write failed: {exc}") from exc

    async def close(self) -> None:
        """Stop reconnecting and close the port."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._teardown("closed")

    async def _run(self) -> None:
        delay = self.retry_initial
        while True:
            try:
                self._open()
            except (OSError, serial.SerialException) as exc:
                self._set_state(False, f"cannot open: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            delay = self.retry_initial
            assert self._lost is not None
            reason = await self._lost
            self._teardown(reason)
            await asyncio.sleep(delay)

    def _open(self) -> None:
        s = self.settings
        # exclusive=True takes a flock so a second driver (or a stray tool) cannot share the port.
        ser = serial.Serial(
            self.path, s.baudrate, bytesize=s.bytesize, parity=s.parity, stopbits=s.stopbits, timeout=0,
            exclusive=True,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        self._ser = ser
        self._lost = loop.create_future()
        loop.add_reader(ser.fileno(), self._readable)
        self._set_state(True, "open")

    def _readable(self) -> None:
        ser = self._ser
        if ser is None:
            return
        try:
            data = os.read(ser.fileno(), 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._mark_lost(f"read failed: {exc}")
            return
        if not data:
            self._mark_lost("end of file")
            return
        try:
            self.on_data(data)
        except Exception:  # a bad consumer must not kill the port
            log.exception("%s: data handler failed", self.path)

    def _mark_lost(self, reason: str) -> None:
        ser = self._ser
        if ser is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(ser.fileno())
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)
        self._set_state(False, reason)

    def _teardown(self, reason: str) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(ser.fileno())
            with contextlib.suppress(Exception):
                ser.close()
        self._set_state(False, reason)

    def _set_state(self, online: bool, reason: str) -> None:
        changed = online != self.online
        self.online = online
        self.reason = reason
        if online:
            self._online_event.set()
        else:
            self._online_event.clear()
        if changed:
            log.info("%s: %s (%s)", self.path, "online" if online else "offline", reason)
            if self.on_state is not None:
                self.on_state(online, reason)
