"""Device discovery from sysfs and kernel uevents over netlink (no polling loop).

``scan_usb`` reads ``/sys/bus/usb/devices/*`` (idVendor, idProduct, serial, manufacturer,
product) and the tty/input/usbmisc nodes below each device; ``UeventWatcher`` listens on a
``NETLINK_KOBJECT_UEVENT`` socket (the kernel's hot-plug announcements, the same source udev
uses) through the event loop's reader, so plugging a device in is noticed at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NETLINK_KOBJECT_UEVENT = 15
DEFAULT_CATALOGUE = Path(__file__).resolve().parents[2] / "firmware-config" / "devices.toml"


@dataclass(frozen=True, slots=True)
class UsbDevice:
    """One USB device found in sysfs."""

    sys_path: str
    vid: str
    pid: str
    serial: str
    manufacturer: str
    product: str
    nodes: tuple[str, ...]

    @property
    def key(self) -> str:
        """A key that stays the same across replug and reboot (serial, else the port path)."""
        return f"{self.vid}:{self.pid}:{self.serial or Path(self.sys_path).name}"


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def scan_usb(root: Path = Path("/sys/bus/usb/devices")) -> list[UsbDevice]:
    """USB devices present now with their device nodes (ttyUSB/ttyACM, event*, lp*, hidraw*)."""
    out: list[UsbDevice] = []
    if not root.is_dir():
        return out
    for dev in sorted(root.iterdir()):
        vid = _read(dev / "idVendor")
        if not vid:
            continue
        nodes: list[str] = []
        real = dev.resolve()
        for pattern in ("*/tty/*", "*/*/tty/*", "*/input/*/event*", "*/usbmisc/*", "*/hidraw/*", "*/tty*"):
            for n in real.glob(pattern):
                name = n.name
                if name.startswith(("tty", "event", "lp", "hidraw")) and name != "tty":
                    nodes.append("/dev/" + ("input/" if name.startswith("event") else "") + name)
        out.append(UsbDevice(str(real), vid.lower(), _read(dev / "idProduct").lower(), _read(dev / "serial"),
                             _read(dev / "manufacturer"), _read(dev / "product"), tuple(sorted(set(nodes)))))
    return out


def catalogue_path(configured: str = "", config_file: str = "") -> Path:
    """The catalogue to use: the configured file; else the one in the source tree; else
    ``devices.toml`` next to the config file, where provisioning installs it (an installed
    package has no ``firmware-config/``)."""
    if configured:
        return Path(configured)
    if DEFAULT_CATALOGUE.is_file() or not config_file or config_file.startswith("<"):
        return DEFAULT_CATALOGUE
    return Path(config_file).parent / "devices.toml"


def load_catalogue(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """``vid:pid`` -> entry (driver, kind, name, notes) from the catalogue TOML."""
    p = path or DEFAULT_CATALOGUE
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        log.warning("device catalogue %s unusable: %s", p, err)
        return {}
    entries = doc.get("device") or doc.get("devices") or []
    out: dict[str, dict[str, Any]] = {}
    if isinstance(entries, dict):
        entries = [dict(v, id=k) for k, v in entries.items()]
    for e in entries:
        if isinstance(e, dict) and "vid" in e and "pid" in e:
            out[f"{str(e['vid']).lower()}:{str(e['pid']).lower()}"] = e
    return out


def match(devices: list[UsbDevice], catalogue: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Discovered devices with their catalogue entry (``known`` False when not in the catalogue)."""
    out = []
    for d in devices:
        entry = catalogue.get(f"{d.vid}:{d.pid}")
        out.append({"key": d.key, "vid": d.vid, "pid": d.pid, "serial": d.serial, "manufacturer": d.manufacturer,
                    "product": d.product, "nodes": list(d.nodes), "known": entry is not None,
                    "kind": (entry or {}).get("kind", ""), "driver": (entry or {}).get("driver", "")})
    return out


def parse_uevent(data: bytes) -> dict[str, str] | None:
    """Decode one kernel uevent datagram (``ACTION@DEVPATH\\0KEY=VALUE\\0...``); None for udev's own format."""
    if data.startswith(b"libudev"):
        return None
    parts = data.split(b"\0")
    head = parts[0].decode("utf-8", "replace")
    if "@" not in head:
        return None
    event: dict[str, str] = {}
    for p in parts[1:]:
        if b"=" in p:
            k, _, v = p.partition(b"=")
            event[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    event.setdefault("ACTION", head.split("@", 1)[0])
    event.setdefault("DEVPATH", head.split("@", 1)[1])
    return event


class UeventWatcher:
    """Calls back on every kernel uevent, from the event loop (no thread, no polling)."""

    def __init__(self, callback: Callable[[dict[str, str]], None], subsystems: tuple[str, ...] = ("usb", "tty", "input", "usbmisc")) -> None:
        self.callback = callback
        self.subsystems = subsystems
        self.sock: socket.socket | None = None
        self.active = False
        self.error = ""

    def start(self) -> None:
        """Open the netlink socket; without permission it logs and stays inactive."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                                 NETLINK_KOBJECT_UEVENT)
            sock.bind((os.getpid(), 1))
        except OSError as err:
            try:
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT)
                sock.bind((0, 1))
            except OSError:
                self.error = f"netlink uevents unavailable: {err}"
                log.warning("hot-plug detection off: %s", self.error)
                return
        self.sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        self.active = True

    def _readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as err:
                log.warning("uevent socket error: %s", err)
                return
            try:
                event = parse_uevent(data)
                if event and event.get("SUBSYSTEM") in self.subsystems:
                    self.callback(event)
            except Exception:
                log.exception("uevent handler failed")

    def stop(self) -> None:
        """Close the socket."""
        if self.sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            except RuntimeError:
                pass
            self.sock.close()
            self.sock = None
        self.active = False
