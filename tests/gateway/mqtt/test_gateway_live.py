"""The whole gateway on MQTT: demo devices, real Mosquitto, a POS client with its storegw token.

A scan from the simulated serial scanner reaches the client, a print command on the simulated
printer is answered, and a card sale streams the terminal's progress before its result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.components import add_components, demo_config, prepare_demo
from gateway.config import Config, StoreConfig
from gateway.mqtt.broker import ClientCred
from gateway.mqtt.localbroker import MOSQUITTO, LocalBroker
from gateway.mqtt_clients import _gateway_cred
from tests.conftest import load_products
from tests.gateway.mqtt import conftest as mq

STORE = "s0042"


@pytest.fixture
async def live_mqtt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Gateway, LocalBroker, str]]:
    if not os.path.exists(MOSQUITTO):
        pytest.skip("mosquitto is not installed")
    data = tmp_path / "data"
    g0 = Gateway(Config({}), data)
    g0.open()
    token = g0.clients.add("till-1", "cashier")
    g0.ledger.close()
    gateway_cred = _gateway_cred(data)
    broker = LocalBroker(tmp_path / "broker", STORE, [gateway_cred, ClientCred.create("till-1", "cashier", token)])
    broker.start()
    config = demo_config(Config({}).with_section(StoreConfig(id=STORE)))
    gw = Gateway(config, data, demo=True)
    add_components(gw, argparse.Namespace(mqtt_url=broker.url, hq_url=None))
    prepare_demo(gw)
    load_products(gw)
    await gw.start("127.0.0.1", 0)
    monkeypatch.setitem(mq.PASSWORDS, "till-1", token)
    try:
        yield gw, broker, token
    finally:
        await gw.stop()
        broker.stop()


async def test_scan_print_and_card_sale_over_mqtt(live_mqtt: tuple[Gateway, LocalBroker, str]) -> None:
    gw, broker, _ = live_mqtt
    monkey_store = mq.STORE
    mq.STORE = STORE  # the peer helper builds topics from this module constant
    try:
        peer = mq.Peer(broker, "till-1")
        assert await peer.connect() == 0
        await peer.subscribe(f"store/{STORE}/gateway/device/+/evt/#")
        await peer.subscribe(peer.reply_topic)
        async with asyncio.timeout(10):
            while gw.components["mqtt"].status().get("state") != "ok":
                await asyncio.sleep(0.05)
            while gw.components["devices"].get("scanner-1").state != "online":
                await asyncio.sleep(0.05)
        await gw.components["simulators"].scan("4006381333931")  # type: ignore[attr-defined]
        rec = await peer.next(f"store/{STORE}/gateway/device/scanner-1/evt/scan", wait=10)
        msg = rec.json()
        scan = msg["data"]
        assert scan["code"] == "4006381333931" and scan["barcode"]["kind"] == "ean13" and "event_id" in msg

        await peer.command("device/printer-1/cmd/print", {"request_id": "p-1", "lines": ["Hallo MQTT", "Grüße €"]})
        reply = (await peer.next(peer.reply_topic, wait=15)).json()
        assert reply["status"] == "ok" and reply["result"]["state"] == "done", json.dumps(reply)
        sims: Any = gw.components["simulators"]
        assert any(b"Hallo MQTT" in job for job in sims.printer.sim.jobs)

        sims.zvt.push("slow:2")
        body = {"request_id": "sale-1", "lines": [{"code": "4006381333931", "qty": 1}], "payments": [{"method": "card", "amount": 199}]}
        await peer.command("cmd/sale", body, correlation=b"sale-1")
        kinds: list[str] = []
        result: dict[str, Any] = {}
        async with asyncio.timeout(30):
            while True:
                r = (await peer.next(peer.reply_topic, wait=30)).json()
                kinds.append(r["status"])
                if r["status"] not in ("accepted", "progress"):
                    result = r
                    break
        assert kinds[0] == "accepted" and "progress" in kinds, kinds
        assert result["status"] == "ok" and result["result"]["payments"][0]["details"]["receipt_number"] >= 1
        # the retried request_id answers from the record: one terminal payment only
        await peer.command("cmd/sale", body, correlation=b"sale-1b")
        async with asyncio.timeout(15):
            while True:
                again = (await peer.next(peer.reply_topic, wait=15)).json()
                if again["status"] not in ("accepted", "progress"):
                    break
        assert again["result"]["receipt_no"] == result["result"]["receipt_no"]
        booked = [e for e in sims.zvt.journal.entries.values() if e.kind == "payment"]
        assert len(booked) == 1
        assert json.loads(json.dumps(gw.status()))["components"]["mqtt"]["state"] == "ok"
        peer.close()
    finally:
        mq.STORE = monkey_store


async def test_mqtt_sale_retried_after_a_lost_outcome_sells_once(tmp_path: Path) -> None:
    """The MQTT sale keeps its result with the receipt (keyed by client and request id), so a retry
    after the dispatcher lost track (crash between commit and reply) returns the same receipt."""
    from gateway.mqtt.commands import CommandContext, CommandRegistry
    from gateway.mqtt.handlers import register_commands

    gw = Gateway(Config({}), tmp_path / "g")
    gw.open()
    load_products(gw)
    try:
        registry = CommandRegistry()
        register_commands(registry, gw)
        cmd = registry.lookup("gateway", "sale")
        assert cmd is not None and cmd.self_idempotent

        async def no_progress(_: dict[str, Any]) -> None:
            return None

        ctx = CommandContext("till-1", "cashier", "gateway", "sale", "req-77", no_progress)
        args = {"lines": [{"code": "40084015"}], "payments": [{"method": "cash", "amount": 500}]}
        first = await asyncio.wait_for(cmd.handler(args, ctx), 10)
        again = await asyncio.wait_for(cmd.handler(args, ctx), 10)
        assert again["receipt_no"] == first["receipt_no"]
        assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.finished'") == 1
    finally:
        gw.ledger.close()
