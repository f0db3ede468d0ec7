"""Vouchers against HQ over real NATS request/reply: HQ authoritative online, offline rules when it is gone."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.components import add_components
from gateway.config import Config, StoreConfig
from gateway.errors import GatewayError
from gateway.hq.rpc import ReferenceHq
from gateway.mqtt.config import MqttConfig
from tests.conftest import load_products
from tests.gateway.mirror.conftest import hq_config, provision_hq
from tests.gateway.mirror.harness import NatsServer, client

PEN = "4006381333931"  # 1.99 EUR


async def test_voucher_redeemed_at_hq_once_and_refused_beyond_its_balance(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    state = tmp_path / "hq.json"
    state.write_text(json.dumps({"vouchers": {"GIFT-1": {"balance": 300, "kind": "multi", "state": "active"}}}))
    hq = ReferenceHq(state)
    hq_nc = await client(nats_server.url)
    await hq.serve(hq_nc)
    config = (Config({}).with_section(StoreConfig(id="s1", zone="z1")).with_section(hq_config(nats_server.url))
              .with_section(MqttConfig(url="")))
    gw = Gateway(config, tmp_path / "data")
    add_components(gw, argparse.Namespace())
    gw.open()
    load_products(gw)
    await gw.start("127.0.0.1", 0)
    try:
        async with asyncio.timeout(15):
            while gw.components["hq"].status().get("state") != "ok":
                await asyncio.sleep(0.1)
        r = await gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "voucher", "amount": 199, "ref": "GIFT-1"}])
        assert r["payments"][0]["method"] == "voucher"
        assert json.loads(state.read_text())["vouchers"]["GIFT-1"]["balance"] == 101
        with pytest.raises(GatewayError) as info:  # a second till (or the webshop) cannot spend more than is left
            await gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "voucher", "amount": 199, "ref": "GIFT-1"}])
        assert info.value.status == 409 and "101" in info.value.detail
        assert json.loads(state.read_text())["vouchers"]["GIFT-1"]["balance"] == 101
        assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.finished'") == 1
        await hq.stop()  # HQ gone: the store falls back to its offline rule for the card
        with pytest.raises(GatewayError) as info:
            await gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "voucher", "amount": 50, "ref": "GIFT-1"}, {"method": "cash", "amount": 149}])
        assert info.value.status in (409, 503)
    finally:
        await hq_nc.close()
        await gw.stop()
