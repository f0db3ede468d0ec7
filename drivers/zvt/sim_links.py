"""Links of the ZVT terminal simulator: the server side of a TCP connection (with packet-boundary
fault injection: split and merged segments) and of a pty running the RS232 block protocol."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from typing import Protocol

from drivers.zvt.apdu import Apdu, ApduReassembler
from drivers.zvt.errors import ZvtConnectionError, ZvtTimeout
from drivers.zvt.serial_link import SerialLink


class Peer(Protocol):
    """One ECR link as the simulated terminal sees it."""

    async def send(self, apdu: Apdu) -> None:
        """Send one APDU to the ECR."""
        ...

    async def receive(self, limit: float | None, timer: str = "T3") -> Apdu:
        """Next APDU from the ECR."""
        ...

    async def hangup(self) -> None:
        """Drop the link (TCP) or go silent (pty)."""
        ...
    delivery: str


class TcpPeer:
    """Server side of one TCP connection with fault injection for packet boundaries."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.splitter = ApduReassembler()
        self.ready: deque[Apdu] = deque()
        self.delivery = "normal"
        self._held = b""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def send(self, apdu: Apdu) -> None:
        """Write one APDU, honouring the current ``delivery`` fault mode."""
        raw = apdu.encode()
        if self.delivery == "merged" and apdu.cls == 0x80:
            self._held += raw  # goes out in one segment with the next PT command
            return
        raw, self._held = self._held + raw, b""
        if self.delivery == "split":
            for i in range(0, len(raw), 2):
                self.writer.write(raw[i : i + 2])
                await self.writer.drain()
                await asyncio.sleep(0.002)
            return
        self.writer.write(raw)
        await self.writer.drain()

    async def receive(self, limit: float | None, timer: str = "T3") -> Apdu:
        """Next complete APDU from the stream."""
        try:
            async with asyncio.timeout(limit):
                while not self.ready:
                    chunk = await self.reader.read(4096)
                    if not chunk:
                        raise ZvtConnectionError("ECR closed the connection")
                    self.ready.extend(self.splitter.feed(chunk))
        except TimeoutError:
            raise ZvtTimeout("ECR did not answer", timer) from None
        except OSError as err:
            raise ZvtConnectionError(str(err)) from err
        return self.ready.popleft()

    async def hangup(self) -> None:
        """Close the connection."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class SerialPeer:
    """Server side of the pty: a hang-up means the simulated terminal goes silent."""

    def __init__(self, link: SerialLink) -> None:
        self.link = link
        self.delivery = "normal"

    async def send(self, apdu: Apdu) -> None:
        """Send one APDU as an acknowledged block."""
        await self.link.send(apdu)

    async def receive(self, limit: float | None, timer: str = "T3") -> Apdu:
        """Next APDU received as a good block."""
        return await self.link.receive(limit, timer)

    async def hangup(self) -> None:
        """Nothing to close on a pty: the terminal just stops answering this command."""
        return None
