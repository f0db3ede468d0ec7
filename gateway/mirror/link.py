"""The HQ link component: one NATS connection carrying the relay, the inbound consumer and the config watch.

Everything runs in background tasks: :meth:`HqLink.start` returns at once and the store sells
whether HQ is reachable or not. The connection retries forever; client pings notice a dead WAN
link within ``ping_interval_s × (max_outstanding_pings + 1)``. Link state, backlog, last acked
seq and dead letters are published as bus event ``hq.status`` (on change and periodically) for
the status page and the retained MQTT topic ``gateway/hq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import ssl
import time
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from gateway.bus import Bus
from gateway.config import StoreConfig
from gateway.ledger import Ledger
from gateway.ledger.store import LedgerError
from gateway.mirror.config import HqConfig
from gateway.mirror.inbound import InboundHandlers, InboundMessage, Inbox
from gateway.mirror.relay import Relay
from gateway.mirror.subjects import H_MSG_ID, default_consumer, inbound_filters

log = logging.getLogger(__name__)


def connect_options(cfg: HqConfig, store_id: str) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect`` from the ``[hq]`` section (callbacks excluded)."""
    opts: dict[str, Any] = {
        "servers": list(cfg.urls),
        "name": f"storegw-{store_id}",
        "inbox_prefix": (cfg.inbox_prefix or f"_INBOX_{store_id}").encode(),
        "connect_timeout": cfg.connect_timeout_s,
        "reconnect_time_wait": cfg.reconnect_wait_s,
        "max_reconnect_attempts": -1,
        "allow_reconnect": True,
        "ping_interval": cfg.ping_interval_s,
        "max_outstanding_pings": cfg.max_outstanding_pings,
        # Nothing is buffered while offline: the journal is the buffer, and a buffered publish
        # sent after reconnect could overtake one lost with the old socket (see relay.py).
        "pending_size": 0,
    }
    if cfg.tls or cfg.ca_file or cfg.cert_file or any(u.startswith("tls://") for u in cfg.urls):
        ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
        if cfg.cert_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file or None)
        opts["tls"] = ctx
    if cfg.creds_file:
        opts["user_credentials"] = cfg.creds_file
    elif cfg.nkey_file:
        opts["nkeys_seed"] = cfg.nkey_file
    return opts


