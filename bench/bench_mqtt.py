"""Benchmark of the MQTT interface against raw publish/subscribe on the same broker, same run.

Measures (a) scan latency: bus event -> gateway -> Mosquitto -> subscribed client, against a raw
publish of a same-size payload -> subscriber; (b) command round trip: client request -> gateway
dispatch -> reply, against a raw request -> echo client -> reply; (c) burst throughput of both
event paths. Every client runs on the same asyncio loop through :class:`MqttLink`, so the
ratio isolates what the gateway adds. Needs /usr/sbin/mosquitto; runs in well under 20 s.

    python -m bench.bench_mqtt [--n 300] [--burst 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.bus import Bus
from gateway.mqtt.broker import ClientCred
from gateway.mqtt.commands import GATEWAY_TARGET, CommandContext, CommandRegistry, Param
from gateway.mqtt.component import MqttComponent
from gateway.mqtt.config import MqttConfig
from gateway.mqtt.idempotency import MemoryIdempotencyStore
from gateway.mqtt.link import MqttLink
from gateway.mqtt.localbroker import LocalBroker

SID = "bench"
G = f"store/{SID}/gateway"
SECRETS = {"gateway": "g", "raw-pub": "r", "raw-echo": "e", "till-1": "t"}
ROLES = {"gateway": "gateway", "raw-pub": "gateway", "raw-echo": "gateway", "till-1": "cashier"}


def _link(broker: LocalBroker, user: str, on_message: Callable[[paho.MQTTMessage], None] | None = None) -> MqttLink:
    return MqttLink(
        host="127.0.0.1", port=broker.port, client_id=user, username=user, password=SECRETS[user], on_message=on_message
    )


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


class Waiter:
    """Resolves one future per expected topic as messages arrive."""

    def __init__(self) -> None:
        self.want: asyncio.Future[None] | None = None
        self.topic = ""
        self.count = 0
        self.target = 0
        self.done: asyncio.Future[None] | None = None

    def on_message(self, msg: paho.MQTTMessage) -> None:
        """Count a message on the awaited topic and resolve the waiting futures."""
        if msg.topic != self.topic:
            return
        self.count += 1
        if self.want is not None and not self.want.done():
            self.want.set_result(None)
        if self.done is not None and self.count >= self.target and not self.done.done():
            self.done.set_result(None)

    def expect(self, topic: str) -> asyncio.Future[None]:
        """A future resolved by the next message on ``topic``."""
        self.topic = topic
        self.want = asyncio.get_running_loop().create_future()
        return self.want

    def expect_n(self, topic: str, n: int) -> asyncio.Future[None]:
        """A future resolved once ``n`` messages arrived on ``topic``."""
        self.topic, self.count, self.target = topic, 0, n
        self.done = asyncio.get_running_loop().create_future()
        return self.done


def run(n: int, burst: int) -> dict[str, Any]:
    """Start a private broker, run every measurement, return the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        creds = [ClientCred.create(u, ROLES[u], pw) for u, pw in SECRETS.items()]
        secret = Path(tmp, "gw.secret")
        secret.write_text(SECRETS["gateway"])
        with LocalBroker(tmp, SID, creds) as broker:
            return asyncio.run(_measure(broker, str(secret), n, burst))


