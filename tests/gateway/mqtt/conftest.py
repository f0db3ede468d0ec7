"""Fixtures: a real Mosquitto from the shipped template on free loopback ports, and MQTT peers.

The broker gets its own temp dir, passwd and ACL from ``write_broker_files`` (the code under
test) and never touches the system broker on 1883.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.bus import Bus
from gateway.mqtt.broker import ClientCred
from gateway.mqtt.commands import ANY_DEVICE, GATEWAY_TARGET, CommandContext, CommandRegistry, Param
from gateway.mqtt.component import MqttComponent
from gateway.mqtt.config import MqttConfig
from gateway.mqtt.idempotency import SqliteIdempotencyStore
from gateway.mqtt.localbroker import MOSQUITTO, LocalBroker

STORE = "s0042"
PASSWORDS = {"gateway": "gw-secret", "till-1": "t1-secret", "till-2": "t2-secret", "mgr-1": "m1-secret"}
ROLES = {"gateway": "gateway", "till-1": "cashier", "till-2": "cashier", "mgr-1": "manager"}

Broker = LocalBroker


def make_broker(directory: Path) -> Broker:
    """A (not yet started) broker with the test accounts."""
    creds = [ClientCred.create(name, ROLES[name], pw) for name, pw in PASSWORDS.items()]
    return LocalBroker(directory, STORE, creds)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running broker for one test."""
    if not os.path.exists(MOSQUITTO):
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    b = make_broker(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()
        shutil.rmtree(tmp_path / "broker", ignore_errors=True)


@dataclass
class Received:
    """One message as a peer saw it."""

    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)


