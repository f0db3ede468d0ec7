"""Inbound HQ messages against a real nats-server: filters, order, redelivery no-op, dead letters, KV config, prices."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig

from gateway.hq.tools import push
from gateway.ledger import Txn
from gateway.mirror import InboundHandlers, InboundMessage, Inbox
from gateway.mirror.prices import PriceSchedule
from tests.gateway.mirror.conftest import Store, provision_hq, wait_until
from tests.gateway.mirror.harness import NatsServer, client

PRICE = {"type": "price_list", "version": 1, "mode": "delta", "items": [{"code": "4001", "price": 199}]}
PRODUCT = {"type": "product", "version": 1, "products": [{"code": "4002", "name": "Milk", "vat_id": 2, "price": 129}]}
ORDER = {
    "type": "order",
    "version": 1,
    "order_id": "web-1",
    "lines": [{"code": "4001", "qty": 2, "price": 199}],
    "total": 398,
    "paid": True,
}


def journal(store: Store, prefix: str = "hq.") -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of the journal entries whose type starts with ``prefix``."""
    return [(e.type, e.payload) for e in store.ledger.entries_since(0, 10_000) if e.type.startswith(prefix)]


async def test_store_zone_and_all_messages_applied_in_stream_order(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    seen: list[str] = []
    handlers = InboundHandlers()

    def on_order(txn: Txn, msg: dict[str, Any]) -> None:
        txn.execute("CREATE TABLE IF NOT EXISTS t_orders (id TEXT PRIMARY KEY, total INTEGER)")
        txn.execute("INSERT INTO t_orders VALUES (?, ?)", (msg["order_id"], msg["total"]))
        seen.append(msg["order_id"])

    handlers.register("order", on_order)
    store = Store(tmp_path / "l.db", nats_server.url, handlers)
    nc = await client(nats_server.url)
    try:
        js = nc.jetstream()
        await push(js, [PRICE], "store:s1")
        await push(js, [PRODUCT], "zone:z1")
        await push(js, [{**PRICE, "list_id": "other-zone"}], "zone:z2")  # not for this store
        await push(js, [{**PRICE, "list_id": "other-store"}], "store:s2")  # not for this store
        await push(js, [ORDER, {**ORDER, "order_id": "web-2"}], "all")
        await store.link.start()
        await wait_until(lambda: store.link.inbox.applied == 4, 10)
        await asyncio.sleep(0.3)
        assert store.link.inbox.applied == 4
        entries = journal(store)
        assert [t for t, _ in entries] == ["hq.price_list", "hq.product", "hq.order", "hq.order"]
        assert [p["hq_stream_seq"] for _, p in entries] == [1, 2, 5, 6]
        assert entries[2][1]["hq_subject"] == "hq.all.order"
        assert seen == ["web-1", "web-2"]
        assert store.ledger.query("SELECT id, total FROM t_orders ORDER BY id") == [("web-1", 398), ("web-2", 398)]
        orders = [e for e in store.ledger.entries_since(0, 100) if e.type == "hq.order"]
        assert orders[0].aggregate == "order:web-1"
        # The applied messages travel back to HQ as store events (HQ's receipt).
        relay = store.link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked == store.ledger.last_seq, 10)
        ci = await js.consumer_info("HQ_TO_STORE", "store-s1")
        assert ci.num_pending == 0 and ci.num_ack_pending == 0
    finally:
        await nc.close()
        await store.close()


