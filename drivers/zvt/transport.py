"""ZVT transports: the interface, TCP/IP (port 20007, no framing) and a recording fake.

Source: PA00P016 rev. 04 section on TCP/IP and fact sheet ``reference/zvt.md`` section 1.1: the
ECR is the TCP client; APDUs are written back to back without framing, so the receiver
reassembles them from arbitrary segments (several reads per APDU, several APDUs per read).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol

from drivers.zvt.apdu import Apdu, ApduReassembler
from drivers.zvt.errors import ZvtConnectionError, ZvtDecodeError, ZvtTimeout

log = logging.getLogger(__name__)

DEFAULT_PORT = 20007


class Transport(Protocol):
    """What the conversation layer needs from a link: whole APDUs in and out."""

    @property
    def is_open(self) -> bool:
        """True while the link is usable."""
        ...

    async def open(self) -> None:
        """Connect (idempotent)."""
        ...

    async def close(self) -> None:
        """Disconnect (idempotent)."""
        ...

    async def send(self, apdu: Apdu) -> None:
        """Send one APDU (on RS232 this includes the block acknowledgement)."""
        ...

    async def receive(self, limit: float | None, timer: str = "T3") -> Apdu:
        """The next APDU; ``ZvtTimeout`` naming ``timer`` after ``limit`` seconds."""
        ...


class TcpTransport:
    """ZVT over TCP/IP; reassembles APDUs from the byte stream across and within reads."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, connect_timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._splitter = ApduReassembler()
        self._ready: deque[Apdu] = deque()

    @property
    def is_open(self) -> bool:
        """True while connected."""
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        """Connect to the terminal."""
        if self.is_open:
            return
        try:
            async with asyncio.timeout(self.connect_timeout):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            raise ZvtTimeout(f"connecting to {self.host}:{self.port} timed out", "connect") from None
        except OSError as err:
            raise ZvtConnectionError(f"cannot connect to {self.host}:{self.port}: {err}") from err
        self._splitter = ApduReassembler()
        self._ready.clear()

    async def close(self) -> None:
        """Close the socket."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def send(self, apdu: Apdu) -> None:
        """Write one APDU."""
        if self._writer is None or self._writer.is_closing():
            raise ZvtConnectionError("not connected")
        try:
            self._writer.write(apdu.encode())
            await self._writer.drain()
        except OSError as err:
            await self.close()
            raise ZvtConnectionError(f"send failed: {err}") from err

    async def receive(self, limit: float | None, timer: str = "T3") -> Apdu:
        """Next complete APDU; partial bytes are kept across a timeout."""
        try:
            async with asyncio.timeout(limit):
                while not self._ready:
                    if self._reader is None:
                        raise ZvtConnectionError("not connected")
                    try:
                        chunk = await self._reader.read(4096)
                    except OSError as err:
                        await self.close()
                        raise ZvtConnectionError(f"receive failed: {err}") from err
                    if not chunk:
                        await self.close()
                        raise ZvtConnectionError("terminal closed the connection")
                    self._ready.extend(self._splitter.feed(chunk))
        except TimeoutError:
            raise ZvtTimeout(f"{timer} expired after {limit} s", timer) from None
        return self._ready.popleft()


class FakeTransport:
    """Recording transport for exact-byte tests.

    ``sent`` holds the wire bytes of every APDU sent. After the n-th send the APDUs in
    ``script[n]`` (raw bytes) become receivable; ``feed`` adds receivable bytes at any time (they
    are split like a TCP stream, so a test may feed halves or several APDUs at once).
    """

    def __init__(self, script: list[list[bytes]] | None = None) -> None:
        self.sent: list[bytes] = []
        self.script = list(script or [])
        self._splitter = ApduReassembler()
        self._queue: asyncio.Queue[Apdu | None] = asyncio.Queue()
        self._open = False
        self.opened = 0

    @property
    def is_open(self) -> bool:
        """True between ``open`` and ``close``."""
        return self._open

    async def open(self) -> None:
        """Mark open."""
        self._open = True
        self.opened += 1

    async def close(self) -> None:
        """Mark closed."""
        self._open = False

    def feed(self, raw: bytes) -> None:
        """Make bytes receivable (as if they arrived on the wire)."""
        try:
            for apdu in self._splitter.feed(raw):
                self._queue.put_nowait(apdu)
        except ZvtDecodeError:
            log.warning("fake transport fed malformed bytes %s", raw.hex())

    def disconnect(self) -> None:
        """Simulate the peer dropping the connection."""
        self._queue.put_nowait(None)

    async def send(self, apdu: Apdu) -> None:
        """Record the APDU and release the next scripted answer."""
        if not self._open:
            raise ZvtConnectionError("not connected")
        index = len(self.sent)
        self.sent.append(apdu.encode())
        if index < len(self.script):
            for raw in self.script[index]:
                self.feed(raw)

    async def receive(self, limit: float | None, timer: str = "T3") -> Apdu:
        """Next fed APDU."""
        try:
            async with asyncio.timeout(limit):
                item = await self._queue.get()
        except TimeoutError:
            raise ZvtTimeout(f"{timer} expired after {limit} s", timer) from None
        if item is None:
            self._open = False
            raise ZvtConnectionError("peer closed the connection")
        return item
