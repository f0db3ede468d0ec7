"""The whole gateway with its HQ link: a price list from HQ changes what the till charges from its
effective time, and the sales made reach HQ's stream exactly once."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.app import Gateway
from gateway.components import add_components
from gateway.config import Config, StoreConfig
from gateway.hq.tools import push
from gateway.mqtt.config import MqttConfig
from tests.conftest import load_products
from tests.gateway.mirror.conftest import hq_config, hq_seqs, provision_hq, wait_until
from tests.gateway.mirror.harness import NatsServer, client

PEN = "4006381333931"  # 1.99 EUR in the test catalog


async def test_hq_price_list_changes_the_till_price_at_its_effective_time(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    config = (Config({}).with_section(StoreConfig(id="s1", zone="z1")).with_section(hq_config(nats_server.url))
              .with_section(MqttConfig(url="")))
    gw = Gateway(config, tmp_path / "data")
    add_components(gw, argparse.Namespace())
    gw.open()
    load_products(gw)
    await gw.start("127.0.0.1", 0)
    nc = await client(nats_server.url)
    try:
        async with asyncio.timeout(15):
            while gw.components["hq"].status().get("state") != "ok":
                await asyncio.sleep(0.1)
        effective = datetime.now(UTC) + timedelta(seconds=3)
        await push(nc.jetstream(), [{"type": "price_list", "version": 1, "mode": "delta", "list_id": "promo",
                                     "effective_at": effective.isoformat(), "items": [{"code": PEN, "price": 149}]}], "store:s1")
        await wait_until(lambda: gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='hq.price_list'") == 1, 10)
        before = await gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 500}])
        assert before["totals"]["gross"] == 199
        await wait_until(lambda: gw.catalog.lookup(PEN).price == 149, 10)
        assert datetime.now(UTC) >= effective
        after = await gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 500}])
        assert after["totals"]["gross"] == 149
        await wait_until(lambda: gw.components["hq"].status().get("backlog") == 0, 15)
        assert await hq_seqs(nats_server.url) == list(range(1, gw.ledger.last_seq + 1))
    finally:
        await nc.close()
        await gw.stop()
