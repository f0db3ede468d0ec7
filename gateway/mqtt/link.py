"""One MQTT v5 connection (paho-mqtt 2.x) driven by the asyncio loop, with our own reconnect.

paho's network loop thread is not used: the socket callbacks register paho's socket with the
event loop (``add_reader``/``add_writer``), a task calls ``loop_misc`` every second for
keep-alive, and a supervisor task reconnects with exponential backoff and jitter (paho's
external-loop mode has no reconnect of its own). Pattern from paho's README "External event
loop support" and ``examples/loop_asyncio.py``; TCP_NODELAY because paho 2.2 never sets it
and Nagle's algorithm adds ~40 ms to every request/reply on loopback.
Every paho callback is guarded: an exception in one message handler is logged and counted,
and delivery continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

_MISC_INTERVAL = 1.0


@dataclass(frozen=True)
class Will:
    """The Last Will the broker publishes when the connection dies without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class Outgoing:
    """A message held while the link is down."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties | None


class LinkRefused(ConnectionError):
    """The broker answered CONNECT with a failure reason (bad credentials, not authorised)."""


class MqttLink:
    """A self-healing MQTT v5 client on the running event loop.

    ``on_connected`` runs after every successful CONNACK (after re-subscribing), ``on_message``
    for every received message; both are called on the loop thread and must not block.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        tls_ca: str | None = None,
        transport: Literal["tcp", "websockets", "unix"] = "tcp",
        keepalive: int = 15,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        connect_timeout: float = 5.0,
        max_queued: int = 10000,
        will: Will | None = None,
        on_connected: Callable[[], None] | None = None,
        on_message: Callable[[paho.MQTTMessage], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.keepalive = keepalive
        self.reconnect_min, self.reconnect_max = reconnect_min, reconnect_max
        self.connect_timeout = connect_timeout
        self.max_queued = max_queued
        self.on_connected = on_connected
        self.on_message = on_message
        self.state = "off"
        self.connects = 0
        self.disconnects = 0
        self.published = 0
        self.publish_failed = 0
        self.dropped = 0
        self.received = 0
        self.callback_errors = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.up_since: float | None = None
        self._subs: dict[str, int] = {}
        self._pending: deque[Outgoing] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._up = asyncio.Event()
        self._connack: asyncio.Future[Any] | None = None
        self._acks: dict[int, asyncio.Future[None]] = {}

        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, transport=transport)
        if username is not None:
            c.username_pw_set(username, password)
        if tls:
            c.tls_set(ca_certs=tls_ca or None)
        if will is not None:
            c.will_set(will.topic, will.payload, will.qos, will.retain)
        c.connect_timeout = connect_timeout
        # paho logs callback exceptions instead of unwinding its packet handling mid-stream.
        c.suppress_exceptions = True
        c.max_queued_messages_set(max_queued)
        c.on_socket_open = self._cb_socket_open
        c.on_socket_close = self._cb_socket_close
        c.on_socket_register_write = self._cb_register_write
        c.on_socket_unregister_write = self._cb_unregister_write
        c.on_connect = self._cb_connect
        c.on_disconnect = self._cb_disconnect
        c.on_message = self._cb_message
        c.on_publish = self._cb_publish
        c.on_subscribe = self._cb_subscribe
        self.client = c

    # -- public API ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True between a successful CONNACK and the loss of the connection."""
        return self.state == "up"

    async def start(self) -> None:
        """Start connecting in the background; returns at once even if the broker is away."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping = False
        self.state = "connecting"
        self._tasks = [
            asyncio.create_task(self._supervise(), name="mqtt-link"),
            asyncio.create_task(self._misc(), name="mqtt-misc"),
        ]

    async def wait_connected(self) -> None:
        """Wait until the link is up (bound it with ``asyncio.timeout``)."""
        await self._up.wait()

    async def wait_disconnected(self) -> None:
        """Wait until the current connection is lost (bound it with ``asyncio.timeout``)."""
        await self._lost.wait()

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe now (if up) and after every reconnect."""
        self._subs[topic] = qos
        if self.connected:
            self.client.subscribe(topic, qos)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        properties: Properties | None = None,
        hold: bool = True,
    ) -> bool:
        """Publish, or hold the message until the next connect (``hold``) if the link is down.

        Returns False when the message was not handed over: link down and ``hold`` false, or
        the hold queue full (then ``dropped`` grows and ``last_error`` says so).
        """
        if not self.connected:
            if not hold:
                return False
            if len(self._pending) >= self.max_queued:
                self.dropped += 1
                self._note_error(f"outgoing queue full ({self.max_queued}); message to {topic} dropped")
                return False
            self._pending.append(Outgoing(topic, payload, qos, retain, properties))
            return True
        return self._send(Outgoing(topic, payload, qos, retain, properties))

    async def publish_acked(self, topic: str, payload: bytes, *, retain: bool = False, ack_wait: float = 2.0) -> bool:
        """Publish at QoS 1 and wait for the broker's PUBACK; False if not acked in time."""
        if not self.connected:
            return False
        info = self.client.publish(topic, payload, 1, retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return False
        if info.is_published():
            return True
        assert self._loop is not None
        fut = self._acks.setdefault(info.mid, self._loop.create_future())
        try:
            async with asyncio.timeout(ack_wait):
                await fut
        except TimeoutError:
            return False
        finally:
            self._acks.pop(info.mid, None)
        return True

    async def stop(self, final: list[tuple[str, bytes]] | None = None) -> None:
        """Publish ``final`` retained messages (acked), send DISCONNECT and stop; idempotent."""
        if self._stopping and not self._tasks:
            return
        self._stopping = True
        self._wake.set()
        if self.connected:
            for topic, payload in final or []:
                await self.publish_acked(topic, payload, retain=True)
            self._lost.clear()
            self.client.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._lost.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._close_socket()
        self.state = "off"

    def status(self) -> dict[str, Any]:
        """Link state and counters for the status page."""
        return {
            "link": self.state,
            "broker": f"{self.host}:{self.port}",
            "up_since": self.up_since,
            "connects": self.connects,
            "disconnects": self.disconnects,
            "published": self.published,
            "publish_failed": self.publish_failed,
            "held": len(self._pending),
            "dropped": self.dropped,
            "received": self.received,
            "callback_errors": self.callback_errors,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    # -- connection supervision --------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self.reconnect_min
        loop = asyncio.get_running_loop()
        first = True
        while not self._stopping:
            self._lost.clear()
            self._connack = loop.create_future()
            self.state = "connecting"
            try:
                connect = self._connect_first if first else self.client.reconnect
                await asyncio.wait_for(loop.run_in_executor(None, connect), self.connect_timeout + 1)
                first = False
                rc = await asyncio.wait_for(self._connack, self.connect_timeout)
                if rc is None:
                    raise ConnectionError(self.last_error or "connection closed before CONNACK")
                if rc.is_failure:
                    raise LinkRefused(f"broker refused the connection: {rc}")
            except (OSError, TimeoutError, ValueError) as err:
                self._note_error(f"connect to {self.host}:{self.port} failed: {err or type(err).__name__}")
                self._close_socket()
            else:
                delay = self.reconnect_min
                await self._lost.wait()
            if self._stopping:
                break
            self.state = "down"
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.reconnect_max)

    def _connect_first(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        self.client.connect(self.host, self.port, self.keepalive, clean_start=True, properties=props)

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(_MISC_INTERVAL)
            if self.state == "up" and self.client.socket() is not None:
                try:
                    self.client.loop_misc()
                except Exception as err:  # keep-alive must never kill the task
                    self._note_error(f"keep-alive failed: {err}")

    def _close_socket(self) -> None:
        sock = self.client.socket()
        if sock is None:
            return
        with contextlib.suppress(Exception):
            self.client._sock_close()

    def _note_error(self, message: str) -> None:
        if message != self.last_error:
            log.warning("mqtt %s:%s: %s", self.host, self.port, message)
        self.last_error = message
        self.last_error_at = time.time()

    def _send(self, msg: Outgoing) -> bool:
        try:
            info = self.client.publish(msg.topic, msg.payload, msg.qos, msg.retain, msg.properties)
        except (ValueError, TypeError) as err:
            self.publish_failed += 1
            self._note_error(f"publish to {msg.topic} rejected: {err}")
            return False
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            self.publish_failed += 1
            self._note_error(f"publish to {msg.topic} failed: {paho.error_string(info.rc)}")
            return False
        self.published += 1
        return True

    # -- socket callbacks (may fire on the executor thread during connect) --------------------

    def _in_loop(self, fn: Callable[[], None]) -> None:
        assert self._loop is not None
        if threading.get_ident() == self._loop_thread:
            fn()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)

    def _cb_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        raw = getattr(sock, "_socket", sock)  # the websocket wrapper keeps the TCP socket inside
        with contextlib.suppress(OSError, AttributeError):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._in_loop(lambda: self._add_reader(sock))

    def _add_reader(self, sock: Any) -> None:
        assert self._loop is not None
        if self._stopping:  # a connect that finished in the executor after stop() began
            self._close_socket()
            return
        current = self.client.socket()
        if current is not None and current is sock:
            self._loop.add_reader(current.fileno(), self._on_readable)

    def _cb_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        fd = sock.fileno()

        def remove() -> None:
            assert self._loop is not None
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(fd)
                self._loop.remove_writer(fd)

        if fd >= 0:
            self._in_loop(remove)

    def _cb_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def add() -> None:
            assert self._loop is not None
            current = self.client.socket()
            if current is not None and current is sock:
                self._loop.add_writer(current.fileno(), self._on_writable)

        self._in_loop(add)

    def _cb_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()

        def remove() -> None:
            assert self._loop is not None
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(fd)

        if fd >= 0:
            self._in_loop(remove)

    def _on_readable(self) -> None:
        try:
            self.client.loop_read()
            sock = self.client.socket()
            # TLS may hold decrypted bytes the file descriptor no longer signals.
            while sock is not None and getattr(sock, "pending", lambda: 0)() > 0:
                self.client.loop_read()
                sock = self.client.socket()
        except Exception as err:
            self._note_error(f"read failed: {err}")
            self._connection_broken()

    def _on_writable(self) -> None:
        try:
            self.client.loop_write()
        except Exception as err:
            self._note_error(f"write failed: {err}")
            self._connection_broken()

    def _connection_broken(self) -> None:
        self._close_socket()
        self._mark_down()

    # -- protocol callbacks (loop thread) -----------------------------------------------------

    def _cb_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(rc)
        if rc.is_failure:
            self._note_error(f"broker refused the connection: {rc}")
            return
        self.state = "up"
        self._up.set()
        self.connects += 1
        self.up_since = time.time()
        for topic, qos in self._subs.items():
            client.subscribe(topic, qos)
        if self.on_connected is not None:
            try:
                self.on_connected()
            except Exception:
                self.callback_errors += 1
                log.exception("mqtt on_connected handler failed")
        while self._pending and self.connected:
            self._send(self._pending.popleft())

    def _cb_disconnect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not self._stopping and rc != 0:
            self._note_error(f"connection lost: {rc}")
        self._mark_down()

    def _mark_down(self) -> None:
        if self.state == "up":
            self.disconnects += 1
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(None)  # the supervisor reads None as "closed before CONNACK"
        if self.state != "off":
            self.state = "down"
        self.up_since = None
        self._up.clear()
        self._lost.set()

    def _cb_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self.received += 1
        if self.on_message is None:
            return
        try:
            self.on_message(msg)
        except Exception:
            self.callback_errors += 1
            log.exception("mqtt message handler failed on %s", msg.topic)

    def _cb_publish(self, client: paho.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self.publish_failed += 1
            self._note_error(f"broker rejected publish {mid}: {rc}")
        fut = self._acks.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _cb_subscribe(self, client: paho.Client, userdata: Any, mid: int, rcs: list[Any], props: Any) -> None:
        for rc in rcs:
            if rc.is_failure:
                self._note_error(f"subscription refused: {rc}")
