"""HQ-side operations on the link's streams: read STORE_EVENTS, push messages to stores, report sales.

``report`` consolidates ``sale.finished`` events and the negative receipts ``sale.voided`` and
``sale.returned`` (payload ``totals.gross`` in signed cents, ``receipt_no``, ``lines`` with
``code``, ``qty_milli``, ``amount``) per business day, store and channel, and per product.
Training receipts are left out, as in the store's own reports. It de-duplicates on
``(store, ledger seq)`` itself, because the stream's duplicate window is finite (messaging fact
sheet §6.2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from gateway.ledger.journal import canonical_json
from gateway.mirror.schemas import validate
from gateway.mirror.subjects import H_MSG_ID, H_SEQ, H_STORE, HQ_TO_STORE, STORE_EVENTS, inbound_subject


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One journal entry as HQ holds it."""

    stream_seq: int
    subject: str
    store: str
    ledger_seq: int
    type: str
    ts: str
    payload: dict[str, Any]
    msg_id: str


def to_event(msg: Msg) -> StoredEvent:
    """Decode a STORE_EVENTS message (headers + canonical JSON body)."""
    h = dict(msg.headers or {})
    body = json.loads(msg.data)
    return StoredEvent(
        stream_seq=msg.metadata.sequence.stream,
        subject=msg.subject,
        store=h.get(H_STORE, msg.subject.split(".")[1]),
        ledger_seq=int(h.get(H_SEQ, body.get("seq", 0))),
        type=str(body.get("type", "")),
        ts=str(body.get("ts", "")),
        payload=body.get("payload") or {},
        msg_id=h.get(H_MSG_ID, ""),
    )


async def read_stream(
    js: JetStreamContext,
    subject: str = "store.*.evt.>",
    stream: str = STORE_EVENTS,
    start_seq: int | None = None,
    follow: bool = False,
    batch: int = 500,
    idle_timeout: float = 2.0,
) -> AsyncIterator[Msg]:
    """Messages of ``stream`` matching ``subject`` in stream order; stops at the end unless ``follow``."""
    cfg = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start_seq else DeliverPolicy.ALL,
        opt_start_seq=start_seq,
        inactive_threshold=60,
        filter_subject=subject,
    )
    psub = await js.pull_subscribe(subject, stream=stream, config=cfg)
    try:
        remaining = (await psub.consumer_info()).num_pending or 0
        while follow or remaining > 0:
            try:
                msgs = await psub.fetch(batch if follow else min(batch, remaining), timeout=idle_timeout)
            except nats.errors.TimeoutError:
                if follow:
                    continue
                return
            for m in msgs:
                remaining -= 1
                yield m
    finally:
        await psub.unsubscribe()


def load_messages(path: Path) -> list[dict[str, Any]]:
    """Messages of a push file: one JSON object, a JSON list, or one object per line; all validated."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
        items = doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [validate(m) for m in items]


async def push(js: JetStreamContext, messages: list[dict[str, Any]], target: str) -> list[tuple[str, int, bool]]:
    """Publish validated messages to ``target`` (``store:SID``, ``zone:Z``, ``all``); (subject, stream seq, duplicate) each.

    The de-duplication id is ``{target}:{id}`` (or a digest of target and content when the
    message has no ``id``), so pushing the same file twice inside the duplicate window stores it
    once, while the same message pushed to two targets reaches both.
    """
    out: list[tuple[str, int, bool]] = []
    for m in messages:
        subject = inbound_subject(target, m["type"])
        mid = f"{target}:{m['id']}" if m.get("id") else hashlib.sha256((target + canonical_json(m)).encode()).hexdigest()[:32]
        ack = await js.publish(subject, canonical_json(m).encode(), stream=HQ_TO_STORE, headers={H_MSG_ID: mid})
        out.append((subject, ack.seq, bool(ack.duplicate)))
    return out


SALE_TYPES = ("sale.finished", "sale.voided", "sale.returned")


@dataclass
class SalesReport:
    """Consolidated sales: per (day, store, channel) and per (day, store, product code)."""

    rows: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    products: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    events: int = 0
    duplicates: int = 0

    def add(self, ev: StoredEvent, tz: ZoneInfo) -> None:
        """Fold one receipt event in (``sale.finished``, ``sale.voided``, ``sale.returned``)."""
        p = ev.payload
        if ev.type not in SALE_TYPES or p.get("training"):
            return
        self.events += 1
        day = datetime.fromisoformat(ev.ts).astimezone(tz).date().isoformat() if ev.ts else "?"
        channel = str(p.get("channel") or "store")
        totals = p.get("totals") or {}
        gross = int(totals.get("gross", 0)) if isinstance(totals, dict) else 0
        row = self.rows.setdefault((day, ev.store, channel), {"sales": 0, "voids_returns": 0, "gross_cents": 0})
        row["sales" if ev.type == "sale.finished" else "voids_returns"] += 1
        row["gross_cents"] += gross
        for line in p.get("lines") or []:
            if isinstance(line, dict) and "code" in line and not line.get("voided"):
                prow = self.products.setdefault((day, ev.store, str(line["code"])), {"qty_milli": 0, "gross_cents": 0})
                prow["qty_milli"] += int(line.get("qty_milli", 0))
                prow["gross_cents"] += int(line.get("amount", 0))

    def table(self) -> list[dict[str, Any]]:
        """Rows sorted by day, store, channel."""
        return [
            {"day": d, "store": s, "channel": c, **v}
            for (d, s, c), v in sorted(self.rows.items())
        ]


async def sales_report(js: JetStreamContext, tz: str = "Europe/Berlin", stream: str = STORE_EVENTS) -> SalesReport:
    """Read every sale receipt of every store and total them."""
    report = SalesReport()
    seen: set[tuple[str, int]] = set()
    zone = ZoneInfo(tz)
    async for msg in read_stream(js, "store.*.evt.sale.*", stream):
        ev = to_event(msg)
        key = (ev.store, ev.ledger_seq)
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        report.add(ev, zone)
    return report


async def dead_letters(js: JetStreamContext, stream: str = STORE_EVENTS) -> list[dict[str, Any]]:
    """Every ``hq.rejected`` event the stores reported (HQ messages a store could not apply)."""
    out = []
    async for msg in read_stream(js, "store.*.evt.hq.rejected", stream):
        ev = to_event(msg)
        out.append(
            {
                "store": ev.store,
                "ts": ev.ts,
                "hq_stream_seq": ev.payload.get("hq_stream_seq"),
                "subject": ev.payload.get("hq_subject"),
                "type": ev.payload.get("msg_type"),
                "reason": ev.payload.get("reason"),
            }
        )
    return out


def format_event(ev: StoredEvent, width: int = 120) -> str:
    """One line for ``storegw hq tail``."""
    body = canonical_json(ev.payload)
    if len(body) > width:
        body = body[: width - 1] + "…"
    return f"{ev.stream_seq:>8} {ev.store:<10} {ev.ledger_seq:>8} {ev.ts} {ev.type:<22} {body}"
