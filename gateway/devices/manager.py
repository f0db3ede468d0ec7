"""The device manager component: owns every device, keeps it connected, serialises its commands.

Each managed device has a stable id (``printer-1``), a role (``receipt-printer``), an adapter and
a state (``online``/``offline``/``error`` + reason). A supervisor task per device opens it,
health-checks it periodically and reconnects with exponential backoff after a failure; every
state change is published on the bus (``device.{id}.status``), as are the adapter's events
(``device.{id}.evt.{name}``) and latest state (``device.{id}.state``). Commands to one device run
one at a time; effectful commands (print, drawer) carry an idempotency key so a retry does not
repeat the effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gateway.bus import Bus
from gateway.config import StoreConfig, opt, section
from gateway.devices.base import DeviceAdapter, DeviceError, UnknownAction
from gateway.devices.discovery import catalogue_path
from gateway.errors import BadRequest, ConfigError, GatewayError, NotFound
from gateway.idempotency import IdemKey, IdempotencyStore

log = logging.getLogger(__name__)
RESCAN_SETTLE_S = 0.3  # after the first add uevent of a plug, before looking at sysfs

AdapterFactory = Callable[[dict[str, Any]], DeviceAdapter]
FACTORIES: dict[str, AdapterFactory] = {}


def register_driver(name: str, factory: AdapterFactory) -> None:
    """Make a driver available to ``[devices.pinned.*] driver = name``."""
    FACTORIES[name] = factory


@section
@dataclass(frozen=True)
class DevicesConfig:
    """Devices: discovery and devices pinned by configuration."""

    SECTION: ClassVar[str] = "devices"
    discovery: bool = opt(True, "Watch USB/serial/input devices (sysfs + netlink uevents) and match them against the catalogue.")
    catalogue: str = opt("", "Device catalogue file (vid:pid -> driver, kind); empty = firmware-config/devices.toml of the "
                               "source tree, else devices.toml next to the config file (where provisioning installs it).")
    health_interval_s: int = opt(5, "Seconds between health checks of an online device.", min=1, max=3600)
    reconnect_min_s: int = opt(1, "First reconnect delay after a failure.", min=1, max=60)
    reconnect_max_s: int = opt(30, "Largest reconnect delay (exponential backoff).", min=1, max=3600)
    command_timeout_s: int = opt(30, "Longest a device command may take before it fails.", min=1, max=600)
    hid_layout: str = opt("de", "Keyboard layout of discovered HID (keyboard-mode) scanners.", choices=["us", "de"])
    pinned: dict[str, Any] = opt({}, "Devices by id: a table per device with `driver`, `role` and driver options, e.g. "
                           "`[devices.pinned.printer-1] driver = \"escpos\"`, `host = \"10.0.0.5\"`, `role = \"receipt-printer\"`.")


class ManagedDevice:
    """One device under supervision."""

    def __init__(self, dev_id: str, role: str, adapter: DeviceAdapter, manager: DeviceManager, source: str) -> None:
        self.id = dev_id
        self.role = role
        self.adapter = adapter
        self.manager = manager
        self.source = source
        self.state = "offline"
        self.reason = "not connected yet"
        self.since = time.time()
        self.last_state: dict[str, Any] = {}
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None
        self.commands = 0
        self.failures = 0
        self._wake = asyncio.Event()

    def info(self) -> dict[str, Any]:
        """Static description for ``device/{id}/info``."""
        return {"id": self.id, "kind": self.adapter.kind, "role": self.role, "source": self.source,
                "actions": sorted(self.adapter.actions), **self.adapter.describe()}

    def to_dict(self) -> dict[str, Any]:
        """Status for the API and the status page."""
        return {**self.info(), "state": self.state, "reason": self.reason, "since": self.since,
                "last_state": self.last_state, "commands": self.commands, "failures": self.failures}

    def _set(self, state: str, reason: str = "") -> None:
        if state == self.state and reason == self.reason:
            return
        self.state, self.reason, self.since = state, reason, time.time()
        log.log(logging.WARNING if state != "online" else logging.INFO, "device %s %s%s", self.id, state,
                f": {reason}" if reason else "")
        self.manager.bus.publish(f"device.{self.id}.status", {"device": self.id, "state": state, "reason": reason})

    def _emit_event(self, name: str, data: dict[str, Any]) -> None:
        self.manager.bus.publish(f"device.{self.id}.evt.{name}", {"device": self.id, "role": self.role, **data})

    def _emit_state(self, state: dict[str, Any]) -> None:
        self.last_state = state
        self.manager.bus.publish(f"device.{self.id}.state", {"device": self.id, **state})

    def kick(self) -> None:
        """Retry a connection now (hot-plug)."""
        self._wake.set()

    async def supervise(self) -> None:
        """Open, health-check and reconnect forever."""
        cfg = self.manager.cfg
        delay = float(cfg.reconnect_min_s)
        self.manager.bus.publish(f"device.{self.id}.info", self.info())
        while True:
            try:
                async with self.lock:
                    await asyncio.wait_for(self.adapter.open(self._emit_event, self._emit_state), cfg.command_timeout_s)
                self._set("online")
                delay = float(cfg.reconnect_min_s)
                while True:
                    await asyncio.sleep(cfg.health_interval_s)
                    async with self.lock:
                        details = await asyncio.wait_for(self.adapter.health(), cfg.command_timeout_s)
                    if details:
                        self._emit_state(details)
                    if details.get("error"):
                        self._set("error", str(details["error"]))
                    else:
                        self._set("online")
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.failures += 1
                self._set("offline", _reason(err))
                with contextlib.suppress(Exception):
                    await self.adapter.close()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            delay = min(delay * 2, float(cfg.reconnect_max_s))

    async def run(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run a command, serialised with every other use of this device."""
        if action not in self.adapter.actions:
            raise UnknownAction(f"device {self.id} has no action {action!r} (has: {', '.join(sorted(self.adapter.actions))})")
        async with self.lock:
            self.commands += 1
            try:
                return await asyncio.wait_for(self.adapter.command(action, params), self.manager.cfg.command_timeout_s)
            except GatewayError:
                raise
            except (ValueError, TypeError, KeyError) as err:
                if type(err).__module__.startswith("drivers."):
                    # A driver's own error (e.g. a malformed status reply) is the device's problem.
                    raise DeviceError(f"device {self.id}: {action} failed: {_reason(err)}", device=self.id) from err
                # Wrong or missing parameters of the command: the caller's mistake, not the device's.
                raise BadRequest(f"device {self.id}: {action}: bad parameters: {err}", device=self.id) from err
            except TimeoutError as err:
                self._set("error", "command timed out")
                self.kick()
                raise DeviceError(f"device {self.id}: {action} timed out", device=self.id) from err
            except Exception as err:
                # A driver error: report it with its reason; a broken transport goes to reconnect.
                if isinstance(err, ConnectionError | OSError):
                    self._set("offline", _reason(err))
                    self.kick()
                raise DeviceError(f"device {self.id}: {action} failed: {_reason(err)}", device=self.id) from err


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class DeviceManager:
    """Component ``devices``: builds adapters from config and discovery and supervises them."""

    name = "devices"

    def __init__(self, cfg: DevicesConfig, bus: Bus, idem: IdempotencyStore | None = None, file: str = "<config>",
                 data_dir: Path | None = None, sysfs: Path = Path("/sys/bus/usb/devices"),
                 store: StoreConfig | None = None) -> None:
        from gateway.devices.autodiscover import StableIds

        self.cfg = cfg
        self.bus = bus
        self.idem = idem
        self.config_file = file
        self.store = store  # the identity printed on receipts, handed to adapters that print them
        self.devices: dict[str, ManagedDevice] = {}
        self.watcher: Any = None
        self.sysfs = sysfs
        self.ids = StableIds(data_dir / "device-ids.json" if data_dir else None)
        for dev_id, spec in cfg.pinned.items():
            self.add_from_spec(dev_id, spec, file)

    def add_from_spec(self, dev_id: str, spec: Any, file: str = "<config>") -> ManagedDevice:
        """Build a device from a pinned-device table; errors name the key."""
        where = f"pinned.{dev_id}"
        if not isinstance(spec, dict):
            raise ConfigError(file, "devices", where, "must be a table")
        driver = spec.get("driver")
        if driver not in FACTORIES:
            raise ConfigError(file, "devices", f"{where}.driver", f"unknown driver {driver!r} (known: {', '.join(sorted(FACTORIES))})")
        try:
            adapter = FACTORIES[driver](spec)
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(file, "devices", where, f"invalid options: {err}") from err
        role = spec.get("role") or f"{adapter.kind}"
        return self.add(dev_id, str(role), adapter, "config")

    def add(self, dev_id: str, role: str, adapter: DeviceAdapter, source: str = "code") -> ManagedDevice:
        """Manage an adapter under ``dev_id`` (starts supervising when the manager runs)."""
        if dev_id in self.devices:
            raise ConfigError("<devices>", "devices", dev_id, "duplicate device id")
        bind_store = getattr(adapter, "bind_store", None)
        if bind_store is not None and self.store is not None:
            bind_store(self.store)
        dev = ManagedDevice(dev_id, role, adapter, self, source)
        self.devices[dev_id] = dev
        if self._running:
            dev.task = asyncio.get_running_loop().create_task(dev.supervise())
        return dev

    _running = False

    async def remove(self, dev_id: str) -> None:
        """Stop supervising a device (unplugged for good)."""
        dev = self.devices.pop(dev_id, None)
        if dev and dev.task:
            dev.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dev.task
            await dev.adapter.close()

    async def start(self) -> None:
        """Start supervising every device and, if configured, watching for hot-plug."""
        self._running = True
        loop = asyncio.get_running_loop()
        for dev in self.devices.values():
            dev.task = loop.create_task(dev.supervise())
        if self.cfg.discovery:
            from gateway.devices.discovery import UeventWatcher

            self.rescan()
            self.watcher = UeventWatcher(self._on_uevent)
            self.watcher.start()

    def rescan(self) -> list[str]:
        """Add catalogue devices found in sysfs that are not managed yet."""
        from gateway.devices.autodiscover import discover

        try:
            return discover(self, self.ids, catalogue_path(self.cfg.catalogue, self.config_file), self.sysfs,
                            self.cfg.hid_layout)
        except OSError as err:
            log.warning("device discovery failed: %s", err)
            return []

    _rescan_handle: asyncio.TimerHandle | None = None

    def _on_uevent(self, event: dict[str, str]) -> None:
        # One plug sends a burst of add events (usb, tty, input...): one rescan after it settles.
        if event.get("ACTION") == "add" and self._rescan_handle is None:
            self._rescan_handle = asyncio.get_running_loop().call_later(RESCAN_SETTLE_S, self._settled_rescan)
        # A hot-plugged device may be one we are waiting for: retry all offline devices now.
        for dev in self.devices.values():
            if dev.state != "online":
                dev.kick()
        self.bus.publish("devices.uevent", {k: event.get(k, "") for k in ("ACTION", "SUBSYSTEM", "DEVNAME", "PRODUCT")})

    def _settled_rescan(self) -> None:
        self._rescan_handle = None
        self.rescan()

    async def stop(self) -> None:
        """Stop every supervisor and close adapters."""
        self._running = False
        if self._rescan_handle is not None:
            self._rescan_handle.cancel()
            self._rescan_handle = None
        if self.watcher:
            self.watcher.stop()
            self.watcher = None
        for dev_id in list(self.devices):
            dev = self.devices[dev_id]
            if dev.task:
                dev.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await dev.task
            with contextlib.suppress(Exception):
                await dev.adapter.close()

    def get(self, dev_id: str) -> ManagedDevice:
        """A device by id or role."""
        dev = self.devices.get(dev_id)
        if dev is None:
            for d in self.devices.values():
                if d.role == dev_id:
                    return d
            raise NotFound(f"no device {dev_id}")
        return dev

    def by_role(self, role: str) -> ManagedDevice | None:
        """The first device with a role."""
        for d in self.devices.values():
            if d.role == role:
                return d
        return None

    async def command(self, dev_id: str, action: str, params: dict[str, Any], idem: IdemKey | None = None) -> dict[str, Any]:
        """Run a command; effectful actions need and honour an idempotency key."""
        dev = self.get(dev_id)
        if action in dev.adapter.idempotent_actions and idem is not None and self.idem is not None:
            async with self.idem.lock(idem):
                prior = self.idem.lookup(idem)
                if prior is not None:
                    return prior[1]
                result = await dev.run(action, params)
                await self.idem.record_alone(idem, 200, result)
                return result
        return await dev.run(action, params)

    def devices_list(self) -> list[dict[str, Any]]:
        """All devices with state."""
        return [d.to_dict() for d in self.devices.values()]

    def status(self) -> dict[str, Any]:
        """Component status."""
        states = [d.state for d in self.devices.values()]
        bad = [d.id for d in self.devices.values() if d.state != "online"]
        return {"state": "ok" if not bad else "degraded", "devices": len(states), "online": states.count("online"),
                "not_online": bad, "hotplug": bool(self.watcher and self.watcher.active)}
