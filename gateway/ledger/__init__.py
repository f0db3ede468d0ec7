"""The store's local SQLite ledger: an append-only, hash-chained journal plus rebuildable projections."""

from gateway.ledger.journal import GENESIS_HASH, JournalEntry, VerifyResult, canonical_json, entry_hash
from gateway.ledger.store import Ledger, Projection, Txn

__all__ = [
    "GENESIS_HASH",
    "JournalEntry",
    "Ledger",
    "Projection",
    "Txn",
    "VerifyResult",
    "canonical_json",
    "entry_hash",
]
