"""Transaction journal of the ZVT terminal simulator: receipt/trace numbering, states, JSON persistence.

The simulator keeps every transaction by receipt number so that reversal by receipt number and
repeat receipt work after an ECR crash; with a file path the journal survives a simulator restart.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from drivers.zvt.messages import SCHEMES, SchemeTotal, Totals

BOOKED, REVERSED, AUTO_REVERSED, RESERVED = "booked", "reversed", "auto_reversed", "reserved"

# Card type (BMP 8A) -> index in the BMP 60 totals (girocard, JCB, Mastercard, Amex, Visa, Diners).
_SCHEME_INDEX = {0x05: 0, 0x0E: 1, 0x06: 2, 0x08: 3, 0x0A: 4, 0x0C: 5}


@dataclass
class Entry:
    """One terminal transaction."""

    receipt_number: int
    trace_number: int
    kind: str  # payment | refund | reversal | preauth
    amount_cents: int
    currency: int
    state: str
    card_type: int
    card_name: str
    masked_pan: str
    date: str  # MMDD
    time: str  # HHMMSS
    original_trace: int | None = None
    reversal_of: int | None = None
    batch_closed: bool = False


@dataclass
class Journal:
    """All transactions, the numbering counters and the last booked receipt."""

    path: Path | None = None
    entries: dict[int, Entry] = field(default_factory=dict)
    next_receipt: int = 1
    next_trace: int = 1
    last_receipt: int | None = None

    @classmethod
    def load(cls, path: str | Path | None) -> Journal:
        """Open the journal at ``path`` (created on first save); in memory when None."""
        journal = cls(Path(path) if path else None)
        if journal.path is not None and journal.path.exists():
            doc = json.loads(journal.path.read_text())
            journal.entries = {int(k): Entry(**v) for k, v in doc["entries"].items()}
            journal.next_receipt = doc["next_receipt"]
            journal.next_trace = doc["next_trace"]
            journal.last_receipt = doc.get("last_receipt")
        return journal

    def save(self) -> None:
        """Write the journal atomically (no-op in memory)."""
        if self.path is None:
            return
        doc = {
            "entries": {str(k): asdict(v) for k, v in self.entries.items()},
            "next_receipt": self.next_receipt,
            "next_trace": self.next_trace,
            "last_receipt": self.last_receipt,
        }
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self.path)

    def new_entry(self, kind: str, amount_cents: int, currency: int, card: tuple[int, str, str]) -> Entry:
        """Allocate receipt and trace numbers for a new transaction (not yet booked)."""
        now = time.localtime()
        entry = Entry(
            receipt_number=self.next_receipt,
            trace_number=self.next_trace,
            kind=kind,
            amount_cents=amount_cents,
            currency=currency,
            state=AUTO_REVERSED,
            card_type=card[0],
            card_name=card[1],
            masked_pan=card[2],
            date=time.strftime("%m%d", now),
            time=time.strftime("%H%M%S", now),
        )
        self.next_receipt = self.next_receipt % 9999 + 1
        self.next_trace = self.next_trace % 999999 + 1
        self.entries[entry.receipt_number] = entry
        return entry

    def commit(self, entry: Entry, state: str = BOOKED) -> None:
        """The ECR acknowledged the Status-Information: the transaction is final."""
        entry.state = state
        self.last_receipt = entry.receipt_number
        self.save()

    def totals(self) -> tuple[int, Totals]:
        """Grand total and BMP 60 totals of the open batch (payments minus nothing reversed)."""
        open_entries = [e for e in self.entries.values() if not e.batch_closed]
        booked = [e for e in open_entries if e.kind == "payment" and e.state == BOOKED]
        sums = [[0, 0] for _ in SCHEMES]
        for e in booked:
            slot = sums[_SCHEME_INDEX.get(e.card_type, len(SCHEMES) - 1)]
            slot[0] += 1
            slot[1] += e.amount_cents
        receipts = [e.receipt_number for e in open_entries] or [0]
        schemes = [SchemeTotal(name, count, total) for name, (count, total) in zip(SCHEMES, sums, strict=True)]
        return sum(e.amount_cents for e in booked), Totals(min(receipts), max(receipts), schemes)

    def close_batch(self) -> None:
        """End-of-day done: no reversal of these transactions any more."""
        for entry in self.entries.values():
            entry.batch_closed = True
        self.save()

    def last_booked(self) -> Entry | None:
        """The transaction the terminal would repeat the receipt of."""
        return self.entries.get(self.last_receipt) if self.last_receipt is not None else None
