"""ZVT over RS232: block acknowledgement (ACK/NAK), retries and the T1/T2 timers, on any serial fd.

Source: PA00P016 rev. 04 and fact sheet ``reference/zvt.md`` sections 1.2-1.4: every received
block is answered with a raw ACK (06) or NAK (15); the sender repeats a block on NAK or after T2
(5 s) without answer, up to two more times; a gap of more than T1 (200 ms) inside a block makes the
receiver NAK it. Line settings 9600 baud, 8 data bits, no parity, 2 stop bits.
``SerialLink`` serves both ends (the client's pyserial port and the simulator's pty master).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select

from drivers.zvt.apdu import Apdu, decode_apdu
from drivers.zvt.errors import ZvtConnectionError, ZvtDecodeError, ZvtTimeout, ZvtTransmissionError
from drivers.zvt.framing import ACK_BYTE, NAK_BYTE, Deframer, frame

log = logging.getLogger(__name__)

T1 = 0.2
T2 = 5.0
RETRIES = 2
WRITE_STALL_S = 0.5  # longest wait for a full tty output buffer to take more bytes


class SerialLink:
    """Block layer of ZVT RS232 over a non-blocking file descriptor, driven by the event loop."""

    def __init__(self, fd: int, t1: float = T1, t2: float = T2, retries: int = RETRIES) -> None:
        self.fd = fd
        self.t1 = t1
        self.t2 = t2
        self.retries = retries
        self.naks_sent = 0
        self.blocks_repeated = 0
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._apdus: asyncio.Queue[Apdu | None] = asyncio.Queue()
        self._ack_waiter: asyncio.Future[int] | None = None
        self._send_lock = asyncio.Lock()
        self._deframer = Deframer()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        """Begin reading the fd."""
        os.set_blocking(self.fd, False)
        asyncio.get_running_loop().add_reader(self.fd, self._on_readable)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop reading (the fd stays open; its owner closes it)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.fd)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def closed(self) -> bool:
        """True after ``stop`` or once the other end went away."""
        return self._closed

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""  # EIO on a pty whose other side is closed
        if not chunk:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.fd)
        self._chunks.put_nowait(chunk)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                # The tty's output buffer is full (blocks are small, so only for a moment): wait
                # until it drains instead of spinning; a line that does not drain is dead.
                _, ready, _ = select.select([], [self.fd], [], WRITE_STALL_S)
                if not ready:
                    raise ZvtConnectionError(f"serial line did not take data within {WRITE_STALL_S} s") from None
                continue
            except OSError as err:
                raise ZvtConnectionError(f"serial write failed: {err}") from err
            view = view[written:]

    async def _run(self) -> None:
        while True:
            timeout = self.t1 if self._deframer.in_block else None
            try:
                async with asyncio.timeout(timeout):
                    chunk = await self._chunks.get()
            except TimeoutError:
                log.warning("T1 expired inside a block; sending NAK")
                self._deframer.reset()
                self._nak()
                continue
            if not chunk:
                self._closed = True
                self._apdus.put_nowait(None)
                if self._ack_waiter is not None and not self._ack_waiter.done():
                    self._ack_waiter.set_exception(ZvtConnectionError("serial line closed"))
                return
            for byte in chunk:
                self._byte(byte)

    def _nak(self) -> None:
        self.naks_sent += 1
        with contextlib.suppress(ZvtConnectionError):
            self._write(bytes([NAK_BYTE]))

    def _byte(self, byte: int) -> None:
        if not self._deframer.in_block and not self._deframer.after_dle and byte in (ACK_BYTE, NAK_BYTE):
            if self._ack_waiter is not None and not self._ack_waiter.done():
                self._ack_waiter.set_result(byte)
            else:
                log.debug("stray %02X ignored", byte)
            return
        result = self._deframer.feed(byte)
        if result is None:
            return
        kind, value = result
        if kind == "error":
            log.warning("bad block (%s); sending NAK", value)
            self._nak()
            return
        assert isinstance(value, bytes)
        try:
            apdu = decode_apdu(value)
        except ZvtDecodeError as err:
            # The block arrived intact, so it is acknowledged; the content is reported and dropped.
            log.warning("block with malformed APDU %s: %s", value.hex(), err)
            with contextlib.suppress(ZvtConnectionError):
                self._write(bytes([ACK_BYTE]))
            return
        with contextlib.suppress(ZvtConnectionError):
            self._write(bytes([ACK_BYTE]))
        self._apdus.put_nowait(apdu)

    async def send(self, apdu: Apdu) -> None:
        """Send one APDU as a block and wait for ACK; repeat on NAK or T2 up to ``retries`` times."""
        if self._closed:
            raise ZvtConnectionError("serial link closed")
        block = frame(apdu.encode())
        async with self._send_lock:
            for attempt in range(1 + self.retries):
                if attempt:
                    self.blocks_repeated += 1
                self._ack_waiter = asyncio.get_running_loop().create_future()
                self._write(block)
                try:
                    async with asyncio.timeout(self.t2):
                        answer = await self._ack_waiter
                except TimeoutError:
                    log.warning("T2 expired waiting for ACK (attempt %d)", attempt + 1)
                    continue
                finally:
                    self._ack_waiter = None
                if answer == ACK_BYTE:
                    return
                log.warning("NAK received (attempt %d)", attempt + 1)
        raise ZvtTransmissionError(f"block not acknowledged after {1 + self.retries} attempts")

    async def receive(self, limit: float | None, timer: str = "T3") -> Apdu:
        """Next correctly received APDU."""
        try:
            async with asyncio.timeout(limit):
                item = await self._apdus.get()
        except TimeoutError:
            raise ZvtTimeout(f"{timer} expired after {limit} s", timer) from None
        if item is None:
            self._apdus.put_nowait(None)  # stay closed for later callers
            raise ZvtConnectionError("serial line closed")
        return item


class SerialTransport:
    """ZVT over RS232 through pyserial (default 9600 8N2, no handshake)."""

    def __init__(
        self, port: str, baudrate: int = 9600, t1: float = T1, t2: float = T2, retries: int = RETRIES
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.t1, self.t2, self.retries = t1, t2, retries
        self._serial: object | None = None
        self.link: SerialLink | None = None

    @property
    def is_open(self) -> bool:
        """True while the port is open and the link running."""
        return self.link is not None and not self.link.closed

    async def open(self) -> None:
        """Open the port with pyserial and start the block layer."""
        if self.is_open:
            return
        import serial  # pyserial; imported here so the codec works without it

        try:
            port = serial.Serial(
                self.port,
                self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_TWO,
                timeout=0,
            )
        except (serial.SerialException, OSError) as err:
            raise ZvtConnectionError(f"cannot open {self.port}: {err}") from err
        self._serial = port
        self.link = SerialLink(port.fileno(), self.t1, self.t2, self.retries)
        self.link.start()

    async def close(self) -> None:
        """Stop the link and close the port."""
        if self.link is not None:
            await self.link.stop()
            self.link = None
        port, self._serial = self._serial, None
        if port is not None:
            port.close()  # type: ignore[attr-defined]

    async def send(self, apdu: Apdu) -> None:
        """Send one APDU as an acknowledged block."""
        if self.link is None:
            raise ZvtConnectionError("serial port not open")
        await self.link.send(apdu)

    async def receive(self, limit: float | None, timer: str = "T3") -> Apdu:
        """Next APDU from the terminal."""
        if self.link is None:
            raise ZvtConnectionError("serial port not open")
        return await self.link.receive(limit, timer)
