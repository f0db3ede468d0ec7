"""Composition root: builds the gateway's parts from config, starts and stops them, reports status.

The core (ledger, catalog, carts, sales, clients, HTTP) always runs. Optional components
(devices, MQTT, HQ link, TSE) are added by :func:`gateway.components.add_components`; one that
fails to start is reported as failed on the status page and the gateway keeps selling.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.api.registry import Api
from gateway.auth import ClientRegistry
from gateway.bus import Bus, Event
from gateway.component import Component
from gateway.config import Config, LedgerConfig
from gateway.idempotency import IdempotencyStore
from gateway.ledger import Ledger
from gateway.notify import Notifier
from gateway.pos.carts import CartService
from gateway.pos.catalog import Catalog
from gateway.pos.payments import PaymentRegistry
from gateway.pos.projections import core_projections
from gateway.pos.sales import SaleService

log = logging.getLogger(__name__)


class RecentErrors(logging.Handler):
    """Keeps the last warnings and errors for the status page."""

    def __init__(self, size: int = 50) -> None:
        super().__init__(logging.WARNING)
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        """Remember one record (message only; never the arguments' secrets beyond the formatted text)."""
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        self.records.appendleft({"ts": record.created, "level": record.levelname, "logger": record.name, "message": msg[:500]})


class Gateway:
    """The running gateway: one per process."""

    def __init__(self, config: Config, data_dir: Path, demo: bool = False) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.demo = demo
        self.version = __version__
        self.boot_id = uuid.uuid4().hex
        self.started = time.time()
        self.bus = Bus()
        lcfg = config.get(LedgerConfig)
        self.ledger = Ledger(self.data_dir / "ledger.db", self.bus, lcfg.busy_timeout_ms)
        for proj in core_projections():
            self.ledger.add_projection(proj)
        self.catalog = Catalog(self.ledger)
        self.clients = ClientRegistry(self.ledger)
        self.idem = IdempotencyStore(self.ledger)
        self.payments = PaymentRegistry()
        self.carts = CartService(self.ledger, self.catalog, config.pos)
        self.sales = SaleService(self.ledger, self.catalog, self.payments, self.idem, config.pos)
        self.carts.line_hooks = self.sales.line_hooks  # one list: carts price like checkouts
        self.components: dict[str, Component] = {}
        self.failed: dict[str, str] = {}
        self.extra_apis: list[Api] = []
        self.hq_handlers: Any = None  # gateway.mirror.InboundHandlers once the HQ link is composed
        self.metrics: dict[str, int] = collections.defaultdict(int)
        self.errors = RecentErrors()
        self.notifier = Notifier()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.http_port = 0
        self.opened = False
        self._count, self._count_at = 0, -1e9

    # ------------------------------------------------------------------ composition

    def add_component(self, component: Component, api: Api | None = None) -> None:
        """Register an optional component (and its HTTP routes) before :meth:`start`."""
        self.components[component.name] = component
        if api is not None:
            self.extra_apis.append(api)

    def open(self) -> None:
        """Open the ledger (synchronous; used by the CLI too)."""
        if not self.opened:
            self.ledger.open()
            self.opened = True

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Open the ledger, bind HTTP, signal READY, then start optional components."""
        logging.getLogger().addHandler(self.errors)
        self.open()
        from gateway.api.server import build_app

        app = build_app(self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        h = host if host is not None else self.config.http.host
        p = port if port is not None else self.config.http.port
        site = web.TCPSite(self._runner, h, p, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else p
        # READY as soon as the ledger is open and HTTP is bound: never wait for HQ or devices.
        self.notifier.ready(self.status_line())
        self.notifier.start_watchdog()
        for name, comp in self.components.items():
            try:
                await comp.start()
            except Exception as err:
                self.failed[name] = f"{type(err).__name__}: {err}"
                log.error("component %s failed to start: %s", name, err)
        self._tasks.append(asyncio.get_running_loop().create_task(self._housekeeping()))
        log.info("storegw %s listening on http://%s:%d (data %s)", self.version, h, self.http_port, self.data_dir)

    async def stop(self) -> None:
        """Stop components, HTTP and the ledger."""
        self.notifier.stopping()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        for name, comp in reversed(list(self.components.items())):
            try:
                await comp.stop()
            except Exception:
                log.exception("component %s failed to stop", name)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
        await self.notifier.close()
        if self.opened:
            self.ledger.close()
            self.opened = False
        logging.getLogger().removeHandler(self.errors)

    async def _housekeeping(self) -> None:
        interval = self.config.get(LedgerConfig).verify_interval_s
        next_verify = time.monotonic() + min(interval, 60) if interval else float("inf")
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(5)
            self.notifier.status(self.status_line())
            if time.monotonic() >= next_verify:
                result = await loop.run_in_executor(None, self.ledger.verify)
                if not result.ok:
                    log.error("ledger verification failed at seq %s: %s", result.first_bad_seq, result.reason)
                next_verify = time.monotonic() + interval

    # ------------------------------------------------------------------ reporting

    def inject_scan(self, device: str, code: str) -> Event:
        """Publish a scan as if ``device`` had read ``code`` (demo and tests)."""
        return self.bus.publish(f"device.{device}.evt.scan", {"device": device, "code": code, "source": "inject"})

    def devices(self) -> list[dict[str, Any]]:
        """Devices reported by components that manage devices."""
        out: list[dict[str, Any]] = []
        for comp in self.components.values():
            fn = getattr(comp, "devices_list", None)
            if callable(fn):
                out.extend(fn())
        return out

    def _product_count(self) -> int:
        # COUNT(*) walks a whole index (tens of ms at a million products); the status page polls
        # every 2 s, so the figure is refreshed at most once a minute.
        now = time.monotonic()
        if now - self._count_at > 60:
            self._count, self._count_at = self.catalog.count(), now
        return self._count

    def _last_receipt_text(self) -> str:
        mgr = self.components.get("devices")
        dev = getattr(mgr, "by_role", lambda r: None)("receipt-printer")
        fn = getattr(getattr(dev, "adapter", None), "last_receipt_text", None)
        try:
            return str(fn()) if callable(fn) else ""
        except Exception as err:
            return f"(preview unavailable: {err})"

    def status_line(self) -> str:
        """One line for systemd's STATUS=."""
        bad = [n for n, c in self.components.items() if n in self.failed or _state(c) in ("failed", "degraded")]
        return f"seq {self.ledger.last_seq}; " + ("all components ok" if not bad else "degraded: " + ", ".join(bad))

    def status(self) -> dict[str, Any]:
        """Everything the status page shows (no secrets, no personal data)."""
        comps: dict[str, Any] = {}
        for name, comp in self.components.items():
            if name in self.failed:
                comps[name] = {"state": "failed", "error": self.failed[name]}
            else:
                try:
                    comps[name] = comp.status()
                except Exception as err:
                    comps[name] = {"state": "failed", "error": str(err)}
        ledger: dict[str, Any] = {"last_seq": self.ledger.last_seq, "commits": self.ledger.commits}
        if self.opened:
            ledger["size_bytes"] = _size(self.ledger.path) + _size(Path(str(self.ledger.path) + "-wal"))
            ledger["last_verification"] = self.ledger.last_verification
            ledger["products"] = self._product_count()
        disk = shutil.disk_usage(self.data_dir) if self.data_dir.exists() else None
        return {
            "version": self.version,
            "boot_id": self.boot_id,
            "store": {"id": self.config.store.id, "name": self.config.store.name},
            "demo": self.demo,
            "uptime_s": int(time.time() - self.started),
            "ledger": ledger,
            "devices": self.devices(),
            "links": {n: comps.get(n, {"state": "off", "reason": "not configured"}) for n in ("mqtt", "hq")},
            "components": comps,
            "disk": {"free_bytes": disk.free, "total_bytes": disk.total} if disk else None,
            "recent_errors": list(self.errors.records)[:20],
            "last_receipt_text": self._last_receipt_text(),
            "pid": os.getpid(),
        }

    def metrics_text(self) -> str:
        """Prometheus text format."""
        lines = [
            "# HELP storegw_up 1 while the gateway runs.", "# TYPE storegw_up gauge", "storegw_up 1",
            "# HELP storegw_uptime_seconds Seconds since start.", "# TYPE storegw_uptime_seconds gauge",
            f"storegw_uptime_seconds {int(time.time() - self.started)}",
            "# HELP storegw_ledger_last_seq Sequence number of the newest journal entry.",
            "# TYPE storegw_ledger_last_seq gauge", f"storegw_ledger_last_seq {self.ledger.last_seq}",
            "# HELP storegw_ledger_commits_total Ledger write transactions since start.",
            "# TYPE storegw_ledger_commits_total counter", f"storegw_ledger_commits_total {self.ledger.commits}",
            "# HELP storegw_ledger_size_bytes Ledger database size including WAL.", "# TYPE storegw_ledger_size_bytes gauge",
            f"storegw_ledger_size_bytes {_size(self.ledger.path) + _size(Path(str(self.ledger.path) + '-wal'))}",
            "# HELP storegw_bus_events_total Events published on the internal bus.", "# TYPE storegw_bus_events_total counter",
            f"storegw_bus_events_total {self.bus.published}",
            "# HELP storegw_http_responses_total HTTP responses by status class.", "# TYPE storegw_http_responses_total counter",
        ]
        for cls in ("2xx", "3xx", "4xx", "5xx"):
            lines.append(f'storegw_http_responses_total{{class="{cls}"}} {self.metrics.get("http_" + cls, 0)}')
        lines += ["# HELP storegw_component_up 1 when a component reports ok.", "# TYPE storegw_component_up gauge"]
        for name, comp in self.components.items():
            ok = 0 if name in self.failed else int(_state(comp) == "ok")
            lines.append(f'storegw_component_up{{component="{name}"}} {ok}')
        return "\n".join(lines) + "\n"


def _state(comp: Component) -> str:
    try:
        return str(comp.status().get("state", "ok"))
    except Exception:
        return "failed"


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0
