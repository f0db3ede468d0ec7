"""Scanners and scales through the device manager: real ptys, evdev event objects, bus events, HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.scale.simulator import ScaleSimulator
from drivers.scanner.simulator import SerialScannerSimulator, SimulatedInputDevice
from gateway.bus import Bus
from gateway.devices.base import DeviceError
from gateway.devices.input_adapters import HidScannerAdapter, ScaleAdapter, SerialScannerAdapter
from gateway.devices.manager import DeviceManager, DevicesConfig


@pytest.fixture
async def mgr() -> AsyncIterator[DeviceManager]:
    m = DeviceManager(DevicesConfig(discovery=False, health_interval_s=1, reconnect_min_s=1, reconnect_max_s=1), Bus())
    yield m
    await m.stop()


async def online(m: DeviceManager, dev: str) -> None:
    async with asyncio.timeout(8):
        while m.get(dev).state != "online":
            await asyncio.sleep(0.02)


async def test_serial_scanner_scan_becomes_bus_event(mgr: DeviceManager) -> None:
    sim = SerialScannerSimulator()
    await sim.start()
    mgr.add("scanner-1", "main-scanner", SerialScannerAdapter({"port": sim.path}))
    sub = mgr.bus.subscribe("device.scanner-1.evt.scan")
    await mgr.start()
    await online(mgr, "scanner-1")
    sim.scan("4006381333931")
    ev = await asyncio.wait_for(sub.get(), 5)
    assert ev.data["code"] == "4006381333931" and ev.data["role"] == "main-scanner"
    assert ev.data["barcode"]["kind"] == "ean13" and ev.data["barcode"]["check_digits_valid"] is True
    sim.scan("]C1\x1d0104006381333931\x1d10LOT7")
    ev = await asyncio.wait_for(sub.get(), 5)
    assert ev.data["symbology"] and ev.data["barcode"]["ais"]["10"] == "LOT7"
    sim.close()


async def test_hid_scanner_de_layout(mgr: DeviceManager) -> None:
    dev = SimulatedInputDevice()
    mgr.add("scanner-2", "hand-scanner", HidScannerAdapter({"path": dev.path, "layout": "de"}, opener=lambda p: dev))
    sub = mgr.bus.subscribe("device.scanner-2.evt.scan")
    await mgr.start()
    await online(mgr, "scanner-2")
    assert dev.grabbed
    dev.scan("4000417025005", layout="de")
    ev = await asyncio.wait_for(sub.get(), 5)
    assert ev.data["code"] == "4000417025005"
    dev.scan("NOT-A-Zyx", layout="de")
    ev = await asyncio.wait_for(sub.get(), 5)
    assert ev.data["code"] == "NOT-A-Zyx"  # y/z swapped keys on the German layout decode right


async def test_scale_read_weight_and_legal_rules(mgr: DeviceManager, tmp_path: Path) -> None:
    sim = ScaleSimulator("mtsics")
    await sim.start()
    mgr.add("scale-1", "checkout-scale", ScaleAdapter({"port": sim.path, "protocol": "mtsics"}))
    sub = mgr.bus.subscribe("device.scale-1.evt.weight")
    await mgr.start()
    await online(mgr, "scale-1")
    sim.state.gross_g = 1234
    r = await mgr.command("scale-1", "read_weight", {})
    assert r["weight_g"] == 1234 and r["stable"] and r["sellable"]
    assert (await asyncio.wait_for(sub.get(), 5)).data["weight_g"] == 1234
    sim.state.stable = False
    r = await mgr.command("scale-1", "read_weight", {"immediate": True})
    assert r["sellable"] is False and "stable" in r["reason"]
    sim.state.stable = True
    sim.state.overload = True
    r = await mgr.command("scale-1", "read_weight", {})
    assert r["state"] == "overload" and r["sellable"] is False
    sim.close()


async def test_scale_unplug_goes_offline(mgr: DeviceManager) -> None:
    sim = ScaleSimulator("nci")
    await sim.start()
    mgr.add("scale-2", "scale", ScaleAdapter({"port": sim.path, "protocol": "nci"}))
    await mgr.start()
    await online(mgr, "scale-2")
    sim.close()
    with pytest.raises(DeviceError):
        await mgr.command("scale-2", "read_weight", {})
    async with asyncio.timeout(8):
        while mgr.get("scale-2").state == "online":
            await asyncio.sleep(0.05)
