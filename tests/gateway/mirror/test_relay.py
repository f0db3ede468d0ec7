"""Outbound relay against a real nats-server: order, ids, headers, live updates."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.bus import Bus
from gateway.hq.tools import read_stream
from gateway.ledger import Ledger
from gateway.mirror import HqConfig, HqLink
from tests.gateway.mirror.conftest import STORE, Store, hq_config, hq_seqs, provision_hq, wait_until
from tests.gateway.mirror.harness import NatsServer, client


async def test_backlog_and_live_entries_reach_hq_once_in_order(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    store = Store(tmp_path / "l.db", nats_server.url)
    status_events = store.bus.subscribe("hq.status")
    try:
        await store.sell(300)

        def cash(txn):  # type: ignore[no-untyped-def]
            txn.append("cash.deposit", "cash:1", {"amount": 5000})

        await store.ledger.write(cash)
        await store.link.start()
        relay = store.link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked == 301, 10)
        await store.sell(50)
        await wait_until(lambda: relay.acked == 351, 10)
        assert store.ledger.get_cursor("hq.relay") == 351
        assert await hq_seqs(nats_server.url) == list(range(1, 352))
        st = store.link.status()
        assert st["link"] == "connected" and st["backlog"] == 0 and st["acked_seq"] == 351
        async with asyncio.timeout(5):
            while True:  # the status page / MQTT gateway/hq feed sees the drained state
                ev = await status_events.get()
                if ev.data["link"] == "connected" and ev.data["backlog"] == 0 and ev.data["acked_seq"] == 351:
                    break

        nc = await client(nats_server.url)
        try:
            msgs = [m async for m in read_stream(nc.jetstream(), "store.s1.evt.cash.>")]
        finally:
            await nc.close()
        assert len(msgs) == 1
        m = msgs[0]
        assert m.subject == "store.s1.evt.cash.deposit"
        assert m.headers is not None
        assert m.headers["Store-Id"] == "s1" and m.headers["Event-Type"] == "cash.deposit"
        assert m.headers["Ledger-Seq"] == "301" and m.headers["Nats-Msg-Id"] == "s1:301"
        body = json.loads(m.data)
        assert body["payload"] == {"amount": 5000} and body["seq"] == 301
        assert body["hash"] == store.ledger.entry(301).hash  # type: ignore[union-attr]
    finally:
        status_events.close()
        await store.close()


async def test_link_built_after_ledger_open_creates_its_tables(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    bus = Bus()
    ledger = Ledger(tmp_path / "l.db", bus).open()
    link = HqLink(hq_config(nats_server.url), STORE, ledger, bus)
    try:
        await link.start()
        assert ledger.query_one("SELECT COUNT(*) FROM hq_inbox") == 0
        await ledger.write(lambda txn: txn.append("cash.deposit", "cash:1", {"amount": 1}))
        relay = link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked == 1, 10)
    finally:
        await link.stop()
        ledger.close()


async def test_disabled_link_is_off_and_starts_nothing(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.db")
    link = HqLink(HqConfig(), STORE, ledger)
    ledger.open()
    try:
        await link.start()
        assert link.status() == {"state": "off", "link": "off"}
        assert link.relay is None and link._tasks == []
        await link.stop()
        assert link.status()["state"] == "off"
    finally:
        ledger.close()
