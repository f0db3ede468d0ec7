"""The contract every scale protocol codec fulfils, and the commands a POS sends to a scale.

A codec is pure: it turns a :class:`Command` into request bytes, provides the framer for the
reply stream, and turns one reply frame into a result or a typed exception. The async client
(:mod:`drivers.scale.client`) and the simulator share it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from drivers.scale.model import WeightReading
from drivers.serialio import Framer, SerialSettings


class Command(StrEnum):
    """Commands of the scale API (not every protocol has all of them)."""

    WEIGHT = "weight"  # stable weight (waits for stability on the scale)
    WEIGHT_NOW = "weight_now"  # current weight, stable or moving
    ZERO = "zero"
    ZERO_NOW = "zero_now"
    TARE = "tare"
    TARE_NOW = "tare_now"
    TARE_QUERY = "tare_query"
    CLEAR_TARE = "clear_tare"
    STATUS = "status"
    RESET = "reset"
    SERIAL = "serial"


Result = WeightReading | str | None


class ScaleCodec(Protocol):
    """What the client needs from a protocol."""

    name: str
    default_settings: SerialSettings

    def framer(self) -> Framer:
        """A fresh framer for the reply stream."""
        ...

    def encode(self, command: Command) -> bytes:
        """Request bytes; raise ``ScaleUnsupported`` when the protocol lacks the command."""
        ...

    def expects_reply(self, command: Command) -> bool:
        """False for commands the scale executes silently."""
        ...

    def decode(self, command: Command, frame: bytes) -> Result:
        """Interpret one reply frame to ``command``.

        Raises ``ScaleProtocolError`` for a frame that is not a valid reply to ``command``
        (the client logs it and keeps waiting) and other ``ScaleError`` subclasses for
        replies that answer the command with an error.
        """
        ...
