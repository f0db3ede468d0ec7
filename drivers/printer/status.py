"""Real-time status of ESC/POS receipt printers: DLE EOT queries and their one-byte replies.

Implements ``DLE EOT n`` (``10 04 n``, n = 1..4) as specified in the Epson ESC/POS command
reference (TM-T88III / TM-U220A technical references; Bixolon SRP-350 manual), summarised with
sources in the fact sheet peripherals.md §1.6. Pure codec: bytes in, dataclasses out.

Bit layout of the replies (bit 1 and bit 4 are always 1, bit 0 and bit 7 always 0):

====  ===========================  ==========================  ===========================
n     bit 2                        bit 3                        bit 5 / bit 6
====  ===========================  ==========================  ===========================
1     drawer connector pin 3 HIGH  offline                      - / FEED button pressed
2     cover open                   paper fed by FEED button     stopped by paper end / error
3     mechanical error             autocutter error             unrecoverable / auto-recov.
4     paper near end (bits 2+3)    (part of near end)           paper end (bits 5+6)
====  ===========================  ==========================  ===========================
"""

from __future__ import annotations

from dataclasses import dataclass

DLE = 0x10
EOT = 0x04

#: Every DLE EOT reply matches ``0xx1xx10`` (Citizen CBM1000 / Bematech MP-4000 manuals,
#: "Identification of send status"); this is how replies are told apart from ASB or XON/XOFF.
_REPLY_MASK = 0x93
_REPLY_VALUE = 0x12

PRINTER = 1
OFFLINE_CAUSE = 2
ERROR_CAUSE = 3
PAPER = 4
ALL_QUERIES: tuple[int, ...] = (PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER)


def status_query(n: int) -> bytes:
    """The ``DLE EOT n`` command asking for status class ``n`` (1..4)."""
    if n not in ALL_QUERIES:
        raise ValueError(f"DLE EOT status class must be 1..4, got {n}")
    return bytes((DLE, EOT, n))


def is_status_byte(value: int) -> bool:
    """Whether ``value`` has the fixed bits of a DLE EOT reply."""
    return 0 <= value <= 0xFF and (value & _REPLY_MASK) == _REPLY_VALUE


def extract_reply(data: bytes) -> int | None:
    """The status byte in a read buffer, or ``None`` when it holds no valid reply.

    The last matching byte wins: earlier ones are stale replies or ASB noise that arrived
    before the answer to the query just sent.
    """
    for value in reversed(data):
        if is_status_byte(value):
            return value
    return None


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """Decoded real-time status of one printer (one reply byte per DLE EOT class)."""

    online: bool
    drawer_pin3_high: bool
    cover_open: bool
    paper_near_end: bool
    paper_out: bool
    feed_button: bool
    stopped_by_paper_end: bool
    error: bool
    mechanical_error: bool
    autocutter_error: bool
    unrecoverable_error: bool
    auto_recoverable_error: bool
    raw: tuple[int, int, int, int]

    @classmethod
    def decode(cls, printer: int, offline: int, error: int, paper: int) -> PrinterStatus:
        """Decode the four reply bytes of DLE EOT 1, 2, 3 and 4 (in that order)."""
        for n, value in zip(ALL_QUERIES, (printer, offline, error, paper), strict=True):
            if not is_status_byte(value):
                raise ValueError(f"0x{value:02x} is not a DLE EOT {n} reply")
        return cls(
            online=not printer & 0x08,
            drawer_pin3_high=bool(printer & 0x04),
            feed_button=bool(printer & 0x40),
            cover_open=bool(offline & 0x04),
            stopped_by_paper_end=bool(offline & 0x20),
            error=bool(offline & 0x40),
            mechanical_error=bool(error & 0x04),
            autocutter_error=bool(error & 0x08),
            unrecoverable_error=bool(error & 0x20),
            auto_recoverable_error=bool(error & 0x40),
            # Either sensor bit counts: some models set only one of the pair.
            paper_near_end=bool(paper & 0x0C),
            paper_out=bool(paper & 0x60) or bool(offline & 0x20),
            raw=(printer, offline, error, paper),
        )

    @property
    def ready(self) -> bool:
        """True when a job sent now would be printed."""
        return self.online and not (
            self.paper_out or self.cover_open or self.error or self.unrecoverable_error
        )

    @property
    def problem(self) -> str | None:
        """A short reason why the printer is not ready, or ``None`` when it is."""
        if self.paper_out:
            return "paper out"
        if self.cover_open:
            return "cover open"
        if self.unrecoverable_error:
            return "unrecoverable error"
        if self.autocutter_error:
            return "autocutter error"
        if self.error or self.mechanical_error or self.auto_recoverable_error:
            return "printer error"
        if not self.online:
            return "offline"
        return None

    @property
    def state(self) -> str:
        """One word for dashboards: ``ok``, ``paper-low`` or the problem slug."""
        problem = self.problem
        if problem is not None:
            return problem.replace(" ", "-")
        return "paper-low" if self.paper_near_end else "ok"


def device_state(status: PrinterStatus | None, link_error: str = "") -> tuple[str, str]:
    """``(state, reason)`` for a device table: ``online``, ``offline`` or ``error``.

    ``status`` is the last reading (``None`` when the printer could not be read, then
    ``link_error`` is the reason). Paper near end stays ``online`` with the warning as reason.
    """
    if status is None:
        return "offline", link_error or "no status"
    problem = status.problem
    if problem is not None:
        return "error", problem
    return "online", "paper near end" if status.paper_near_end else ""


#: Reply bytes of a healthy idle printer with the drawer pin low (fact sheet §1.6).
HEALTHY_REPLIES: tuple[int, int, int, int] = (0x12, 0x12, 0x12, 0x12)
