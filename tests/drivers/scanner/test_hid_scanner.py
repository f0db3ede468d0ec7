"""HidScanner reading a (simulated or, where available, real uinput) evdev device."""

from __future__ import annotations

import asyncio
import errno
import os

import evdev
import pytest

from drivers.scanner import HidDecoder, HidScanner, Scan
from drivers.scanner.simulator import SimulatedInputDevice, key_events


class Rig:
    """A scanner reading simulated devices; each open returns the current device."""

    def __init__(self) -> None:
        self.device = SimulatedInputDevice()
        self.scans: asyncio.Queue[Scan] = asyncio.Queue()
        self.states: asyncio.Queue[tuple[bool, str]] = asyncio.Queue()
        self.opens = 0
        self.scanner = HidScanner(
            "/dev/input/by-id/sim-event-kbd",
            HidDecoder("de", "enter"),
            on_scan=self.scans.put_nowait,
            on_state=lambda online, reason: self.states.put_nowait((online, reason)),
            opener=self._open,
            retry_initial=0.01,
        )

    def _open(self, path: str) -> SimulatedInputDevice:
        if not self.device.present:
            raise OSError(errno.ENOENT, "No such file or directory", path)
        self.opens += 1
        return self.device


async def test_scan_is_delivered_and_device_grabbed() -> None:
    rig = Rig()
    async with asyncio.timeout(5):
        await rig.scanner.start()
        assert await rig.states.get() == (True, "open, grabbed")
        assert rig.device.grabbed
        rig.device.scan("2811111068708", "de")
        scan = await rig.scans.get()
        assert scan.barcode().weight_g == 6870
        await rig.scanner.close()


async def test_unplug_and_replug() -> None:
    rig = Rig()
    async with asyncio.timeout(5):
        await rig.scanner.start()
        await rig.states.get()
        rig.device.inject(key_events("12", "de", "none"))  # half a code, then the cable is pulled
        rig.device.unplug()
        online, reason = await rig.states.get()
        assert not online and "No such device" in reason
        assert rig.device.closed and not rig.device.grabbed
        rig.device = SimulatedInputDevice()  # plugged back in
        assert (await rig.states.get())[0] is True
        rig.device.scan("4006381333931", "de")
        assert (await rig.scans.get()).text == "4006381333931"  # the half code was dropped
        await rig.scanner.close()


async def test_grab_conflict_reported_and_retried() -> None:
    rig = Rig()
    rig.device.busy = True  # another process holds the grab
    async with asyncio.timeout(5):
        await rig.scanner.start()
        await asyncio.sleep(0.05)
        assert not rig.scanner.online and "busy" in rig.scanner.reason
        assert rig.opens >= 2
        await rig.scanner.close()


async def test_consumer_exception_does_not_stop_reader() -> None:
    rig = Rig()
    seen: list[str] = []
    two = asyncio.Event()

    def bad(scan: Scan) -> None:
        seen.append(scan.text)
        if len(seen) == 2:
            two.set()
        raise RuntimeError("consumer bug")

    rig.scanner.on_scan = bad
    async with asyncio.timeout(5):
        await rig.scanner.start()
        await rig.states.get()
        rig.device.scan("1", "de")
        rig.device.scan("2", "de")
        await two.wait()
        assert seen == ["1", "2"] and rig.scanner.online
        await rig.scanner.close()


async def test_no_suffix_mode_flushes_after_idle_gap() -> None:
    rig = Rig()
    rig.scanner.decoder = HidDecoder("us", "none", idle_gap=0.02)
    async with asyncio.timeout(5):
        await rig.scanner.start()
        await rig.states.get()
        rig.device.inject(key_events("96385074", "us", "none"))
        assert (await rig.scans.get()).text == "96385074"
        await rig.scanner.close()


@pytest.mark.hardware
@pytest.mark.skipif(not os.path.exists("/dev/uinput"), reason="needs /dev/uinput (uinput kernel module) to create a virtual keyboard")
async def test_real_evdev_device_through_uinput() -> None:
    ui = evdev.UInput(name="storegw test barcode scanner")
    scans: asyncio.Queue[Scan] = asyncio.Queue()
    up = asyncio.Event()
    scanner = HidScanner(
        ui.device.path, HidDecoder("us", "enter"), on_scan=scans.put_nowait, on_state=lambda online, _: up.set()
    )
    try:
        async with asyncio.timeout(10):
            await scanner.start()
            await up.wait()
            for ev in key_events("4006381333931", "us"):
                ui.write(ev.type, ev.code, ev.value)
            ui.syn()
            assert (await scans.get()).text == "4006381333931"
    finally:
        await scanner.close()
        ui.close()
