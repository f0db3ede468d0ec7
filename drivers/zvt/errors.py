"""The exception tree of the ZVT driver; every error raised by ``drivers.zvt`` derives from ``ZvtError``."""

from __future__ import annotations


class ZvtError(Exception):
    """Root of every error the ZVT card-terminal driver raises."""


class ZvtDecodeError(ZvtError, ValueError):
    """Bytes from the wire (or a hex string) do not form a valid APDU, BMP field or TLV object.

    ``offset`` is the position in the decoded buffer where the problem was found, if known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (at byte {offset})")
        self.offset = offset


class ZvtEncodeError(ZvtError, ValueError):
    """A value cannot be encoded (out of range, too long, wrong digits)."""


class ZvtFramingError(ZvtDecodeError):
    """An RS232 block is malformed: bad DLE sequence, truncated, or CRC mismatch."""


class ZvtTimeout(ZvtError, TimeoutError):
    """A protocol timer (T1-T4) expired. ``timer`` names it; ``partial`` holds what was received."""

    def __init__(self, message: str, timer: str, partial: object | None = None) -> None:
        super().__init__(message)
        self.timer = timer
        self.partial = partial


class ZvtConnectionError(ZvtError, ConnectionError):
    """The link to the terminal is down or broke; ``partial`` holds what was received before."""

    def __init__(self, message: str, partial: object | None = None) -> None:
        super().__init__(message)
        self.partial = partial


class ZvtTransmissionError(ZvtConnectionError):
    """An RS232 block was not acknowledged after all retries (NAK or T2 each time)."""


class ZvtBusy(ZvtError, RuntimeError):
    """A command was started while the terminal holds the master rights for another one."""


class ZvtCommandRefused(ZvtError):
    """The terminal answered a command with ``84 xx`` (negative); ``result_code`` is ``xx``."""

    def __init__(self, result_code: int, text: str) -> None:
        super().__init__(f"terminal refused the command: {result_code:02X} {text}")
        self.result_code = result_code
        self.text = text
