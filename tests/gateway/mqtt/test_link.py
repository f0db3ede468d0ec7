"""MqttLink on the asyncio loop: guarded callbacks, holding messages while down, refused logins."""

from __future__ import annotations

import asyncio
from pathlib import Path

import paho.mqtt.client as paho

from gateway.mqtt.link import MqttLink, Will
from tests.gateway.mqtt.conftest import PASSWORDS, STORE, Broker, MakePeer, make_broker
from tests.gateway.mqtt.tcpproxy import TcpProxy

G = f"store/{STORE}/gateway"


def _link(broker: Broker, user: str = "gateway", password: str | None = None, **kw: object) -> MqttLink:
    return MqttLink(
        host="127.0.0.1",
        port=broker.port,
        client_id=user,
        username=user,
        password=PASSWORDS[user] if password is None else password,
        reconnect_min=0.05,
        reconnect_max=0.2,
        **kw,  # type: ignore[arg-type]
    )


async def test_handler_exception_does_not_stop_delivery(broker: Broker, make_peer: MakePeer) -> None:
    seen: list[str] = []
    all_seen = asyncio.Event()

    def handler(msg: paho.MQTTMessage) -> None:
        seen.append(msg.payload.decode())
        if len(seen) == 4:
            all_seen.set()
        if msg.payload == b"bad":
            raise ValueError("boom")

    link = _link(broker, on_message=handler)
    link.subscribe(f"{G}/cmd/+/+")
    await link.start()
    try:
        async with asyncio.timeout(5):
            await link.wait_connected()
        till = await make_peer("till-1")
        await asyncio.sleep(0.1)
        for body in (b"bad", b"good", b"bad", b"last"):
            await till.publish(f"{G}/cmd/x/till-1", body)
        async with asyncio.timeout(5):
            await all_seen.wait()
        assert seen == ["bad", "good", "bad", "last"]
        assert link.status()["callback_errors"] == 2 and link.status()["received"] == 4
    finally:
        await link.stop()


async def test_messages_held_while_down_are_sent_after_connect(broker: Broker, make_peer: MakePeer) -> None:
    link = _link(broker, max_queued=3)
    for i in range(5):
        link.publish(f"{G}/ledger/evt/sale.finished", b"%d" % i)
    assert link.status()["held"] == 3 and link.status()["dropped"] == 2
    assert "queue full" in (link.last_error or "")
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/ledger/evt/#")
    await link.start()
    try:
        got = [(await till.next()).payload for _ in range(3)]
        assert got == [b"0", b"1", b"2"]
        assert link.status()["held"] == 0 and link.status()["published"] == 3
    finally:
        await link.stop()


async def test_refused_login_keeps_retrying_and_reports(broker: Broker) -> None:
    link = _link(broker, password="wrong")
    await link.start()
    try:
        await asyncio.sleep(0.5)
        st = link.status()
        assert st["link"] in ("down", "connecting") and st["connects"] == 0
        assert "refused" in (st["last_error"] or "") or "authori" in (st["last_error"] or "").lower()
    finally:
        await link.stop()
    assert link.status()["link"] == "off"


async def test_unreachable_broker_does_not_block_start(tmp_path: Path) -> None:
    dead = make_broker(tmp_path / "never-started")
    link = _link(dead)
    async with asyncio.timeout(1):
        await link.start()
        await asyncio.sleep(0.3)
    assert not link.connected and "failed" in (link.last_error or "")
    await link.stop()


async def test_half_open_link_detected_by_keepalive(broker: Broker, make_peer: MakePeer) -> None:
    proxy = TcpProxy(broker.port)
    await proxy.start()
    will = Will(f"{G}/status", b'{"state":"offline","reason":"lwt"}')

    def birth() -> None:
        link.publish(f"{G}/status", b'{"state":"online"}', retain=True)

    link = MqttLink(
        host="127.0.0.1",
        port=proxy.port,
        client_id="gateway",
        username="gateway",
        password=PASSWORDS["gateway"],
        keepalive=1,
        reconnect_min=0.05,
        reconnect_max=0.2,
        will=will,
        on_connected=birth,
    )
    till = await make_peer("till-1")
    await till.subscribe(f"{G}/status")
    await link.start()
    try:
        assert (await till.next(f"{G}/status")).payload == b'{"state":"online"}'
        proxy.blackhole = True
        # Subscribers learn of the dead link through the will (broker keep-alive expiry, or
        # the broker seeing the gateway give up on the connection) ...
        assert (await till.next(f"{G}/status", wait=6)).payload == will.payload
        # ... and the gateway notices the missing PINGRESP on its own.
        async with asyncio.timeout(6):
            await link.wait_disconnected()
        assert link.status()["disconnects"] == 1
        proxy.blackhole = False
        assert (await till.next(f"{G}/status", wait=6)).payload == b'{"state":"online"}'
        assert link.connected and link.status()["connects"] == 2
    finally:
        await link.stop()
        await proxy.stop()