async def _measure(broker: LocalBroker, secret: str, n: int, burst: int) -> dict[str, Any]:
    bus = Bus()
    reg = CommandRegistry()

    async def echo(args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        return args

    reg.register(GATEWAY_TARGET, "echo", echo, params=[Param("x", "int")])
    cfg = MqttConfig(url=broker.url, username="gateway", password_file=secret, client_id="gateway")
    gw = MqttComponent(cfg, bus, SID, reg, MemoryIdempotencyStore(), client_roles={"till-1": "cashier"}.get)

    sub_wait = Waiter()
    till = _link(broker, "till-1", sub_wait.on_message)
    till.subscribe(f"{G}/device/+/evt/#")
    till.subscribe(f"store/{SID}/client/till-1/reply")
    raw_pub = _link(broker, "raw-pub")

    def echo_back(msg: paho.MQTTMessage) -> None:
        props: Any = msg.properties
        raw_echo.publish(props.ResponseTopic, bytes(msg.payload), properties=props)

    raw_echo = _link(broker, "raw-echo", echo_back)
    raw_echo.subscribe(f"store/{SID}/bench/raw/req")
    links = [till, raw_pub, raw_echo]
    await gw.start()
    for link in links:
        await link.start()
    try:
        async with asyncio.timeout(10):
            assert gw.link is not None
            for link in [*links, gw.link]:
                await link.wait_connected()
        await asyncio.sleep(0.3)  # subscriptions settle
        sample = json.dumps(
            {
                "event_id": "f" * 32 + "-1",
                "seq": 1,
                "boot_id": "f" * 32,
                "ts": 0,
                "device": "scanner-1",
                "name": "scan",
                "data": {"code": "4006381333931", "symbology": "ean13"},
            }
        ).encode()
        raw_topic = f"{G}/device/raw-1/evt/scan"
        gw_topic = f"{G}/device/scanner-1/evt/scan"
        scan = {"code": "4006381333931", "symbology": "ean13"}
        raw_lat: list[float] = []
        gw_lat: list[float] = []
        for i in range(n + 20):  # interleaved, first 20 rounds are warm-up
            fut = sub_wait.expect(raw_topic)
            t0 = time.perf_counter()
            raw_pub.publish(raw_topic, sample)
            await fut
            t1 = time.perf_counter()
            fut = sub_wait.expect(gw_topic)
            t2 = time.perf_counter()
            bus.publish("device.scanner-1.evt.scan", scan)
            await fut
            t3 = time.perf_counter()
            if i >= 20:
                raw_lat.append(t1 - t0)
                gw_lat.append(t3 - t2)

        reply_topic = f"store/{SID}/client/till-1/reply"
        raw_rt: list[float] = []
        gw_rt: list[float] = []
        for i in range(n + 20):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = reply_topic
            props.CorrelationData = b"%d" % i
            fut = sub_wait.expect(reply_topic)
            t0 = time.perf_counter()
            # The till may only publish commands, so the raw request comes from a peer account.
            raw_pub.publish(f"store/{SID}/bench/raw/req", b'{"request_id":"r%d","x":1}' % i, properties=props)
            await fut
            t1 = time.perf_counter()
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = reply_topic
            props.CorrelationData = b"%d" % i
            fut = sub_wait.expect(reply_topic)
            t2 = time.perf_counter()
            till.publish(f"{G}/cmd/echo/till-1", b'{"request_id":"r%d","x":1}' % i, properties=props)
            await fut
            t3 = time.perf_counter()
            if i >= 20:
                raw_rt.append(t1 - t0)
                gw_rt.append(t3 - t2)

        fut = sub_wait.expect_n(raw_topic, burst)
        t0 = time.perf_counter()
        for _ in range(burst):
            raw_pub.publish(raw_topic, sample)
        async with asyncio.timeout(30):
            await fut
        raw_rate = burst / (time.perf_counter() - t0)
        fut = sub_wait.expect_n(gw_topic, burst)
        t0 = time.perf_counter()
        for _ in range(burst):
            bus.publish("device.scanner-1.evt.scan", scan)
        async with asyncio.timeout(30):
            await fut
        gw_rate = burst / (time.perf_counter() - t0)
    finally:
        for link in links:
            await link.stop()
        await gw.stop()
    return {
        "scan": (raw_lat, gw_lat),
        "command": (raw_rt, gw_rt),
        "burst": (raw_rate, gw_rate),
        "errors": gw.status()["commands"]["errors"],
    }


def report(res: dict[str, Any]) -> str:
    """The result table as text."""
    lines = [f"{'path':<44}{'p50 ms':>9}{'p99 ms':>9}{'ratio p50':>11}"]
    for key, (raw_name, gw_name) in {
        "scan": ("raw publish -> subscriber", "scan: bus -> gateway -> subscriber"),
        "command": ("raw request -> echo client -> reply", "command -> gateway dispatch -> reply"),
    }.items():
        raw, gw = res[key]
        lines.append(f"{raw_name:<44}{_pct(raw, 0.5):9.3f}{_pct(raw, 0.99):9.3f}{'':>11}")
        ratio = statistics.median(gw) / statistics.median(raw)
        lines.append(f"{gw_name:<44}{_pct(gw, 0.5):9.3f}{_pct(gw, 0.99):9.3f}{ratio:10.2f}x")
    raw_rate, gw_rate = res["burst"]
    lines.append(f"{'burst raw publish (msg/s)':<44}{raw_rate:9.0f}")
    lines.append(f"{'burst bus -> gateway -> subscriber (msg/s)':<44}{gw_rate:9.0f}{'':>9}{gw_rate / raw_rate:10.2f}x")
    return "\n".join(lines)


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="round trips per latency measurement")
    ap.add_argument("--burst", type=int, default=2000, help="messages per throughput burst")
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = run(args.n, args.burst)
    print(report(res))
    print(f"(total {time.perf_counter() - t0:.1f} s; command errors: {res['errors'] or 'none'})")


if __name__ == "__main__":
    main()
