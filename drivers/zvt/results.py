"""Plain result dataclasses of ZVT conversations (payments, admin runs, terminal state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.zvt.messages import StatusInformation, Totals


@dataclass
class PaymentResult:
    """Outcome of a payment-type command (authorization, reversal, refund, pre-auth, repeat receipt).

    ``approved`` is true only when the terminal reported result 00 in its Status-Information and
    ended with Completion. ``complete`` is false for a partial result attached to a timeout or
    connection error (see ``docs/zvt.md``, recovery). Money is integer cents.
    """

    approved: bool
    result_code: int
    result_text: str
    amount_cents: int | None = None
    currency_code: int | None = None
    receipt_number: int | None = None
    trace_number: int | None = None
    original_trace_number: int | None = None
    terminal_id: str | None = None
    card_name: str | None = None
    card_type: int | None = None
    masked_pan: str | None = None
    aid: str | None = None
    date: str | None = None
    time: str | None = None
    receipt_lines: list[str] = field(default_factory=list)
    receipts: list[list[str]] = field(default_factory=list)
    status_information_hex: str | None = None
    complete: bool = True
    status_acknowledged: bool = False


@dataclass
class AdminResult:
    """Outcome of an administration command (end-of-day, diagnosis)."""

    approved: bool
    result_code: int
    result_text: str
    receipt_lines: list[str] = field(default_factory=list)
    status: StatusInformation | None = None


@dataclass
class EndOfDayResult(AdminResult):
    """End-of-day: the grand total in cents and the per-scheme totals when the terminal sent them."""

    total_cents: int | None = None
    totals: Totals | None = None


@dataclass
class RegistrationResult:
    """What the terminal reported in the Completion of a registration."""

    terminal_id: str | None
    currency_code: int | None
    status_byte: int | None


@dataclass
class TerminalStatus:
    """Status enquiry (05 01) result."""

    code: int | None
    text: str
    sw_version: str | None

    @property
    def ready(self) -> bool:
        """True when the terminal reports status 00."""
        return self.code == 0
