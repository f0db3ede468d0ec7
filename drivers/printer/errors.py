"""Exception hierarchy of the receipt printer driver (root: ``PrinterError``)."""

from __future__ import annotations


class PrinterError(Exception):
    """Root of every error raised by ``drivers.printer``."""


class PrinterConfigError(PrinterError, ValueError):
    """A printer setting (profile, code page, width, pin) is invalid."""


class PrinterOffline(PrinterError, ConnectionError):
    """The printer cannot be reached (not plugged in, connection refused or lost)."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"printer {target} offline: {reason}")
        self.target = target
        self.reason = reason


class PrinterTimeout(PrinterError, TimeoutError):
    """The printer did not answer a status query in time."""

    def __init__(self, target: str, seconds: float) -> None:
        super().__init__(f"printer {target} did not answer within {seconds:g} s")
        self.target = target
        self.seconds = seconds


class PrinterStatusError(PrinterError, ValueError):
    """The printer answered a status query with bytes that are not a DLE EOT reply."""

    def __init__(self, query: int, reply: bytes) -> None:
        super().__init__(f"malformed reply to DLE EOT {query}: {reply.hex(' ') or '<empty>'}")
        self.query = query
        self.reply = reply


class PrinterNotReady(PrinterError):
    """The printer is reachable but cannot print now (paper out, cover open, error)."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"printer {target} not ready: {reason}")
        self.target = target
        self.reason = reason


class PrintJobError(PrinterError):
    """A print job could not be accepted or looked up."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"print job {job_id}: {reason}")
        self.job_id = job_id
        self.reason = reason


class UnknownJob(PrintJobError, LookupError):
    """No job with this id exists."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, "unknown job id")
