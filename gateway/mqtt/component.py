"""The MQTT interface component: bus events out to the store broker, commands in, replies back.

Topic scheme (under ``store/{sid}/``, see ``docs/mqtt.md``): retained ``gateway/status``
(also the Last Will), ``gateway/hq``, ``gateway/device/{dev}/info|status|state``; events
``gateway/device/{dev}/evt/{name}`` and ``gateway/ledger/evt/{type}``; commands
``gateway/device/{dev}/cmd/{action}/{client_id}`` and ``gateway/cmd/{action}/{client_id}``
answered on the MQTT v5 response topic ``client/{client_id}/reply`` with the request's
correlation data.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway import __version__
from gateway.bus import Bus, Event, Listener
from gateway.mqtt.broker import check_name
from gateway.mqtt.commands import GATEWAY_TARGET, CommandRegistry
from gateway.mqtt.config import MqttConfig
from gateway.mqtt.dispatch import CommandDispatcher
from gateway.mqtt.idempotency import IdempotencyStore
from gateway.mqtt.link import MqttLink, Will

log = logging.getLogger(__name__)

_RETAINED_KINDS = ("info", "status", "state")
_REBIRTH_MIN_INTERVAL = 1.0


def _ms(ts: float) -> int:
    return int(ts * 1000)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes as published on the broker."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class _PackedOnce(Properties):
    """PUBLISH properties shared by many messages: serialised once, not on every publish.

    paho re-encodes the properties of every message (~45 us each); never mutate after use.
    """

    def pack(self) -> bytes:
        """The wire form, computed on first use."""
        cached: bytes | None = self.__dict__.get("_packed")
        if cached is None:
            cached = super().pack()
            object.__setattr__(self, "_packed", cached)
        return cached


def _props(expiry: int | None = None, correlation: bytes | None = None) -> Properties:
    props = Properties(PacketTypes.PUBLISH) if correlation is not None else _PackedOnce(PacketTypes.PUBLISH)
    props.ContentType = "application/json"
    props.PayloadFormatIndicator = 1
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    if correlation is not None:
        props.CorrelationData = correlation
    return props


class MqttComponent:
    """Component ``mqtt``: owns the gateway's broker connection and the MQTT topic scheme.

    ``client_roles`` maps an MQTT client id (= broker user name) to its role, or None for an
    unknown client. ``idempotency`` keeps outcomes of ``persist`` commands (give a
    :class:`~gateway.mqtt.idempotency.SqliteIdempotencyStore`); other commands use an
    in-memory store.
    """

    name = "mqtt"

    def __init__(
        self,
        config: MqttConfig,
        bus: Bus,
        store_id: str,
        commands: CommandRegistry,
        idempotency: IdempotencyStore,
        *,
        client_roles: Callable[[str], str | None],
        version: str = __version__,
    ) -> None:
        self.config = config
        self.bus = bus
        self.store_id = check_name(store_id)
        self.commands = commands
        self.version = version
        self.boot_id = uuid.uuid4().hex
        self.prefix = f"store/{store_id}/"
        self.status_topic = self.prefix + "gateway/status"
        self._started_at = time.time()
        self._retained: dict[str, bytes] = {}
        self._seqs: dict[str, int] = {}
        self._listeners: list[Listener] = []
        self._last_rebirth = 0.0
        self.rebirths = 0
        self.events_out = 0
        self.events_skipped = 0
        self.startup_error: str | None = None
        self._json_props = _props()
        self._event_props = _props(config.event_expiry)
        self.link: MqttLink | None = None
        self.dispatcher = CommandDispatcher(
            commands,
            idempotency,
            prefix=self.prefix,
            client_roles=client_roles,
            reply=self._reply,
            builtins={(GATEWAY_TARGET, "rebirth"): self._rebirth_command},
        )

    # -- Component protocol --------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting and forwarding; never waits for the broker."""
        if not self.config.enabled:
            return
        addr = self.config.address()
        self.link = MqttLink(
            host=addr.host,
            port=addr.port,
            client_id=self.config.client_id,
            username=self.config.username or None,
            password=self.config.password(),
            tls=addr.tls,
            tls_ca=self.config.tls_ca or None,
            keepalive=self.config.keepalive,
            reconnect_min=self.config.reconnect_min,
            reconnect_max=self.config.reconnect_max,
            connect_timeout=self.config.connect_timeout,
            max_queued=self.config.max_queued,
            will=Will(self.status_topic, self._status_payload("offline", reason="lwt")),
            on_connected=self._on_connected,
            on_message=self._on_message,
        )
        self.link.subscribe(self.prefix + "gateway/device/+/cmd/+/+", 1)
        self.link.subscribe(self.prefix + "gateway/cmd/+/+", 1)
        # Forwarded inside bus.publish: building and queueing one message is short, and it saves
        # a queue and a loop wake-up per event on the scan path.
        self._listeners = [self.bus.listen(pattern, handler) for pattern, handler in self._routes()]
        await self.link.start()

    def _routes(self) -> list[tuple[str, Callable[[Event], None]]]:
        return [("device.#", self._device_event), ("ledger.#", self._ledger_event), ("hq.status", self._hq_event)]

    async def stop(self) -> None:
        """Publish ``offline`` (retained), disconnect cleanly and stop forwarding; idempotent."""
        for listener in self._listeners:
            listener.close()
        self._listeners = []
        await self.dispatcher.drain(grace=2.0)
        if self.link is not None:
            await self.link.stop(final=[(self.status_topic, self._status_payload("offline", reason="shutdown"))])

    def status(self) -> dict[str, Any]:
        """State (``ok`` with the link up, ``degraded`` while retrying, ``off``) and counters."""
        if not self.config.enabled or self.link is None:
            return {"state": "off", "link": "off"}
        link = self.link.status()
        return {
            "state": "ok" if self.link.connected else "degraded",
            **link,
            "boot_id": self.boot_id,
            "retained_topics": len(self._retained),
            "events_out": self.events_out,
            "events_skipped": self.events_skipped,
            "forward_errors": sum(ln.failed for ln in self._listeners),
            "rebirths": self.rebirths,
            "commands": self.dispatcher.stats(),
        }

    # -- outgoing ------------------------------------------------------------------------------

    def _status_payload(self, state: str, **extra: Any) -> bytes:
        return dumps(
            {
                "state": state,
                "boot_id": self.boot_id,
                "version": self.version,
                "started": _ms(self._started_at),
                "ts": _ms(time.time()),
                **extra,
            }
        )

    def _next_seq(self, family: str) -> int:
        n = self._seqs.get(family, 0) + 1
        self._seqs[family] = n
        return n

    def _set_retained(self, topic: str, payload: bytes) -> None:
        self._retained[topic] = payload
        if self.link is not None and self.link.connected:
            # While down only the cache changes: it is republished in full after the reconnect.
            self.link.publish(topic, payload, qos=self.config.qos, retain=True, properties=self._json_props, hold=False)

    def _publish_event(self, topic: str, payload: bytes, props: Properties, hold: bool = True) -> None:
        assert self.link is not None
        if self.link.publish(topic, payload, qos=self.config.qos, properties=props, hold=hold):
            self.events_out += 1
        elif not hold:
            self.events_skipped += 1

    def _on_connected(self) -> None:
        """Birth: ``online`` first, then every retained topic (after each connect and rebirth)."""
        assert self.link is not None
        self.link.publish(
            self.status_topic, self._status_payload("online"), qos=1, retain=True, properties=self._json_props
        )
        for topic, payload in list(self._retained.items()):
            self.link.publish(topic, payload, qos=self.config.qos, retain=True, properties=self._json_props)

    def _device_event(self, event: Event) -> None:
        parts = event.topic.split(".")
        if len(parts) < 3:
            return
        dev, kind = parts[1], parts[2]
        base = f"{self.prefix}gateway/device/{dev}/"
        if kind == "removed" and len(parts) == 3:
            # An unplugged device: clear its retained topics (empty retained payload).
            for k in _RETAINED_KINDS:
                if self._retained.pop(base + k, None) is not None and self.link is not None and self.link.connected:
                    self.link.publish(base + k, b"", qos=self.config.qos, retain=True, hold=False)
        elif kind in _RETAINED_KINDS and len(parts) == 3:
            topic = base + kind
            body = {"device": dev, "boot_id": self.boot_id, "seq": self._next_seq(topic), "ts": _ms(event.ts)}
            self._set_retained(topic, dumps({**body, "data": event.data}))
        elif kind == "evt" and len(parts) >= 4:
            name = ".".join(parts[3:])
            body = {
                "event_id": f"{self.boot_id}-{event.event_id}",
                "seq": self._next_seq(base + "evt"),
                "boot_id": self.boot_id,
                "ts": _ms(event.ts),
                "device": dev,
                "name": name,
                "data": event.data,
            }
            # Not held while the broker is away: a scan delivered minutes later would add an item
            # nobody is scanning now (the 60 s message expiry only starts at the broker).
            self._publish_event(base + "evt/" + name, dumps(body), self._event_props, hold=False)

    def _ledger_event(self, event: Event) -> None:
        etype = event.topic[len("ledger.") :]
        body = {"seq": event.seq, "type": etype, "boot_id": self.boot_id, "ts": _ms(event.ts), "data": event.data}
        self._publish_event(f"{self.prefix}gateway/ledger/evt/{etype}", dumps(body), self._json_props)

    def _hq_event(self, event: Event) -> None:
        body = {**event.data, "boot_id": self.boot_id, "ts": _ms(event.ts)}
        self._set_retained(self.prefix + "gateway/hq", dumps(body))

    def _reply(self, topic: str, body: dict[str, Any], correlation: bytes | None) -> None:
        if self.link is not None:
            self.link.publish(topic, dumps(body), qos=1, properties=_props(correlation=correlation))

    # -- incoming ------------------------------------------------------------------------------

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        self.dispatcher.submit(msg.topic, bytes(msg.payload), getattr(msg, "properties", None))

    async def _rebirth_command(self, payload: dict[str, Any], ctx: Any) -> dict[str, Any]:
        """Republish status and all retained state (rate-limited to once a second)."""
        now = time.monotonic()
        if now - self._last_rebirth >= _REBIRTH_MIN_INTERVAL and self.link is not None and self.link.connected:
            self._last_rebirth = now
            self.rebirths += 1
            self._on_connected()
        return {"retained_topics": len(self._retained) + 1}
