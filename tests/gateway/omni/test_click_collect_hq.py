"""Click & collect end to end through real NATS: HQ pushes stock and an order, the store picks and
hands it over at the counter, and the handover reaches HQ's stream."""

from __future__ import annotations

import argparse
from pathlib import Path

import aiohttp

from gateway.app import Gateway
from gateway.components import add_components
from gateway.config import Config, StoreConfig
from gateway.hq.tools import push, read_stream
from gateway.mirror.subjects import H_TYPE
from gateway.mqtt.config import MqttConfig
from tests.conftest import load_products
from tests.gateway.mirror.conftest import hq_config, provision_hq, wait_until
from tests.gateway.mirror.harness import NatsServer, client

PEN = "4006381333931"


async def test_order_from_hq_to_handover_is_mirrored_back(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    config = (Config({}).with_section(StoreConfig(id="s1", zone="z1")).with_section(hq_config(nats_server.url))
              .with_section(MqttConfig(url="")))
    gw = Gateway(config, tmp_path / "data")
    add_components(gw, argparse.Namespace())
    gw.open()
    load_products(gw)
    token = gw.clients.add("till-1", "cashier")
    await gw.start("127.0.0.1", 0)
    nc = await client(nats_server.url)
    base = f"http://127.0.0.1:{gw.http_port}/api/v1"
    try:
        js = nc.jetstream()
        await push(js, [{"type": "stock_adjustment", "version": 1, "adjustment_id": "init-1", "reason": "count",
                         "lines": [{"code": PEN, "qty_delta": 5}]}], "store:s1")
        await push(js, [{"type": "order", "version": 1, "order_id": "web-42", "lines": [{"code": PEN, "qty": 2, "price": 199}],
                         "total": 398, "paid": True}], "store:s1")
        await wait_until(lambda: gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='hq.order'") == 1, 15)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            async with s.get(f"{base}/orders/web-42") as resp:
                order = await resp.json()
                assert resp.status == 200, order
            async with s.post(f"{base}/orders/web-42/picked", json={}) as resp:
                assert resp.status == 200, await resp.text()
            async with s.post(f"{base}/orders/pickup", json={"code": order["pickup_code"]},
                              headers={"Idempotency-Key": "handover-1"}) as resp:
                done = await resp.json()
                assert resp.status in (200, 201), done
        await wait_until(lambda: gw.components["hq"].status().get("backlog") == 0, 15)
        types: list[str] = []
        async for m in read_stream(js, "store.s1.evt.>"):
            types.append((m.headers or {})[H_TYPE])
        assert "order.handed_over" in types and "hq.order" in types
        assert types.count("order.handed_over") == 1
    finally:
        await nc.close()
        await gw.stop()
