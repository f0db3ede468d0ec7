"""Devices the gateway finds by itself: catalogue matches of USB devices, with ids that stay stable.

A USB device whose vid:pid is in the catalogue (``firmware-config/devices.toml``) becomes a
managed device when its kind and nodes tell how to drive it: a scanner by its tty (serial/CDC
mode) or its evdev node (keyboard mode), a scale by its tty, a printer over USB. Its id
(``scanner-1``, ``printer-1``, …) is remembered per device key (vid:pid plus serial number, or the
USB port path) in ``DATA_DIR/device-ids.json``, so the same device gets the same id after a replug
or a reboot. The first device of a kind gets the kind's default role unless a pinned device has it.
USB-serial adapters stay unmanaged: only the config knows what hangs off them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from gateway.devices.discovery import UsbDevice, load_catalogue, scan_usb

log = logging.getLogger(__name__)

DEFAULT_ROLES = {"printer": "receipt-printer", "scanner": "main-scanner", "scale": "checkout-scale", "display": "customer-display"}


class StableIds:
    """device key -> id, persisted atomically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.ids: dict[str, str] = {}
        if path is not None and path.exists():
            try:
                self.ids = dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as err:
                log.warning("device id file %s unreadable (%s); ids are assigned anew", path, err)

    def get(self, key: str, kind: str, taken: set[str]) -> str:
        """The id of ``key``, assigning the next free ``{kind}-{n}`` the first time."""
        if key in self.ids:
            return self.ids[key]
        used = taken | set(self.ids.values())
        n = 1
        while f"{kind}-{n}" in used:
            n += 1
        self.ids[key] = f"{kind}-{n}"
        self._save()
        return self.ids[key]

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.ids, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


def spec_for(dev: UsbDevice, entry: dict[str, Any], hid_layout: str) -> dict[str, Any] | None:
    """Adapter options for a catalogue match, or None when it cannot be driven without config."""
    kind = entry.get("kind", "")
    ttys = [n for n in dev.nodes if "/tty" in n]
    events = [n for n in dev.nodes if "/input/event" in n]
    if kind == "scanner":
        if ttys:
            return {"driver": "serial-scanner", "port": ttys[0]}
        if events:
            return {"driver": "hid-scanner", "path": events[0], "layout": hid_layout}
    elif kind == "scale" and ttys:
        return {"driver": "scale", "port": ttys[0], "protocol": str(entry.get("protocol", "mtsics"))}
    elif kind == "printer":
        return {"driver": "escpos", "usb": f"{dev.vid}:{dev.pid}"}
    elif kind == "display" and ttys:
        return {"driver": "pole-display", "port": ttys[0]}
    return None


def discover(manager: Any, ids: StableIds, catalogue_path: Path | None, sysfs: Path, hid_layout: str) -> list[str]:
    """Add catalogue devices not managed yet; returns the ids added."""
    catalogue = load_catalogue(catalogue_path)
    added: list[str] = []
    # Transports of configured devices ("serial:/dev/ttyACM0@9600", "evdev:/dev/input/..."): a
    # discovered node they already use is not managed a second time.
    pinned = {m for d in manager.devices.values() if d.source == "config"
              for m in re.findall(r"/dev/[^@\s]+", str(d.adapter.describe().get("transport", "")))}
    for dev in scan_usb(sysfs):
        entry = catalogue.get(f"{dev.vid}:{dev.pid}")
        if entry is None:
            continue
        spec = spec_for(dev, entry, hid_layout)
        if spec is None or any(str(v) in pinned for v in spec.values()):
            continue
        kind = str(entry.get("kind"))
        dev_id = ids.get(dev.key, kind, set(manager.devices))
        if dev_id in manager.devices:
            continue  # known: its supervisor reconnects it (hot-plug kicks it)
        from gateway.devices.manager import FACTORIES

        try:
            adapter = FACTORIES[spec["driver"]](spec)
        except (KeyError, TypeError, ValueError) as err:
            log.warning("discovered %s (%s) but cannot drive it: %s", dev.key, entry.get("id"), err)
            continue
        role = DEFAULT_ROLES.get(kind, kind)
        if manager.by_role(role) is not None:
            role = f"{role}-{dev_id}"
        manager.add(dev_id, role, adapter, "discovered")
        added.append(dev_id)
        log.info("discovered %s as %s (%s, %s)", entry.get("id"), dev_id, role, spec)
    return added
