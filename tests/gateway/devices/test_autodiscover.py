"""Discovered devices: catalogue matches become managed devices with ids that survive replug and restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import gateway.devices.input_adapters  # noqa: F401 - registers the drivers
from gateway.bus import Bus
from gateway.devices.manager import DeviceManager, DevicesConfig


def fake_usb(root: Path, name: str, vid: str, pid: str, serial: str, node: str) -> None:
    dev = root / name
    (dev / f"{name}:1.0" / "tty" / node).mkdir(parents=True)
    (dev / "idVendor").write_text(vid + "\n")
    (dev / "idProduct").write_text(pid + "\n")
    (dev / "serial").write_text(serial + "\n")


def manager(tmp_path: Path, sysfs: Path) -> DeviceManager:
    return DeviceManager(DevicesConfig(discovery=True), Bus(), data_dir=tmp_path / "data", sysfs=sysfs)


def test_catalogue_devices_get_stable_ids_and_default_roles(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    fake_usb(sysfs, "1-1", "0c2e", "0b81", "HW1", "ttyACM0")  # Honeywell 1400g in CDC mode (catalogue)
    fake_usb(sysfs, "1-2", "0c2e", "0b81", "HW2", "ttyACM1")  # a second one
    fake_usb(sysfs, "1-3", "0403", "6001", "FT1", "ttyUSB0")  # a plain FTDI adapter: needs config
    fake_usb(sysfs, "1-4", "dead", "beef", "X", "ttyUSB1")  # unknown
    m = manager(tmp_path, sysfs)
    added = m.rescan()
    assert sorted(added) == ["scanner-1", "scanner-2"]
    assert m.get("main-scanner").id in ("scanner-1", "scanner-2")
    first = {d.id: d.adapter.describe()["transport"] for d in m.devices.values()}
    assert m.rescan() == []  # nothing twice
    # a reboot: a new manager on the same data dir gives every device the id it had
    m2 = manager(tmp_path, sysfs)
    m2.rescan()
    assert {d.id: d.adapter.describe()["transport"] for d in m2.devices.values()} == first
    # the first scanner unplugged: the second keeps its id, a new device gets the next free one
    (sysfs / "1-1" / "idVendor").unlink()
    fake_usb(sysfs, "1-5", "0c2e", "0b81", "HW3", "ttyACM2")
    m3 = manager(tmp_path, sysfs)
    m3.rescan()
    ids = {d.adapter.describe()["transport"]: d.id for d in m3.devices.values()}
    assert ids["serial:/dev/ttyACM1@9600"] == next(i for i, t in first.items() if t == "serial:/dev/ttyACM1@9600")
    assert ids["serial:/dev/ttyACM2@9600"] == "scanner-3"


def test_pinned_device_is_not_discovered_twice(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    fake_usb(sysfs, "1-1", "0c2e", "0b81", "HW1", "ttyACM0")
    cfg = DevicesConfig(discovery=True, pinned={"till-scanner": {"driver": "serial-scanner", "port": "/dev/ttyACM0",
                                                                 "role": "main-scanner"}})
    m = DeviceManager(cfg, Bus(), data_dir=tmp_path / "data", sysfs=sysfs)
    assert m.rescan() == []
    assert list(m.devices) == ["till-scanner"]


def test_catalogue_path_on_an_installed_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.devices import discovery

    assert discovery.catalogue_path("/srv/cat.toml", "/etc/storegw/gateway.toml") == Path("/srv/cat.toml")
    assert discovery.catalogue_path("", "/etc/storegw/gateway.toml") == discovery.DEFAULT_CATALOGUE  # source tree
    monkeypatch.setattr(discovery, "DEFAULT_CATALOGUE", tmp_path / "site-packages" / "firmware-config" / "devices.toml")
    assert discovery.catalogue_path("", "/etc/storegw/gateway.toml") == Path("/etc/storegw/devices.toml")


async def test_a_burst_of_add_uevents_rescans_once_after_it_settles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.devices import manager as manager_mod

    monkeypatch.setattr(manager_mod, "RESCAN_SETTLE_S", 0.05)
    sysfs = tmp_path / "sys"
    m = manager(tmp_path, sysfs)
    calls: list[int] = []
    monkeypatch.setattr(m, "rescan", lambda: calls.append(1) or [])
    for subsystem in ("usb", "usb", "tty", "input", "usbmisc"):  # one plug, as the kernel reports it
        m._on_uevent({"ACTION": "add", "SUBSYSTEM": subsystem})
    m._on_uevent({"ACTION": "remove", "SUBSYSTEM": "usb"})
    assert calls == []
    await asyncio.sleep(0.2)
    assert calls == [1]
    m._on_uevent({"ACTION": "add", "SUBSYSTEM": "usb"})  # the next plug rescans again
    await asyncio.sleep(0.2)
    assert calls == [1, 1]
    await m.stop()
