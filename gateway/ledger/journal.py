"""Journal rows, their canonical hashing and the hash-chain verification.

Each row's hash is SHA-256 over ``prev_hash`` and the canonical JSON of
``[seq, ts, type, aggregate, payload]``; the first row chains to 64 zeros. Altering, removing or
inserting any row breaks the chain at that row (or a gap in ``seq`` shows the removal), so
:func:`verify_rows` names the first bad ``seq``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, seq: int, ts: str, type_: str, aggregate: str, payload_json: str) -> str:
    """The chain hash of one row."""
    body = canonical_json([seq, ts, type_, aggregate, payload_json])
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One committed journal row."""

    seq: int
    ts: str
    type: str
    aggregate: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form used by the API, MQTT and the HQ mirror."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "type": self.type,
            "aggregate": self.aggregate,
            "payload": self.payload,
            "hash": self.hash,
        }

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> JournalEntry:
        """Build from ``(seq, ts, type, aggregate, payload, prev_hash, hash)``."""
        seq, ts, type_, aggregate, payload, prev_hash, h = row
        return cls(seq, ts, type_, aggregate, json.loads(payload), prev_hash, h)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of a hash-chain verification."""

    ok: bool
    checked: int
    last_seq: int
    first_bad_seq: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "last_seq": self.last_seq,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def verify_rows(rows: Iterable[tuple[Any, ...]]) -> VerifyResult:
    """Check contiguity from 1 and the hash chain over raw rows in ``seq`` order."""
    prev = GENESIS_HASH
    expected = 1
    checked = 0
    for seq, ts, type_, aggregate, payload, prev_hash, h in rows:
        if seq != expected:
            bad = min(seq, expected)
            return VerifyResult(False, checked, seq, bad, f"sequence gap: expected {expected}, found {seq}")
        if prev_hash != prev:
            return VerifyResult(False, checked, seq, seq, "prev_hash does not match the previous row's hash")
        if entry_hash(prev_hash, seq, ts, type_, aggregate, payload) != h:
            return VerifyResult(False, checked, seq, seq, "hash does not match the row's content")
        prev = h
        expected += 1
        checked += 1
    return VerifyResult(True, checked, expected - 1)
