"""Cash drawer: exact kick bytes, sensor polarity, open/close events, left-open alarm, via the simulator."""

from __future__ import annotations

import asyncio

import pytest

from drivers.drawer.drawer import (
    CashDrawer,
    DrawerConfigError,
    DrawerEvent,
    DrawerUnavailable,
    kick_command,
    realtime_kick_command,
)
from drivers.printer._escpos import Dummy
from drivers.printer.connection import PrinterConnection
from drivers.printer.simulator import PrinterSimulator, SimulatedState, TcpPrinterSimulator
from drivers.printer.status import PrinterStatus
from tests.drivers.polling import until


def test_kick_bytes_match_python_escpos() -> None:
    for pin in (2, 5):
        d = Dummy()
        d.cashdraw(pin)
        assert kick_command(pin) == d.output
    assert kick_command(2) == bytes.fromhex("1b70003232")
    assert kick_command(5) == bytes.fromhex("1b70013232")
    assert kick_command(2, on_ms=50, off_ms=500) == bytes.fromhex("1b700019fa")


def test_realtime_kick_bytes() -> None:
    assert realtime_kick_command(2, 100) == bytes.fromhex("1014010001")
    assert realtime_kick_command(5, 800) == bytes.fromhex("1014010108")


@pytest.mark.parametrize(
    "call",
    [lambda: kick_command(3), lambda: kick_command(2, on_ms=0), lambda: kick_command(2, off_ms=600),
     lambda: realtime_kick_command(4), lambda: realtime_kick_command(2, 150), lambda: realtime_kick_command(2, 900)],
)
def test_bad_settings(call: object) -> None:
    with pytest.raises(DrawerConfigError):
        call()  # type: ignore[operator]


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _NoPort:
    async def write(self, data: bytes) -> None:
        raise ConnectionError("gone")

    async def query(self, n: int) -> int:
        raise TimeoutError


@pytest.mark.parametrize(("open_level_high", "open_byte", "closed_byte"), [(True, 0x16, 0x12), (False, 0x12, 0x16)])
def test_polarity_events_and_alarm(open_level_high: bool, open_byte: int, closed_byte: int) -> None:
    clock = _Clock()
    events: list[DrawerEvent] = []
    drawer = CashDrawer(_NoPort(), open_level_high=open_level_high, alarm_after=30, on_event=events.append,
                        clock=clock)
    drawer.observe(closed_byte)  # first reading: state known, no event
    assert drawer.is_open is False and events == []
    drawer.observe(open_byte)
    clock.now += 29
    drawer.observe(open_byte)
    assert [e.kind for e in events] == ["opened"]
    clock.now += 1
    drawer.observe(open_byte)
    clock.now += 10
    drawer.observe(open_byte)  # alarm only once per opening
    drawer.observe_status(PrinterStatus.decode(closed_byte, 0x12, 0x12, 0x12))
    assert [e.kind for e in events] == ["opened", "left-open", "closed"]
    assert events[1].open_seconds == 30 and events[2].open_seconds == 40


def test_drawer_open_at_start_still_alarms() -> None:
    clock = _Clock()
    events: list[DrawerEvent] = []
    drawer = CashDrawer(_NoPort(), alarm_after=5, on_event=events.append, clock=clock)
    drawer.observe(0x16)
    clock.now += 5
    drawer.observe(0x16)
    assert [e.kind for e in events] == ["left-open"]


async def test_unreachable_printer_is_a_clear_error() -> None:
    drawer = CashDrawer(_NoPort())
    async with asyncio.timeout(5):
        with pytest.raises(DrawerUnavailable, match="cannot kick drawer"):
            await drawer.open()
        with pytest.raises(DrawerUnavailable, match="cannot read drawer state"):
            await drawer.poll_once()


class _GarbledPort(_NoPort):
    async def query(self, n: int) -> int:
        from drivers.printer.errors import PrinterStatusError

        raise PrinterStatusError(1, b"\xff\xff")


async def test_garbled_status_reply_is_a_drawer_error() -> None:
    drawer = CashDrawer(_GarbledPort())
    async with asyncio.timeout(5):
        with pytest.raises(DrawerUnavailable, match="unreadable drawer state"):
            await drawer.poll_once()


async def test_drawer_through_simulated_network_printer() -> None:
    tcp = TcpPrinterSimulator(PrinterSimulator(SimulatedState(drawer_open_level_high=False)))
    await tcp.start()
    printer = PrinterConnection.network("127.0.0.1", tcp.port, timeout=1.0)
    events: list[str] = []
    drawer = CashDrawer(printer, pin=5, on_ms=50, off_ms=500, open_level_high=False,
                        on_event=lambda e: events.append(e.kind))
    try:
        async with asyncio.timeout(10):
            assert await drawer.poll_once() is False
            await drawer.open()
            assert await drawer.poll_once() is True  # the simulator opened its drawer on the kick
            assert [(k.pin, k.on_ms, k.off_ms) for k in tcp.sim.kicks] == [(5, 50, 500)]
            tcp.sim.apply("drawer-close")
            drawer.start(interval=0.01)
            await until(lambda: "closed" in events)
            await tcp.unplug()  # polling survives the printer going away
            await asyncio.sleep(0.05)
            await tcp.start()
            tcp.sim.apply("drawer-open")
            await until(lambda: events.count("opened") >= 2)
            await drawer.stop()
    finally:
        await printer.close()
        await tcp.stop()
    assert events[:3] == ["kicked", "opened", "closed"]


async def test_immediate_open_works_while_paper_is_out() -> None:
    tcp = TcpPrinterSimulator()
    await tcp.start()
    printer = PrinterConnection.network("127.0.0.1", tcp.port, timeout=1.0)
    drawer = CashDrawer(printer, pin=2, on_ms=120)
    try:
        async with asyncio.timeout(10):
            tcp.sim.apply("paper-out")
            await drawer.open()  # ESC p is print data: an offline printer does not pulse
            await printer.query(1)
            assert tcp.sim.kicks == [] and not tcp.sim.state.drawer_open
            await drawer.open(immediate=True)  # DLE DC4 1 0 2: 200 ms at once
            await printer.query(1)
            assert [(k.pin, k.on_ms) for k in tcp.sim.kicks] == [(2, 200)] and tcp.sim.state.drawer_open
    finally:
        await printer.close()
        await tcp.stop()
