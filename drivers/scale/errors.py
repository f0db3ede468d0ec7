"""Exception types of the scale drivers: one root, subclasses carry data and match builtins."""

from __future__ import annotations


class ScaleError(Exception):
    """Root of every error raised by :mod:`drivers.scale`."""


class ScaleTimeout(ScaleError, TimeoutError):
    """No valid reply within the command timeout."""

    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"no reply to {command} within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class ScaleOffline(ScaleError, ConnectionError):
    """The scale's port is not open (unplugged, absent) or was lost during the command."""


class ScaleProtocolError(ScaleError, ValueError):
    """Bytes from the scale that do not form a valid reply; ``data`` holds them."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(f"{message}: {data!r}" if data else message)
        self.data = data


class ScaleCommandError(ScaleError):
    """The scale rejected the command (MT-SICS ``ES``/``ET``/``EL``, ``L``; NCI ``?``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class ScaleBusy(ScaleError):
    """The command cannot be executed now (no stable weight in time, scale busy)."""


class ScaleRangeError(ScaleError, ValueError):
    """Zero or tare refused because the weight is outside the allowed range (``+``/``-``)."""

    def __init__(self, command: str, direction: str) -> None:
        super().__init__(f"{command}: weight {'above' if direction == '+' else 'below'} the permitted range")
        self.command = command
        self.direction = direction


class ScaleDeviceError(ScaleError):
    """The scale reports a hardware fault (RAM, ROM, EEPROM, calibration, zero range)."""

    def __init__(self, faults: tuple[str, ...]) -> None:
        super().__init__("scale fault: " + ", ".join(faults))
        self.faults = faults


class ScaleUnsupported(ScaleError, NotImplementedError):
    """The protocol has no such command (for example tare on an NCI scale)."""
