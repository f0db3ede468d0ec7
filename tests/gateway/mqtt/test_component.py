"""MqttComponent against a real Mosquitto: retained state, events, ledger fan-out, lifecycle."""

from __future__ import annotations

import asyncio

from tests.gateway.mqtt.conftest import STORE, Broker, GatewayHarness, MakePeer

G = f"store/{STORE}/gateway"


async def test_status_online_retained_then_offline_on_clean_stop(harness: GatewayHarness, make_peer: MakePeer) -> None:
    gw = await harness.start()
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/status")
    online = await till.next(f"{G}/status")
    assert online.retain is True
    body = online.json()
    assert body["state"] == "online" and body["boot_id"] == gw.boot_id and body["version"]
    await gw.stop()
    offline = (await till.next(f"{G}/status")).json()
    assert offline["state"] == "offline" and offline["reason"] == "shutdown" and offline["boot_id"] == gw.boot_id
    # A late subscriber sees the retained offline state.
    late = await make_peer("till-2")
    await late.subscribe(f"{G}/status")
    assert (await late.next(f"{G}/status")).json()["state"] == "offline"


async def test_scan_reaches_subscribed_client(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/device/+/evt/#")
    harness.bus.publish("device.scanner-1.evt.scan", {"code": "4006381333931", "symbology": "ean13"})
    harness.bus.publish("device.scanner-1.evt.scan", {"code": "96385074", "symbology": "ean8"})
    first = await till.next(f"{G}/device/scanner-1/evt/scan")
    second = await till.next(f"{G}/device/scanner-1/evt/scan")
    a, b = first.json(), second.json()
    assert first.retain is False
    assert a["data"] == {"code": "4006381333931", "symbology": "ean13"}
    assert a["device"] == "scanner-1" and a["name"] == "scan"
    assert b["seq"] == a["seq"] + 1
    assert a["event_id"] != b["event_id"] and a["event_id"].startswith(a["boot_id"])


async def test_device_state_retained_and_ledger_fanout_with_journal_seq(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    harness.bus.publish("device.drawer-1.info", {"kind": "drawer", "commands": ["open"]})
    harness.bus.publish("device.drawer-1.status", {"state": "online"})
    harness.bus.publish("device.drawer-1.state", {"open": False})
    harness.bus.publish("hq.status", {"link": "down", "backlog": 3})
    await asyncio.sleep(0.2)
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/#")
    got = {}
    for _ in range(5):
        rec = await till.next()
        got[rec.topic] = rec
    assert set(got) == {f"{G}/status", f"{G}/hq"} | {f"{G}/device/drawer-1/{k}" for k in ("info", "status", "state")}
    assert all(r.retain for r in got.values())
    assert got[f"{G}/device/drawer-1/state"].json()["data"] == {"open": False}
    assert got[f"{G}/hq"].json()["backlog"] == 3
    harness.bus.publish("ledger.sale.finished", {"sale_id": "S-1", "total": 1299}, seq=4711)
    led = await till.next(f"{G}/ledger/evt/sale.finished")
    assert led.json()["seq"] == 4711 and led.json()["type"] == "sale.finished"
    assert led.json()["data"]["total"] == 1299


async def test_rebirth_republishes_retained_state(harness: GatewayHarness, make_peer: MakePeer) -> None:
    gw = await harness.start()
    harness.bus.publish("device.scale-1.state", {"grams": 0, "stable": True})
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/device/scale-1/state")
    await till.next(f"{G}/device/scale-1/state")
    ack = await till.publish(f"{G}/cmd/rebirth/till-1", b"")
    assert ack == 0
    again = await till.next(f"{G}/device/scale-1/state")
    assert again.json()["data"] == {"grams": 0, "stable": True}
    assert gw.rebirths == 1


async def test_starts_without_broker_then_connects(broker: Broker, harness: GatewayHarness, make_peer: MakePeer) -> None:
    broker.stop()
    gw = await harness.start(wait=False)
    await asyncio.sleep(0.4)
    st = gw.status()
    assert st["state"] == "degraded" and st["link"] in ("down", "connecting")
    assert "refused" in (st["last_error"] or "").lower() or "failed" in (st["last_error"] or "")
    harness.bus.publish("device.printer-1.status", {"state": "online"})
    held = gw.status()["held"]
    harness.bus.publish("device.scanner-1.evt.scan", {"code": "4006381333931"})  # nobody may get this later
    harness.bus.publish("ledger.sale.finished", {"receipt_no": 1}, seq=1)  # the ledger fan-out is held
    assert gw.status()["events_skipped"] == 1 and gw.status()["held"] == held + 1
    broker.start()
    assert gw.link is not None
    async with asyncio.timeout(5):
        await gw.link.wait_connected()
    assert gw.status()["state"] == "ok"
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/device/printer-1/status")
    assert (await till.next(f"{G}/device/printer-1/status")).json()["data"] == {"state": "online"}


async def test_broker_restart_reconnects_and_republishes(broker: Broker, harness: GatewayHarness, make_peer: MakePeer) -> None:
    gw = await harness.start()
    harness.bus.publish("device.printer-1.state", {"paper": "ok"})
    await asyncio.sleep(0.1)
    broker.stop()  # persistence is off: every retained message is gone with the broker
    await asyncio.sleep(0.2)
    harness.bus.publish("device.printer-1.state", {"paper": "low"})  # changes while the link is down
    harness.bus.publish("ledger.cash.drawer_opened", {"drawer": "drawer-1"}, seq=12)
    broker.start()
    assert gw.link is not None
    async with asyncio.timeout(5):
        await gw.link.wait_connected()
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/device/printer-1/state")
    await till.subscribe(f"{G}/status")
    seen = {r.topic: r.json() for r in [await till.next(), await till.next()]}
    assert seen[f"{G}/status"]["state"] == "online"
    assert seen[f"{G}/device/printer-1/state"]["data"] == {"paper": "low"}
    assert gw.status()["connects"] == 2 and gw.status()["disconnects"] == 1


async def test_browser_client_over_websockets_receives_events(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    browser = await make_peer("till-2", transport="websockets")
    await browser.subscribe(f"{G}/device/+/evt/#")
    harness.bus.publish("device.scanner-1.evt.scan", {"code": "123"})
    rec = await browser.next(f"{G}/device/scanner-1/evt/scan")
    assert rec.json()["data"] == {"code": "123"}


async def test_removed_device_clears_retained_topics(harness: GatewayHarness, make_peer: MakePeer) -> None:
    gw = await harness.start()
    harness.bus.publish("device.scale-2.info", {"kind": "scale"})
    harness.bus.publish("device.scale-2.status", {"state": "online"})
    await asyncio.sleep(0.1)
    harness.bus.publish("device.scale-2.removed", {})
    await asyncio.sleep(0.2)
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/device/#")
    await till.nothing(f"{G}/device/scale-2/", wait=0.3)
    assert gw.status()["retained_topics"] == 0


async def test_events_queued_on_the_bus_go_out_before_stop(harness: GatewayHarness, make_peer: MakePeer) -> None:
    gw = await harness.start()
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/ledger/evt/#")
    for seq in range(1, 6):
        harness.bus.publish("ledger.sale.finished", {"n": seq}, seq=seq)
    await gw.stop()  # the forwarder has not run yet: stop() must still publish them
    got = [(await till.next(f"{G}/ledger/evt/sale.finished")).json()["seq"] for _ in range(5)]
    assert got == [1, 2, 3, 4, 5]


async def test_event_that_cannot_be_encoded_is_counted_and_the_next_goes_out(harness: GatewayHarness, make_peer: MakePeer) -> None:
    gw = await harness.start()
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/device/+/evt/#")
    harness.bus.publish("device.scale-1.evt.weight", {"grams": object()})  # not JSON: a driver bug
    harness.bus.publish("device.scale-1.evt.weight", {"grams": 850})
    got = await till.next(f"{G}/device/scale-1/evt/weight")
    assert got.json()["data"] == {"grams": 850}
    assert gw.status()["forward_errors"] == 1
