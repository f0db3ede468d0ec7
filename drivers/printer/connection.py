"""Async access to one ESC/POS receipt printer over USB, serial or TCP via python-escpos 3.1.

Wraps a python-escpos printer object (``Network``, ``Serial``, ``Usb`` or an in-process fake)
and runs its blocking calls in a worker thread, one at a time, so that print data and
real-time status queries (``DLE EOT n``, Epson ESC/POS reference; fact sheet peripherals.md
§1.6) never interleave. Every transport failure closes the link, marks the printer offline and
raises ``PrinterOffline``; the next call reconnects, so an unplugged and replugged printer comes
back without restarting anything.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import termios
import time
from collections.abc import Callable
from typing import Any

import usb.core

from drivers.blocking import in_thread
from drivers.printer._escpos import Escpos, EscposLibraryError, Network, Serial, Usb
from drivers.printer.errors import PrinterOffline, PrinterStatusError, PrinterTimeout
from drivers.printer.status import ALL_QUERIES, PrinterStatus, extract_reply, status_query

log = logging.getLogger(__name__)

StateCallback = Callable[[bool, str], None]

#: How long to wait for more bytes after a reply that is not a status byte (seconds).
_GRACE = 0.2


class _SerialPrinter(Serial):
    """python-escpos ``Serial`` that returns a status byte as soon as it arrives.

    The stock ``_read`` asks for 16 bytes and so always waits for the full read timeout; a
    DLE EOT reply is one byte. (Writes get a size-dependent timeout from
    ``PrinterConnection``, so hardware flow control that never releases cannot hang the worker
    thread forever.)
    """

    def _read(self) -> bytes:
        first = self.device.read(1)
        waiting = self.device.in_waiting
        return bytes(first) + (bytes(self.device.read(waiting)) if waiting else b"")


class _UsbPrinter(Usb):
    """python-escpos ``Usb`` whose read timeout is a ``TimeoutError``, not a dead device.

    pyusb reports an unanswered bulk-IN read as ``USBTimeoutError`` (an ``OSError``), which
    would otherwise look like an unplugged printer.
    """

    def _read(self) -> bytes:
        try:
            return bytes(self.device.read(self.in_ep, 16))
        except usb.core.USBTimeoutError as err:
            raise TimeoutError(str(err)) from err


def _describe(device: Escpos) -> str:
    if isinstance(device, Network):
        return f"tcp://{device.host}:{device.port}"
    if isinstance(device, Serial):
        return f"serial:{device.devfile}"
    if isinstance(device, Usb):
        return f"usb:{device.usb_args.get('idVendor', 0):04x}:{device.usb_args.get('idProduct', 0):04x}"
    return type(device).__name__


class PrinterConnection:
    """One receipt printer: send ESC/POS bytes, query real-time status, reconnect on demand.

    ``on_state(online, reason)`` is called whenever the printer goes online or offline.
    ``timeout`` bounds every status reply (seconds).
    """

    def __init__(
        self,
        device: Escpos,
        name: str = "",
        timeout: float = 3.0,
        on_state: StateCallback | None = None,
    ) -> None:
        self.device = device
        self.name = name or _describe(device)
        self.timeout = timeout
        self.on_state = on_state
        #: ``None`` until the first call, then whether the last call reached the printer.
        self.online: bool | None = None
        self.last_error = ""
        self.last_status: PrinterStatus | None = None
        self._lock = asyncio.Lock()
        self._opened = False

    # -- factories --------------------------------------------------------------------------

    @classmethod
    def network(cls, host: str, port: int = 9100, timeout: float = 3.0, profile: str | None = None,
                **kwargs: Any) -> PrinterConnection:
        """A printer on a raw TCP port (JetDirect/AppSocket, usually 9100)."""
        return cls(Network(host=host, port=port, timeout=timeout, profile=profile), timeout=timeout, **kwargs)

    @classmethod
    def serial(cls, devfile: str, baudrate: int = 9600, timeout: float = 1.0, dsrdtr: bool = True,
               profile: str | None = None, **kwargs: Any) -> PrinterConnection:
        """A printer on an RS-232 / USB-serial port (8N1; ``dsrdtr`` = DTR/DSR flow control)."""
        device = _SerialPrinter(devfile=devfile, baudrate=baudrate, timeout=timeout, dsrdtr=dsrdtr, profile=profile)
        return cls(device, timeout=timeout, **kwargs)

    @classmethod
    def usb(cls, vendor_id: int, product_id: int, in_ep: int = 0x82, out_ep: int = 0x01,
            timeout: float = 3.0, profile: str | None = None, usb_args: dict[str, Any] | None = None,
            **kwargs: Any) -> PrinterConnection:
        """A printer claimed through pyusb (needs udev permissions).

        ``usb_args`` go to ``usb.core.find`` (e.g. ``bus``/``address`` or ``custom_match`` to tell
        identical printers apart); ``timeout`` is in seconds here, pyusb gets milliseconds.
        """
        device = _UsbPrinter(vendor_id, product_id, usb_args=usb_args or {}, timeout=int(timeout * 1000),
                             in_ep=in_ep, out_ep=out_ep, profile=profile)
        return cls(device, timeout=timeout, **kwargs)

    # -- state ------------------------------------------------------------------------------

    def _set_online(self, online: bool, reason: str = "") -> None:
        changed = online != self.online
        self.online = online
        self.last_error = "" if online else reason
        if changed:
            if online:
                log.info("printer %s online", self.name)
            else:
                log.warning("printer %s offline: %s", self.name, reason)
            if self.on_state is not None:
                try:
                    self.on_state(online, reason)
                except Exception:
                    log.exception("printer %s: state callback failed", self.name)

    def _drop_link(self) -> None:
        raw = self.device._device
        try:
            self.device.close()
        except (OSError, termios.error, EscposLibraryError, AttributeError, AssertionError) as err:
            # A dead serial port fails in flush(); close the handle itself so the fd is freed.
            log.debug("printer %s: close after failure: %s", self.name, err)
            try:
                getattr(raw, "close", lambda: None)()
            except (OSError, termios.error):
                pass
        # python-escpos leaves ``_device = None`` after a failed open, and then never reopens.
        self.device.device = False
        self._opened = False

    # -- blocking primitives (worker thread) ---------------------------------------------------

    def _ensure_open(self) -> None:
        if not self._opened:
            self.device.device = False
            self.device.open()
            self._opened = True
            sock = self.device.device
            if isinstance(sock, socket.socket):
                # A 3-byte status query right after print data would otherwise wait for the
                # delayed ACK of the data (Nagle): ~40 ms per query.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _write_timeout(self, size: int) -> float:
        """How long sending ``size`` bytes may take: the printer drains its buffer as it prints.

        Assumes at least 1 KB/s on a network/USB printer (a long slip with images prints for
        seconds) and two thirds of the line rate on a serial one.
        """
        if isinstance(self.device, Serial):
            return self.timeout + size * 10 / self.device.baudrate * 1.5
        return self.timeout + size / 1000

    def _write_blocking(self, data: bytes) -> None:
        self._ensure_open()
        dev = self.device.device
        limit = self._write_timeout(len(data))
        if isinstance(dev, socket.socket):
            dev.settimeout(limit)
        elif isinstance(self.device, Serial) and dev is not None:
            dev.write_timeout = limit
        elif isinstance(self.device, Usb):
            self.device.timeout = int(limit * 1000)  # pyusb: milliseconds
        try:
            self.device._raw(data)
        finally:
            if self._opened and isinstance(dev, socket.socket):
                dev.settimeout(self.timeout)
            elif isinstance(self.device, Usb):
                self.device.timeout = int(self.timeout * 1000)

    def _drain_blocking(self) -> None:
        """Discard stale input (late replies, ASB bytes) before a query."""
        dev = self.device.device
        if isinstance(self.device, Network) and isinstance(dev, socket.socket):
            dev.setblocking(False)
            try:
                while True:
                    chunk = dev.recv(256)
                    if not chunk:
                        raise ConnectionResetError("connection closed by printer")
            except BlockingIOError:
                pass
            finally:
                dev.settimeout(self.timeout)
        elif isinstance(self.device, Serial) and dev is not None:
            dev.reset_input_buffer()

    def _set_read_timeout(self, seconds: float) -> None:
        dev = self.device.device
        if isinstance(dev, socket.socket):
            dev.settimeout(seconds)
        elif isinstance(self.device, Serial) and dev is not None:
            dev.timeout = seconds

    def _query_blocking(self, n: int) -> int:
        self._ensure_open()
        self._drain_blocking()
        self.device._raw(status_query(n))
        deadline = time.monotonic() + self.timeout
        received = b""
        try:
            while True:
                try:
                    chunk = bytes(self.device._read())
                except TimeoutError:
                    if received:
                        raise PrinterStatusError(n, received) from None
                    raise
                if not chunk and isinstance(self.device, Network):
                    raise ConnectionResetError("connection closed by printer")
                received += chunk
                value = extract_reply(received)
                if value is not None:
                    return value
                if received:
                    # A reply is a single byte; whatever follows garbage arrives at once.
                    self._set_read_timeout(_GRACE)
                if time.monotonic() >= deadline or (received and not chunk):
                    break
                if not chunk:
                    time.sleep(0.01)  # in-process fakes return at once instead of blocking
        finally:
            if self._opened:
                self._set_read_timeout(self.timeout)
        if received:
            raise PrinterStatusError(n, received)
        raise TimeoutError

    # -- async API ------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._lock:
            try:
                result = await in_thread(fn, *args)
            except PrinterStatusError as err:
                # The link works but the bytes make no sense: report, keep the connection.
                log.error("printer %s: %s", self.name, err)
                raise
            except TimeoutError as err:
                self._drop_link()
                self._set_online(False, "no answer")
                raise PrinterTimeout(self.name, self.timeout) from err
            except (OSError, termios.error, EscposLibraryError, AssertionError, ValueError) as err:
                # OSError covers socket errors, serial.SerialException and usb.core.USBError;
                # python-escpos reports a missing device as DeviceNotFoundError.
                reason = " ".join(str(err).split()) or type(err).__name__
                self._drop_link()
                self._set_online(False, reason)
                raise PrinterOffline(self.name, reason) from err
            self._set_online(True)
            return result

    async def write(self, data: bytes) -> None:
        """Send raw ESC/POS bytes (a rendered receipt, a drawer kick)."""
        await self._run(self._write_blocking, bytes(data))

    async def query(self, n: int) -> int:
        """Send ``DLE EOT n`` and return the validated reply byte."""
        return int(await self._run(self._query_blocking, n))

    async def read_status(self) -> PrinterStatus:
        """Query DLE EOT 1..4 and decode them; also stored in ``last_status``."""
        replies = [await self.query(n) for n in ALL_QUERIES]
        status = PrinterStatus.decode(*replies)
        self.last_status = status
        return status

    async def close(self) -> None:
        """Close the link (the next call reopens it)."""
        async with self._lock:
            await in_thread(self._drop_link)


class StatusPoller:
    """Polls a printer's real-time status and reports every change.

    ``on_status(status)`` gets each new distinct status; ``on_error(exc)`` gets failures
    (offline, timeout, malformed reply) — the poller itself never stops on them.
    """

    def __init__(
        self,
        printer: PrinterConnection,
        interval: float = 2.0,
        on_status: Callable[[PrinterStatus], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.printer = printer
        self.interval = interval
        self.on_status = on_status
        self.on_error = on_error
        self.last: PrinterStatus | None = None
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> PrinterStatus | None:
        """One status round; returns the status or ``None`` after a reported failure."""
        try:
            status = await self.printer.read_status()
        except (PrinterOffline, PrinterTimeout, PrinterStatusError) as err:
            self.last = None
            if self.on_error is not None:
                self.on_error(err)
            return None
        if status != self.last and self.on_status is not None:
            self.on_status(status)
        self.last = status
        return status

    async def run(self) -> None:
        """Poll forever (cancel to stop)."""
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Start polling in a background task."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"printer-status-{self.printer.name}")

    async def stop(self) -> None:
        """Stop polling and wait for the task to end."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