class Peer:
    """A plain paho client (its own network thread) standing in for a POS client."""

    def __init__(self, broker: Broker, user: str, password: str | None = None, transport: str = "tcp") -> None:
        self.user = user
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Received] = asyncio.Queue()
        self.connack: asyncio.Future[Any] = self.loop.create_future()
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=user,
            protocol=paho.MQTTv5,
            transport="websockets" if transport == "websockets" else "tcp",
        )
        self.client.username_pw_set(user, PASSWORDS.get(user) if password is None else password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.port = broker.ws_port if transport == "websockets" else broker.port
        self.reply_topic = f"store/{STORE}/client/{user}/reply"

    def _on_connect(self, c: paho.Client, u: Any, flags: Any, rc: Any, props: Any) -> None:
        self.loop.call_soon_threadsafe(self._set_connack, rc)

    def _set_connack(self, rc: Any) -> None:
        if not self.connack.done():
            self.connack.set_result(rc)

    def _on_message(self, c: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None) if msg.properties else None
        rec = Received(msg.topic, bytes(msg.payload), bool(msg.retain), corr)
        self.loop.call_soon_threadsafe(self.queue.put_nowait, rec)

    def _ack(self, mid: int, rc: Any) -> None:
        fut = self.acks.setdefault(mid, self.loop.create_future())
        if not fut.done():
            fut.set_result(rc)

    def _on_publish(self, c: paho.Client, u: Any, mid: int, rc: Any, props: Any) -> None:
        self.loop.call_soon_threadsafe(self._ack, mid, rc)

    def _on_subscribe(self, c: paho.Client, u: Any, mid: int, rcs: Any, props: Any) -> None:
        self.loop.call_soon_threadsafe(self._ack, mid, rcs)

    async def connect(self) -> Any:
        """Connect and return the CONNACK reason code."""
        await self.loop.run_in_executor(None, lambda: self.client.connect("127.0.0.1", self.port, 30))
        self.client.loop_start()
        async with asyncio.timeout(5):
            return await self.connack

    async def subscribe(self, topic: str) -> Any:
        """Subscribe at QoS 1; returns the SUBACK reason codes."""
        _, mid = self.client.subscribe(topic, 1)
        assert mid is not None
        async with asyncio.timeout(5):
            return await self.acks.setdefault(mid, self.loop.create_future())

    async def publish(
        self, topic: str, payload: bytes | str, *, response_topic: str | None = None, correlation: bytes | None = None
    ) -> Any:
        """Publish QoS 1 with optional v5 request properties; returns the PUBACK reason code."""
        props = None
        if response_topic is not None or correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                props.ResponseTopic = response_topic
            if correlation is not None:
                props.CorrelationData = correlation
        info = self.client.publish(topic, payload, 1, False, props)
        async with asyncio.timeout(5):
            return await self.acks.setdefault(info.mid, self.loop.create_future())

    async def command(
        self, path: str, body: dict[str, Any] | bytes, *, correlation: bytes = b"c1", response_topic: str | None = ""
    ) -> Any:
        """Publish a command on ``store/{sid}/gateway/{path}/{user}`` with our reply topic."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        rt = self.reply_topic if response_topic == "" else response_topic
        return await self.publish(
            f"store/{STORE}/gateway/{path}/{self.user}", payload, response_topic=rt, correlation=correlation
        )

    async def next(self, topic: str | None = None, wait: float = 5.0) -> Received:
        """The next message (on ``topic`` if given; others are skipped)."""
        async with asyncio.timeout(wait):
            while True:
                rec = await self.queue.get()
                if topic is None or rec.topic == topic:
                    return rec

    async def nothing(self, topic_prefix: str | tuple[str, ...], wait: float = 0.5) -> None:
        """Assert that no message on ``topic_prefix...`` arrives within ``wait`` seconds."""
        deadline = self.loop.time() + wait
        while (left := deadline - self.loop.time()) > 0:
            try:
                async with asyncio.timeout(left):
                    rec = await self.queue.get()
            except TimeoutError:
                return
            assert not rec.topic.startswith(topic_prefix), f"unexpected {rec.topic}: {rec.payload!r}"

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
async def peers(broker: Broker) -> AsyncIterator[list[Peer]]:
    """Collects peers made by ``make_peer`` and closes them."""
    made: list[Peer] = []
    yield made
    for p in made:
        p.close()


MakePeer = Callable[..., Awaitable[Peer]]


@pytest.fixture
def make_peer(broker: Broker, peers: list[Peer]) -> MakePeer:
    """``await make_peer("till-1")``: a connected peer."""

    async def make(user: str, password: str | None = None, transport: str = "tcp") -> Peer:
        p = Peer(broker, user, password, transport)
        peers.append(p)
        rc = await p.connect()
        assert rc == 0, f"{user} refused: {rc}"
        return p

    return make


class Handlers:
    """Real command handlers for the tests; they count their runs."""

    def __init__(self) -> None:
        self.prints = 0
        self.payments = 0
        self.release = asyncio.Event()
        self.release.set()

    async def echo(self, args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        return {"echo": args, "client": ctx.client_id, "role": ctx.role, "device": ctx.target}

    async def print_receipt(self, args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        self.prints += 1
        return {"printed": self.prints, "lines": len(args["text"].splitlines())}

    async def pay(self, args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        self.payments += 1
        await ctx.progress({"step": "insert-card"})
        await self.release.wait()
        await ctx.progress({"step": "pin-entry"})
        return {"approved": True, "amount": args["amount"], "cart_id": args["cart_id"], "run": self.payments}

    async def boom(self, args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        raise RuntimeError("handler bug")

    async def refund(self, args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        return {"refunded": args["amount"]}

    def registry(self) -> CommandRegistry:
        """A registry with every test command."""
        reg = CommandRegistry()
        reg.register(ANY_DEVICE, "echo", self.echo, params=[Param("text", required=False, max_len=100)])
        reg.register(
            "printer-1", "print", self.print_receipt, params=[Param("text", max_len=4000)], persist=True
        )
        reg.register(
            GATEWAY_TARGET,
            "payment.start",
            self.pay,
            params=[Param("cart_id"), Param("amount", "int", min=1, max=10_000_000)],
            persist=True,
            long_running=True,
        )
        reg.register(GATEWAY_TARGET, "boom", self.boom)
        reg.register(GATEWAY_TARGET, "refund", self.refund, params=[Param("amount", "int", min=1)], roles={"manager"})
        return reg


@dataclass
class GatewayHarness:
    """Builds MQTT components against the test broker (restartable, shared SQLite store)."""

    broker: Broker
    directory: Path
    bus: Bus
    handlers: Handlers
    components: list[MqttComponent] = field(default_factory=list)

    def config(self, **over: Any) -> MqttConfig:
        """Config for the test broker, with overrides."""
        pw = self.directory / "gw.secret"
        pw.write_text(PASSWORDS["gateway"] + "\n")
        base: dict[str, Any] = {
            "url": self.broker.url,
            "username": "gateway",
            "password_file": str(pw),
            "client_id": "gateway",
            "keepalive": 5,
            "reconnect_min": 0.05,
            "reconnect_max": 0.3,
            "connect_timeout": 2.0,
        }
        base.update(over)
        return MqttConfig(**base)

    async def start(self, *, wait: bool = True, **over: Any) -> MqttComponent:
        """Build and start a component (and wait for its link unless ``wait`` is false)."""
        comp = MqttComponent(
            self.config(**over),
            self.bus,
            STORE,
            self.handlers.registry(),
            SqliteIdempotencyStore(self.directory / "requests.db"),
            client_roles=lambda cid: ROLES.get(cid) if cid != "gateway" else None,
        )
        self.components.append(comp)
        await comp.start()
        if wait:
            assert comp.link is not None
            async with asyncio.timeout(5):
                await comp.link.wait_connected()
        return comp


@pytest.fixture
async def harness(broker: Broker, tmp_path: Path) -> AsyncIterator[GatewayHarness]:
    """Starts gateway components on demand and stops them after the test."""
    d = tmp_path / "gw"
    d.mkdir()
    h = GatewayHarness(broker, d, Bus(), Handlers())
    yield h
    for comp in h.components:
        async with asyncio.timeout(10):
            await comp.stop()
