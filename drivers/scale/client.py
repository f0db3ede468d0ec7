"""Async serial scale client: one command at a time over a :class:`SerialLine`, typed results.

Works with any :class:`~drivers.scale.codec.ScaleCodec` (MT-SICS, Toledo 8217, NCI). Reply
frames that are not a valid answer are logged and skipped while waiting; a lost port fails
the running command with :class:`ScaleOffline` and the port reconnects on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from drivers.scale.codec import Command, Result, ScaleCodec
from drivers.scale.errors import ScaleError, ScaleOffline, ScaleProtocolError, ScaleTimeout, ScaleUnsupported
from drivers.scale.model import WeightReading
from drivers.scale.mtsics import MtSicsCodec
from drivers.scale.toledo import NciCodec, Toledo8217Codec
from drivers.serialio import Garbage, PortOffline, SerialLine, SerialSettings

log = logging.getLogger(__name__)

_LOST = object()  # queued when the port goes offline so a waiting command fails at once


def make_codec(protocol: str) -> ScaleCodec:
    """Codec by config name: ``mtsics``, ``toledo8217`` (alias ``8217``) or ``nci``."""
    codecs: dict[str, Callable[[], ScaleCodec]] = {
        "mtsics": MtSicsCodec,
        "toledo8217": Toledo8217Codec,
        "8217": Toledo8217Codec,
        "nci": NciCodec,
    }
    try:
        return codecs[protocol]()
    except KeyError:
        raise ValueError(f"unknown scale protocol {protocol!r} (mtsics, toledo8217, nci)") from None


class SerialScale:
    """A scale on a serial port.

    ``on_state(online, reason)`` reports port transitions; ``on_error(exc)`` gets every
    malformed frame (also logged). ``settle`` is the pause after a command without reply.
    """

    def __init__(
        self,
        port: str,
        protocol: str | ScaleCodec = "mtsics",
        *,
        settings: SerialSettings | None = None,
        timeout: float = 2.0,
        settle: float = 0.2,
        on_state: Callable[[bool, str], None] | None = None,
        on_error: Callable[[ScaleError], None] | None = None,
    ) -> None:
        self.codec = make_codec(protocol) if isinstance(protocol, str) else protocol
        self.timeout = timeout
        self.settle = settle
        self.on_state = on_state
        self.on_error = on_error
        self.errors = 0
        self._framer = self.codec.framer()
        self._frames: asyncio.Queue[bytes | object] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self.line = SerialLine(
            port, settings or self.codec.default_settings, on_data=self._on_data, on_state=self._on_state
        )

    @property
    def online(self) -> bool:
        """True while the port is open."""
        return self.line.online

    async def start(self) -> None:
        """Open the port (and keep reopening it); returns at once."""
        await self.line.start()

    async def close(self) -> None:
        """Close the port for good."""
        await self.line.close()

    async def read_weight(self, immediate: bool = False) -> WeightReading:
        """Read the weight; ``immediate`` also returns a moving weight (MT-SICS ``SI``)."""
        result = await self.command(Command.WEIGHT_NOW if immediate else Command.WEIGHT)
        assert isinstance(result, WeightReading)
        return result

    async def zero(self) -> None:
        """Set zero (the scale refuses while moving or out of the zero range)."""
        await self.command(Command.ZERO)

    async def tare(self) -> WeightReading | None:
        """Tare the current load; MT-SICS returns the tare weight, 8217 returns nothing."""
        result = await self.command(Command.TARE)
        return result if isinstance(result, WeightReading) else None

    async def clear_tare(self) -> None:
        """Clear the tare."""
        await self.command(Command.CLEAR_TARE)

    async def status(self) -> WeightReading:
        """Status without forcing a weight (NCI ``S``)."""
        result = await self.command(Command.STATUS)
        assert isinstance(result, WeightReading)
        return result

    async def serial_number(self) -> str:
        """The scale's serial number (MT-SICS ``I4``)."""
        return str(await self.command(Command.SERIAL))

    async def reset(self) -> str:
        """Reset the scale (MT-SICS ``@``, answers with the serial number)."""
        return str(await self.command(Command.RESET))

    async def preset_tare(self, grams: int) -> WeightReading:
        """Set a known tare in grams (MT-SICS ``TA <g> g``); other protocols raise ``ScaleUnsupported``."""
        if not isinstance(self.codec, MtSicsCodec):
            raise ScaleUnsupported(f"{self.codec.name} has no tare preset command")
        result = await self._exchange(Command.TARE_QUERY, self.codec.encode_tare_preset(grams))
        assert isinstance(result, WeightReading)
        return result

    async def command(self, command: Command) -> Result:
        """Send ``command`` and return its decoded reply; commands are serialised."""
        return await self._exchange(command, self.codec.encode(command))

    async def _exchange(self, command: Command, request: bytes) -> Result:
        async with self._lock:
            self._drop_stale()
            try:
                self.line.write(request)
            except PortOffline as exc:
                raise ScaleOffline(str(exc)) from exc
            if not self.codec.expects_reply(command):
                await asyncio.sleep(self.settle)
                return None
            return await self._await_reply(command)

    def _drop_stale(self) -> None:
        # Anything received before the request cannot be its reply: unsolicited frames, late
        # replies to a timed-out command, or a partial line left by noise.
        while not self._frames.empty():
            frame = self._frames.get_nowait()
            if isinstance(frame, bytes):
                self._report(ScaleProtocolError("unsolicited frame dropped", frame))
        if self._framer.pending:
            self._report(ScaleProtocolError("partial frame dropped", self._framer.pending))
        self._framer.reset()

    async def _await_reply(self, command: Command) -> Result:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    frame = await self._frames.get()
            except TimeoutError:
                raise ScaleTimeout(command.value, self.timeout) from None
            if frame is _LOST:
                raise ScaleOffline(f"{self.line.path}: connection lost during {command.value}")
            assert isinstance(frame, bytes)
            try:
                return self.codec.decode(command, frame)
            except ScaleProtocolError as exc:
                self._report(exc)

    def _on_data(self, data: bytes) -> None:
        for item in self._framer.feed(data):
            if isinstance(item, Garbage):
                self._report(ScaleProtocolError(item.reason, item.data))
            else:
                self._frames.put_nowait(item)

    def _on_state(self, online: bool, reason: str) -> None:
        self._framer.reset()
        if not online:
            self._frames.put_nowait(_LOST)
        if self.on_state is not None:
            self.on_state(online, reason)

    def _report(self, exc: ScaleError) -> None:
        self.errors += 1
        log.warning("%s: %s", self.line.path, exc)
        if self.on_error is not None:
            self.on_error(exc)
