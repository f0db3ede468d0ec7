"""Subject names and headers of the HQ link, shared by the store side and the HQ tools.

Mapping of a journal entry to a subject: ``store.{sid}.evt.{aggregate}.{type}`` where
``{aggregate}`` is the part of the entry's ``type`` before the first dot and ``{type}`` is the
rest, e.g. ``sale.finished`` -> ``store.s1.evt.sale.finished``, ``cash.deposit`` ->
``store.s1.evt.cash.deposit``; every further dot adds a subject token, and a type without a
dot (``opened``) maps to ``store.s1.evt.opened``. Characters NATS treats specially (space, ``*``, ``>``)
are replaced by ``_`` so a subject is always valid. The full type stays in the ``Event-Type``
header and the entry's aggregate id (``sale:17``) in ``Aggregate``.
"""

from __future__ import annotations

import re

from gateway.ledger.journal import JournalEntry, canonical_json

STORE_EVENTS = "STORE_EVENTS"
HQ_TO_STORE = "HQ_TO_STORE"
STORE_EVENTS_SUBJECTS = ["store.*.evt.>"]
HQ_TO_STORE_SUBJECTS = ["hq.>"]

# Header names (messaging fact sheet §6.2).
H_MSG_ID = "Nats-Msg-Id"
H_STORE = "Store-Id"
H_SEQ = "Ledger-Seq"
H_TYPE = "Event-Type"
H_TIME = "Occurred-At"
H_AGGREGATE = "Aggregate"
H_HASH = "Ledger-Hash"

_BAD = re.compile(r"[\s*>]")


def _token(s: str) -> str:
    return _BAD.sub("_", s) or "_"


def event_subject(store_id: str, type_: str) -> str:
    """Subject of a journal entry of ``type_`` published by ``store_id``."""
    parts = [_token(p) for p in type_.split(".")]
    return f"store.{_token(store_id)}.evt." + ".".join(parts)


def msg_id(store_id: str, seq: int) -> str:
    """The de-duplication id of journal entry ``seq`` of ``store_id``."""
    return f"{store_id}:{seq}"


def event_headers(store_id: str, entry: JournalEntry) -> dict[str, str]:
    """Headers of the published entry."""
    return {
        H_MSG_ID: msg_id(store_id, entry.seq),
        H_STORE: store_id,
        H_SEQ: str(entry.seq),
        H_TYPE: entry.type,
        H_TIME: entry.ts,
        H_AGGREGATE: entry.aggregate,
        H_HASH: entry.hash,
    }


def event_body(entry: JournalEntry) -> bytes:
    """The published payload: the entry as canonical JSON (what HQ can re-hash)."""
    return canonical_json(entry.to_dict() | {"prev_hash": entry.prev_hash}).encode("utf-8")


def inbound_filters(store_id: str, zone: str) -> list[str]:
    """Filter subjects of a store's durable consumer on ``HQ_TO_STORE``."""
    return [f"hq.store.{store_id}.>", f"hq.zone.{zone}.>", "hq.all.>"]


def inbound_subject(target: str, type_: str) -> str:
    """Subject for an HQ message; ``target`` is ``store:SID``, ``zone:Z`` or ``all``."""
    if target == "all":
        return f"hq.all.{_token(type_)}"
    kind, _, name = target.partition(":")
    if kind not in ("store", "zone") or not name:
        raise ValueError(f"target must be store:SID, zone:ZONE or all, not {target!r}")
    return f"hq.{kind}.{_token(name)}.{_token(type_)}"


def default_consumer(store_id: str) -> str:
    """Durable consumer name of a store."""
    return f"store-{store_id}"

