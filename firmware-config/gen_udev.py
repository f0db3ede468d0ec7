#!/usr/bin/env python3
"""Generates the udev rules 99-storegw.rules from the device catalogue devices.toml.

Each catalogue entry becomes one rule per Linux interface it lists: the device node gets the
group storegw.service is a member of (dialout, input, lp, plugdev), mode 0660, a stable
``/dev/pos/<id>-...`` symlink, and the udev properties ``STOREGW_DEVICE``/``STOREGW_KIND``/
``STOREGW_DRIVER`` the gateway's hot-plug watcher reads. Serial nodes are hidden from
ModemManager, which would otherwise probe them with AT commands for seconds.

Usage: ``python3 firmware-config/gen_udev.py`` rewrites the rules file; ``--check`` only
reports (exit 1) when the committed file is out of date. Standard library only, so the Ansible
controller can run it too.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE / "devices.toml"
RULES = HERE / "99-storegw.rules"
KINDS = {"scanner", "printer", "scale", "drawer", "display", "serial-adapter"}
INTERFACES = ("usb", "tty", "input", "hidraw")
DEFAULT_GROUP = {"tty": "dialout", "input": "input", "hidraw": "plugdev", "usb": "plugdev"}
HEX4 = re.compile(r"^[0-9a-f]{4}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class CatalogueError(ValueError):
    """The catalogue is malformed; names the entry and the field."""

    def __init__(self, entry: str, field: str, message: str) -> None:
        super().__init__(f"{CATALOGUE.name}: device {entry!r}: {field}: {message}")
        self.entry, self.field = entry, field


@dataclass(frozen=True, slots=True)
class Device:
    """One catalogue entry."""

    id: str
    vid: str
    pid: str
    kind: str
    driver: str
    interfaces: tuple[str, ...]
    group: str
    notes: str
    source: str

    def group_for(self, interface: str) -> str:
        """The group that owns this device's node on ``interface``."""
        return self.group or ("lp" if self.kind == "printer" and interface == "usb" else DEFAULT_GROUP[interface])


def _str(raw: dict[str, object], entry: str, key: str, required: bool = True) -> str:
    value = raw.get(key, None if required else "")
    if not isinstance(value, str):
        raise CatalogueError(entry, key, "missing or not a string")
    return value


def parse_catalogue(text: str) -> list[Device]:
    """Validated devices from catalogue TOML text, in file order.

    Raises:
        CatalogueError: a field is missing, malformed or an id / vid:pid is repeated.
    """
    doc = tomllib.loads(text)
    devices: list[Device] = []
    seen_ids: set[str] = set()
    seen_ids_usb: set[tuple[str, str]] = set()
    for index, raw in enumerate(doc.get("device", [])):
        entry = str(raw.get("id", f"#{index + 1}"))
        dev_id = _str(raw, entry, "id")
        if not SLUG.match(dev_id) or dev_id in seen_ids:
            raise CatalogueError(entry, "id", "must be a unique lower-case slug")
        vid, pid = _str(raw, entry, "vid"), _str(raw, entry, "pid")
        for key, value in (("vid", vid), ("pid", pid)):
            if not HEX4.match(value):
                raise CatalogueError(entry, key, f"{value!r} is not 4 lower-case hex digits")
        if (vid, pid) in seen_ids_usb:
            raise CatalogueError(entry, "pid", f"{vid}:{pid} is already catalogued")
        kind = _str(raw, entry, "kind")
        if kind not in KINDS:
            raise CatalogueError(entry, "kind", f"{kind!r} is not one of {sorted(KINDS)}")
        interfaces = raw.get("interface")
        if not isinstance(interfaces, list) or not interfaces or any(i not in INTERFACES for i in interfaces):
            raise CatalogueError(entry, "interface", f"must be a non-empty list of {list(INTERFACES)}")
        devices.append(Device(dev_id, vid, pid, kind, _str(raw, entry, "driver"), tuple(interfaces),
                              _str(raw, entry, "group", required=False), _str(raw, entry, "notes"),
                              _str(raw, entry, "source")))
        seen_ids.add(dev_id)
        seen_ids_usb.add((vid, pid))
    return devices


def _rule(match: list[str], dev: Device, interface: str, link: str | None) -> str:
    assign = [f'GROUP="{dev.group_for(interface)}"', 'MODE="0660"']
    if link:
        assign.append(f'SYMLINK+="pos/{dev.id}-{link}"')
    assign += [f'ENV{{STOREGW_DEVICE}}="{dev.id}"', f'ENV{{STOREGW_KIND}}="{dev.kind}"',
               f'ENV{{STOREGW_DRIVER}}="{dev.driver}"']
    if interface == "tty":
        assign.append('ENV{ID_MM_DEVICE_IGNORE}="1"')
    return ", ".join(match + assign)


def rules_for(dev: Device) -> list[str]:
    """The udev rule lines for one device."""
    ids = [f'ATTRS{{idVendor}}=="{dev.vid}"', f'ATTRS{{idProduct}}=="{dev.pid}"']
    lines = [f"# {dev.id}: {dev.kind} ({dev.vid}:{dev.pid}); source: {dev.source}"]
    for interface in dev.interfaces:
        if interface == "usb":
            lines.append(_rule(['SUBSYSTEM=="usb"', 'ENV{DEVTYPE}=="usb_device"',
                                f'ATTR{{idVendor}}=="{dev.vid}"', f'ATTR{{idProduct}}=="{dev.pid}"'],
                               dev, interface, None))
            if dev.kind == "printer":
                lines.append(_rule(['SUBSYSTEM=="usbmisc"', 'KERNEL=="lp[0-9]*"', *ids], dev, interface, "lp%n"))
        elif interface == "tty":
            lines.append(_rule(['SUBSYSTEM=="tty"', *ids], dev, interface, "tty%n"))
        elif interface == "input":
            lines.append(_rule(['SUBSYSTEM=="input"', 'KERNEL=="event[0-9]*"', *ids], dev, interface, "event%n"))
        else:
            lines.append(_rule(['SUBSYSTEM=="hidraw"', *ids], dev, interface, "hidraw%n"))
    return lines


def render(devices: list[Device]) -> str:
    """The complete rules file."""
    head = [
        "# Generated by firmware-config/gen_udev.py from firmware-config/devices.toml; do not edit.",
        "# Installed to /etc/udev/rules.d/ by the Ansible role storegw. Check a device with",
        "#   udevadm info --query=property --name=/dev/ttyACM0 | grep STOREGW",
        'ACTION=="remove", GOTO="storegw_end"',
        "",
    ]
    body = []
    for dev in devices:
        body += [*rules_for(dev), ""]
    return "\n".join(head + body + ['LABEL="storegw_end"', ""])


def main(argv: list[str] | None = None) -> int:
    """Write the rules file, or with ``--check`` report whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the rules file is out of date")
    parser.add_argument("--output", type=Path, default=RULES)
    args = parser.parse_args(argv)
    try:
        text = render(parse_catalogue(CATALOGUE.read_text()))
    except (CatalogueError, tomllib.TOMLDecodeError) as err:
        print(f"gen_udev: {err}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"gen_udev: {args.output} is out of date; run firmware-config/gen_udev.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