async def test_redelivered_message_changes_nothing(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    store = Store(tmp_path / "l.db", nats_server.url)  # link not started: the test drives the inbox
    inbox = Inbox(store.ledger, bus=store.bus)
    nc = await client(nats_server.url)
    try:
        js = nc.jetstream()
        await push(js, [ORDER], "store:s1")
        cfg = ConsumerConfig(durable_name="t", filter_subjects=["hq.store.s1.>"], ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
        await js.add_consumer("HQ_TO_STORE", cfg)
        psub = await js.pull_subscribe_bind("t", "HQ_TO_STORE")
        (m1,) = await psub.fetch(1, timeout=5)
        r1 = await inbox.apply(InboundMessage(m1.metadata.sequence.stream, m1.subject, m1.data, m1.metadata.num_delivered))
        assert r1.outcome == "applied"
        last = store.ledger.last_seq
        await m1.nak()  # as if the ack was lost: the server delivers it again
        (m2,) = await psub.fetch(1, timeout=5)
        assert m2.metadata.num_delivered == 2 and m2.metadata.sequence.stream == m1.metadata.sequence.stream
        r2 = await inbox.apply(InboundMessage(m2.metadata.sequence.stream, m2.subject, m2.data, m2.metadata.num_delivered))
        assert r2.outcome == "duplicate"
        assert store.ledger.last_seq == last
        assert store.ledger.query_one("SELECT COUNT(*) FROM hq_inbox") == 1
        await m2.ack()
    finally:
        await nc.close()
        await store.close()


async def test_bad_messages_become_dead_letters_and_never_block(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    handlers = InboundHandlers()

    def fragile(txn: Txn, msg: dict[str, Any]) -> None:
        txn.execute("CREATE TABLE IF NOT EXISTS t_prices (code TEXT PRIMARY KEY, price INTEGER)")
        for it in msg["items"]:
            txn.execute("INSERT OR REPLACE INTO t_prices VALUES (?, ?)", (it["code"], it["price"]))
            if it["code"] == "BOOM":
                raise RuntimeError("catalog refused BOOM")

    handlers.register("price_list", fragile)
    store = Store(tmp_path / "l.db", nats_server.url, handlers)
    alerts = store.bus.subscribe("hq.dead_letter")
    nc = await client(nats_server.url)
    try:
        js = nc.jetstream()
        await js.publish("hq.store.s1.price_list", b"{not json")
        await js.publish("hq.store.s1.x", json.dumps({"type": "teleport", "version": 1}).encode())
        bad_price = {**PRICE, "items": [{"code": "4001", "price": -5}]}
        await js.publish("hq.store.s1.price_list", json.dumps(bad_price).encode())
        boom = {**PRICE, "items": [{"code": "OK1", "price": 1}, {"code": "BOOM", "price": 2}]}
        await js.publish("hq.store.s1.price_list", json.dumps(boom).encode())
        await js.publish("hq.store.s1.price_list", json.dumps(PRICE).encode())
        await store.link.start()
        await wait_until(lambda: store.link.inbox.applied == 1 and store.link.inbox.dead == 4, 10)
        dead = store.link.inbox.dead_letters()
        assert [d["stream_seq"] for d in dead] == [4, 3, 2, 1]
        reasons = {d["stream_seq"]: d["reason"] for d in dead}
        assert "not valid JSON" in reasons[1]
        assert "unknown message type 'teleport'" in reasons[2]
        assert reasons[3].startswith("items[0].price: -5 is below 0")
        assert "RuntimeError: catalog refused BOOM" in reasons[4]
        # The handler's partial write for the failed message was rolled back with it.
        assert store.ledger.query("SELECT code, price FROM t_prices") == [("4001", 199)]
        assert [t for t, _ in journal(store)] == ["hq.rejected"] * 4 + ["hq.price_list"]
        got = [ (await asyncio.wait_for(alerts.get(), 2)).data["stream_seq"] for _ in range(4)]
        assert got == [1, 2, 3, 4]
        assert store.link.status()["dead_letters"] == 4
        ci = await js.consumer_info("HQ_TO_STORE", "store-s1")
        assert ci.num_pending == 0 and ci.num_ack_pending == 0
    finally:
        alerts.close()
        await nc.close()
        await store.close()


async def test_store_config_from_kv_is_watched(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    store = Store(tmp_path / "l.db", nats_server.url)
    events = store.bus.subscribe("hq.config")
    nc = await client(nats_server.url)
    try:
        kv = await nc.jetstream().key_value("store_config")
        await kv.put("s1.settings", json.dumps({"receipt_footer": "Danke"}).encode())
        await kv.put("s2.settings", b'{"receipt_footer": "not mine"}')
        await store.link.start()
        await wait_until(lambda: store.link.settings.get("settings") == {"receipt_footer": "Danke"}, 10)
        await kv.put("s1.opening_hours", b"08-20")
        await wait_until(lambda: store.link.settings.get("opening_hours") == "08-20", 10)
        await kv.delete("s1.opening_hours")
        await wait_until(lambda: "opening_hours" not in store.link.settings, 10)
        assert set(store.link.settings) == {"settings"}
        ev = await asyncio.wait_for(events.get(), 2)
        assert ev.data["settings"] == {"settings": {"receipt_footer": "Danke"}}
    finally:
        events.close()
        await nc.close()
        await store.close()


class Clock:
    """A settable UTC clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_price_list_takes_effect_at_its_effective_time(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    handlers = InboundHandlers()
    clock = Clock()

    # The catalog's products table, as gateway.pos.catalog creates it (code, price, vat_id, updated).
    def with_catalog(s: Store) -> PriceSchedule:
        s.ledger.add_migrations("t_catalog", ["CREATE TABLE products (code TEXT PRIMARY KEY, name TEXT, vat_id INTEGER, price INTEGER, updated TEXT)"])
        sched = PriceSchedule(s.ledger, clock=clock)
        sched.register(handlers)
        return sched

    store = Store(tmp_path / "l.db", nats_server.url, handlers, before_open=with_catalog)
    sched: PriceSchedule = store.extra
    await store.ledger.write(lambda txn: txn.execute("INSERT INTO products VALUES ('4001', 'Bread', 1, 249, '')"))
    nc = await client(nats_server.url)
    try:
        await sched.start()
        await store.link.start()
        later = clock.now + timedelta(hours=2)
        await push(nc.jetstream(), [{**PRICE, "list_id": "spring", "effective_at": later.isoformat(), "items": [{"code": "4001", "price": 199}]}], "store:s1")
        await wait_until(lambda: store.link.inbox.applied == 1, 10)
        assert store.ledger.query_one("SELECT price FROM products WHERE code='4001'") == 249
        assert sched.next_due() == later
        clock.now = later + timedelta(seconds=1)
        sched._wake.set()
        await wait_until(lambda: store.ledger.query_one("SELECT price FROM products WHERE code='4001'") == 199, 5)
        applied = [p for t, p in journal(store, "catalog.")]
        assert applied == [{"count": 1, "scheduled": 1, "codes": ["4001"], "lists": ["spring"], "at": applied[0]["at"]}]
        # A list effective earlier than the one already applied does not undo it.
        older = {**PRICE, "list_id": "late", "effective_at": (later - timedelta(hours=1)).isoformat(), "items": [{"code": "4001", "price": 999}]}
        await push(nc.jetstream(), [older], "store:s1")
        await wait_until(lambda: store.link.inbox.applied == 2, 10)
        assert store.ledger.query_one("SELECT price FROM products WHERE code='4001'") == 199
        assert store.ledger.query_one("SELECT outcome FROM hq_price_schedule WHERE list_id='late'") == "superseded"
    finally:
        await sched.stop()
        await nc.close()
        await store.close()


async def test_zone_change_updates_the_consumer_filters(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url, stores=[("s1", "old-zone")])
    store = Store(tmp_path / "l.db", nats_server.url)  # the store's config says zone z1
    nc = await client(nats_server.url)
    try:
        js = nc.jetstream()
        await push(js, [{**PRICE, "list_id": "old"}], "zone:old-zone")
        await push(js, [{**PRICE, "list_id": "new"}], "zone:z1")
        await store.link.start()
        await wait_until(lambda: store.link.inbox.applied == 1, 10)
        ci = await js.consumer_info("HQ_TO_STORE", "store-s1")
        assert ci.config.filter_subjects == ["hq.store.s1.>", "hq.zone.z1.>", "hq.all.>"]
        assert [p["list_id"] for _, p in journal(store)] == ["new"]
    finally:
        await nc.close()
        await store.close()