class HqLink:
    """Component ``hq``: relay + inbound consumer + KV config watch over one NATS connection.

    Best constructed before ``ledger.open()`` so its inbox tables are migrated with the ledger;
    :meth:`start` creates them otherwise.
    """

    name = "hq"

    def __init__(
        self,
        config: HqConfig,
        store: StoreConfig,
        ledger: Ledger,
        bus: Bus | None = None,
        handlers: InboundHandlers | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.ledger = ledger
        self.bus = bus
        self.handlers = handlers or InboundHandlers()
        self.inbox = Inbox(ledger, self.handlers, bus)
        if ledger.opened_at == 0.0:
            Inbox.register_schema(ledger)
        self.relay: Relay | None = None
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self.link = "off"
        self.connected_at: float | None = None
        self.disconnects = 0
        self.settings: dict[str, Any] = {}
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_status: dict[str, Any] = {}

    @property
    def enabled(self) -> bool:
        """True when the section enables the link and names a server."""
        return self.config.enabled and bool(self.config.urls)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the background tasks; returns immediately (never waits for HQ)."""
        if not self.enabled:
            self.link = "off"
            return
        # Built after ledger.open(): the migration was not registered in time, create the tables now.
        await self.inbox.ensure_schema()
        c = self.config
        self.relay = Relay(
            self.ledger,
            self.store.id,
            stream=c.stream,
            window=c.publish_window,
            ack_timeout=c.ack_timeout_s,
            batch_size=c.batch_size,
            cursor_flush_s=c.cursor_flush_ms / 1000,
        )
        self.link = "connecting"
        for coro in (self._connect(), self._relay_loop(), self._inbound_loop(), self._kv_loop(), self._status_loop()):
            self._tasks.append(asyncio.create_task(coro))

    async def stop(self) -> None:
        """Cancel the tasks, persist the cursor and close the connection; idempotent."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.relay is not None:
            with contextlib.suppress(Exception):
                await self.relay.flush_cursor(force=True)
            self.relay.close()
        nc, self.nc = self.nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2)
        self._connected.clear()
        if self.link != "off":
            self.link = "stopped"

    # ------------------------------------------------------------------ connection

    async def _connect(self) -> None:
        async def on_disconnect() -> None:
            self._set_link("disconnected")
            self.disconnects += 1
            self._connected.clear()
            if self.nc is not None:
                # Unflushed commands would be sent after reconnect, behind entries lost with the
                # old socket; the relay re-sends from its cursor anyway.
                self.nc._pending = []
                self.nc._pending_data_size = 0
            if self.relay is not None:
                self.relay.abort_window("disconnected")

        async def on_reconnect() -> None:
            self._on_connected()

        async def on_error(err: Exception) -> None:
            log.info("HQ link: %s", err)

        while True:
            try:
                self.nc = await nats.connect(
                    **connect_options(self.config, self.store.id),
                    disconnected_cb=on_disconnect,
                    reconnected_cb=on_reconnect,
                    error_cb=on_error,
                )
                break
            except (OSError, nats.errors.Error) as err:
                # nats-py gives up on a first connect that fails fast (refused); keep trying.
                log.info("HQ link: connect failed: %s", err)
                await asyncio.sleep(self.config.reconnect_wait_s)
        self.js = self.nc.jetstream(timeout=self.config.ack_timeout_s, publish_async_max_pending=max(4000, self.config.publish_window))
        self._on_connected()

    def _on_connected(self) -> None:
        self.connected_at = time.time()
        self._connected.set()
        self._set_link("connected")

    def _set_link(self, state: str) -> None:
        if state != self.link:
            log.info("HQ link %s", state)
            self.link = state
            self._publish_status()

    async def _while_connected(self) -> JetStreamContext:
        await self._connected.wait()
        assert self.js is not None
        return self.js

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(min(self.config.reconnect_wait_s, 0.1 * 2**attempt))

    # ------------------------------------------------------------------ outbound

    async def _relay_loop(self) -> None:
        assert self.relay is not None
        attempt = 0
        while True:
            js = await self._while_connected()
            try:
                await self.relay.drain(js)
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt += 1
                await self._backoff(attempt)
            else:
                attempt = 0

    # ------------------------------------------------------------------ inbound

    async def _inbound_loop(self) -> None:
        c = self.config
        durable = c.consumer or default_consumer(self.store.id)
        attempt = 0
        while True:
            js = await self._while_connected()
            try:
                cfg = ConsumerConfig(
                    durable_name=durable,
                    name=durable,
                    filter_subjects=inbound_filters(self.store.id, self.store.zone),
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    max_ack_pending=max(1000, c.fetch_batch),
                    ack_wait=30,
                )
                try:
                    # Create or update the filters (zone change); a store without the right to
                    # manage consumers (error reply, or no reply at all) binds to HQ's consumer.
                    await js.add_consumer(c.inbound_stream, cfg)
                except (nats.js.errors.APIError, nats.errors.TimeoutError) as err:
                    log.info("HQ inbound: cannot create consumer %s (%s); binding to the existing one", durable, err)
                psub = await js.pull_subscribe_bind(durable, c.inbound_stream)
                attempt = 0
                try:
                    while True:
                        try:
                            msgs = await psub.fetch(c.fetch_batch, timeout=c.fetch_wait_s)
                        except nats.errors.TimeoutError:
                            continue
                        for msg in msgs:
                            await self._handle(msg)
                finally:
                    with contextlib.suppress(Exception):
                        await psub.unsubscribe()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.info("HQ inbound consumer: %s: %s", type(err).__name__, err)
                attempt += 1
                await self._backoff(attempt)

    async def _handle(self, msg: Msg) -> None:
        md = msg.metadata
        result = await self.inbox.apply(
            InboundMessage(
                stream_seq=md.sequence.stream,
                subject=msg.subject,
                data=msg.data,
                num_delivered=md.num_delivered,
                msg_id=(msg.headers or {}).get(H_MSG_ID, ""),
            )
        )
        if result.outcome == "dead":
            await msg.term()
            self._publish_status()
        else:
            await msg.ack()

    # ------------------------------------------------------------------ store configuration

    async def _kv_loop(self) -> None:
        bucket = self.config.kv_bucket
        if not bucket:
            return
        prefix = f"{self.store.id}."
        attempt = 0
        while True:
            js = await self._while_connected()
            try:
                try:
                    kv = await js.key_value(bucket)
                except nats.js.errors.BucketNotFoundError:
                    log.warning("HQ config bucket %s does not exist; checking again in 30 s", bucket)
                    await asyncio.sleep(30)
                    continue
                watcher = await kv.watch(f"{self.store.id}.>")
                attempt = 0
                try:
                    # The watch delivers the current values, then None, then updates; it is
                    # re-created after every reconnect so no change is missed.
                    seen_at = self.connected_at
                    while self._connected.is_set() and seen_at == self.connected_at:
                        try:
                            entry = await watcher.updates(timeout=1)
                        except nats.errors.TimeoutError:
                            continue
                        if entry is None:
                            continue
                        self._apply_setting(entry.key[len(prefix) :], entry.value, entry.operation)
                finally:
                    with contextlib.suppress(Exception):
                        await watcher.stop()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.info("HQ config watch: %s: %s", type(err).__name__, err)
                attempt += 1
                await self._backoff(attempt + 3)

    def _apply_setting(self, key: str, value: bytes | None, operation: str | None) -> None:
        if operation in ("DEL", "PURGE") or value is None:
            changed = self.settings.pop(key, None) is not None
        else:
            try:
                decoded: Any = json.loads(value)
            except (UnicodeDecodeError, json.JSONDecodeError):
                decoded = value.decode("utf-8", errors="replace")
            changed = self.settings.get(key) != decoded
            self.settings[key] = decoded
        if changed and self.bus is not None:
            self.bus.publish("hq.config", {"key": key, "settings": dict(self.settings)})

    # ------------------------------------------------------------------ status

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.config.status_interval_s))
            snap = self.status()
            # Publish when something moved, otherwise every status_interval_s.
            stale = time.monotonic() - self._last_status.get("_mono", 0.0) >= self.config.status_interval_s
            if stale or {k: v for k, v in snap.items() if k != "last_ack_at"} != self._last_status.get("snap"):
                self._publish_status(snap)

    def _publish_status(self, snap: dict[str, Any] | None = None) -> None:
        snap = snap or self.status()
        self._last_status = {"snap": {k: v for k, v in snap.items() if k != "last_ack_at"}, "_mono": time.monotonic()}
        if self.bus is not None:
            self.bus.publish("hq.status", snap)

    async def request(self, op: str, body: dict[str, Any], wait_s: float = 3.0) -> dict[str, Any]:
        """Request/reply to HQ on ``hqrpc.{store}.{op}`` (see ``gateway.hq.rpc``)."""
        from gateway.hq.rpc import call

        return await call(self.nc, self.store.id, op, body, wait_s)

    def status(self) -> dict[str, Any]:
        """Link state, relay progress, inbound counters and dead letters."""
        if not self.enabled:
            return {"state": "off", "link": "off"}
        relay = self.relay.status() if self.relay else {}
        try:
            dead: int | None = self.inbox.dead_letter_count()
        except (LedgerError, sqlite3.Error):
            dead = None  # ledger closed during shutdown
        state = "ok" if self.link == "connected" else "degraded"
        return {
            "state": state,
            "link": self.link,
            "server": str(self.nc.connected_url.netloc) if self.nc and self.nc.connected_url else None,
            "disconnects": self.disconnects,
            **relay,
            "inbound_applied": self.inbox.applied,
            "inbound_duplicates": self.inbox.duplicates,
            "dead_letters": dead,
            "config_keys": sorted(self.settings),
        }
