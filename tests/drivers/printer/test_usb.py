"""USB printer path: python-escpos ``Usb`` over a fake pyusb device that speaks the simulator's protocol."""

from __future__ import annotations

import asyncio
from array import array
from typing import Any

import pytest
import usb.core

from drivers.printer.connection import PrinterConnection
from drivers.printer.errors import PrinterOffline, PrinterTimeout
from drivers.printer.simulator import PrinterSimulator


class FakeUsbPrinter:
    """Stands in for ``usb.core.Device``: bulk OUT feeds the simulator, bulk IN returns its replies."""

    class _Ctx:
        def dispose(self, device: object) -> None:
            pass

    class _Backend:
        pass

    backend = _Backend()  # not libusb1: python-escpos skips the kernel-driver detach
    _ctx = _Ctx()

    def __init__(self, sim: PrinterSimulator) -> None:
        self.sim = sim
        self.replies = bytearray()
        self.writes: list[tuple[int, int]] = []
        self.reads: list[int] = []
        self.unplugged = False
        self.found: dict[str, Any] = {}

    def set_configuration(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        if self.unplugged:
            raise usb.core.USBError("No such device", errno=19)
        self.writes.append((endpoint, timeout))
        self.replies += self.sim.feed(bytes(data))
        return len(data)

    def read(self, endpoint: int, size: int, timeout: int | None = None) -> array[int]:
        self.reads.append(endpoint)
        if not self.replies:
            raise usb.core.USBTimeoutError("Operation timed out", errno=110)
        out, self.replies = self.replies[:size], self.replies[size:]
        return array("B", out)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeUsbPrinter:
    device = FakeUsbPrinter(PrinterSimulator())
    def find(**kwargs: Any) -> FakeUsbPrinter | None:
        device.found.update(kwargs)
        return None if device.unplugged else device

    monkeypatch.setattr(usb.core, "find", find)
    return device


async def test_usb_status_print_and_endpoints(fake: FakeUsbPrinter) -> None:
    printer = PrinterConnection.usb(0x04B8, 0x0202, in_ep=0x81, out_ep=0x02, timeout=2.0,
                                    usb_args={"bus": 1, "address": 7})
    async with asyncio.timeout(10):
        assert (await printer.read_status()).state == "ok"
        await printer.write(b"\x1b@Hallo\n\x1dV\x01")
        fake.sim.apply("paper-out")
        assert (await printer.read_status()).paper_out
    assert fake.found == {"bus": 1, "address": 7, "idVendor": 0x04B8, "idProduct": 0x0202}
    assert {ep for ep, _ in fake.writes} == {0x02} and set(fake.reads) == {0x81}
    # pyusb timeouts are milliseconds; print data gets 1 s per KB on top of the base timeout.
    assert fake.writes[:5] == [(0x02, 2000)] * 4 + [(0x02, 2011)] and fake.writes[-1] == (0x02, 2000)
    assert fake.sim.jobs == [b"\x1b@Hallo\n\x1dV\x01"]
    assert printer.name == "usb:04b8:0202"


async def test_usb_no_answer_is_a_timeout_not_an_unplug(fake: FakeUsbPrinter) -> None:
    printer = PrinterConnection.usb(0x04B8, 0x0202, timeout=0.2)
    fake.sim.apply("silent")
    async with asyncio.timeout(10):
        with pytest.raises(PrinterTimeout):
            await printer.query(1)
        fake.sim.apply("answer")
        assert await printer.query(1) == 0x12


async def test_usb_unplug_and_replug(fake: FakeUsbPrinter) -> None:
    printer = PrinterConnection.usb(0x04B8, 0x0202, timeout=0.5)
    async with asyncio.timeout(10):
        assert await printer.query(1) == 0x12
        fake.unplugged = True
        with pytest.raises(PrinterOffline, match="No such device"):
            await printer.write(b"x")
        with pytest.raises(PrinterOffline, match="not found"):
            await printer.query(1)
        fake.unplugged = False
        assert await printer.query(1) == 0x12 and printer.online
