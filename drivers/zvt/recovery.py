"""Reconciliation of a card payment interrupted by a crash or a broken link (pure decision logic).

Source: fact sheet ``reference/zvt.md`` section 3.3: a payment is final in the terminal once the
ECR acknowledged the Status-Information (and the receipts); otherwise the terminal reverses it by
itself. After an interruption the ECR asks the terminal for its last transaction (Repeat Receipt
06 20 with service byte 01) before allowing another payment for the same sale.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum

from drivers.zvt.results import PaymentResult


class Outcome(Enum):
    """What became of the interrupted payment."""

    PAID = "paid"  # the terminal booked it: adopt ``payment`` as the sale's payment result
    NOT_PAID = "not_paid"  # nothing new was booked: the sale may be paid again
    NEEDS_REVIEW = "needs_review"  # a new approved transaction with another amount: show a manager


@dataclass
class Reconciliation:
    """Decision plus the terminal's last transaction it was based on."""

    outcome: Outcome
    payment: PaymentResult | None
    reason: str


def reconcile_interrupted_payment(
    amount_cents: int, known_receipts: Collection[int], last: PaymentResult | None
) -> Reconciliation:
    """Decide from the terminal's last transaction whether the interrupted payment happened.

    ``known_receipts`` are receipt numbers already journaled by the ECR (all earlier terminal
    transactions it saw). A last transaction that is approved, unknown and of the intent's amount
    is the interrupted payment.
    """
    if last is None:
        return Reconciliation(Outcome.NOT_PAID, None, "the terminal reports no transaction")
    if not last.approved:
        return Reconciliation(Outcome.NOT_PAID, last, f"last transaction not approved ({last.result_code:02X})")
    if last.receipt_number is not None and last.receipt_number in known_receipts:
        return Reconciliation(Outcome.NOT_PAID, last, f"last transaction {last.receipt_number} is already known")
    if last.original_trace_number is not None:
        return Reconciliation(Outcome.NEEDS_REVIEW, last, "last transaction is an unknown reversal")
    if last.amount_cents != amount_cents:
        return Reconciliation(
            Outcome.NEEDS_REVIEW, last, f"unknown approved transaction of {last.amount_cents} cents, expected {amount_cents}"
        )
    return Reconciliation(Outcome.PAID, last, f"terminal booked receipt {last.receipt_number}")
