"""Printer connection against the simulator over a real TCP socket and a real pty pair."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tty
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.printer.connection import PrinterConnection, StatusPoller
from drivers.printer.errors import PrinterOffline, PrinterStatusError, PrinterTimeout
from drivers.printer.layout import ReceiptLayout
from drivers.printer.render import render_bytes, slip_to_text
from drivers.printer.simulator import PtyPrinterSimulator, TcpPrinterSimulator
from drivers.printer.status import PrinterStatus
from tests.drivers.polling import until


@pytest.fixture
async def tcp_sim() -> AsyncIterator[TcpPrinterSimulator]:
    sim = TcpPrinterSimulator()
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def printer(tcp_sim: TcpPrinterSimulator) -> AsyncIterator[PrinterConnection]:
    conn = PrinterConnection.network("127.0.0.1", tcp_sim.port, timeout=1.0)
    yield conn
    await conn.close()


async def test_status_over_tcp(tcp_sim: TcpPrinterSimulator, printer: PrinterConnection) -> None:
    async with asyncio.timeout(10):
        assert (await printer.read_status()).state == "ok"
        tcp_sim.sim.apply("paper-near-end")
        assert (await printer.read_status()).state == "paper-low"
        tcp_sim.sim.apply("paper-out")
        status = await printer.read_status()
        assert status.paper_out and not status.online and status.raw == (0x1A, 0x32, 0x12, 0x7E)
        tcp_sim.sim.apply("paper-ok")
        tcp_sim.sim.apply("cover-open")
        assert (await printer.read_status()).problem == "cover open"
        tcp_sim.sim.apply("cover-close")
        tcp_sim.sim.apply("drawer-open")
        assert (await printer.read_status()).drawer_pin3_high
        assert printer.online is True and printer.last_status is not None


async def test_receipt_reaches_simulator_renderable(tcp_sim: TcpPrinterSimulator, printer: PrinterConnection) -> None:
    async with asyncio.timeout(10):
        data = ReceiptLayout().test_page("Kasse 1")
        await printer.write(data)
        await printer.query(1)  # answered after the data: the data has been consumed
        assert tcp_sim.sim.jobs == [data]
        assert "Euro: 1.234,56 €" in slip_to_text(render_bytes(tcp_sim.sim.jobs[0]))


async def test_malformed_reply_is_logged_and_driver_keeps_running(
    tcp_sim: TcpPrinterSimulator, printer: PrinterConnection, caplog: pytest.LogCaptureFixture
) -> None:
    async with asyncio.timeout(10):
        tcp_sim.sim.apply("garble")
        with pytest.raises(PrinterStatusError) as info:
            await printer.query(1)
        assert info.value.reply == b"\xff\x00" and isinstance(info.value, ValueError)
        assert any("malformed reply to DLE EOT 1: ff 00" in r.message for r in caplog.records
                   if r.levelno == logging.ERROR)
        assert await printer.query(1) == 0x12 and printer.online


async def test_silent_printer_times_out_then_recovers(tcp_sim: TcpPrinterSimulator) -> None:
    printer = PrinterConnection.network("127.0.0.1", tcp_sim.port, timeout=0.3)
    async with asyncio.timeout(10):
        tcp_sim.sim.apply("silent")
        with pytest.raises(PrinterTimeout) as info:
            await printer.query(4)
        assert isinstance(info.value, TimeoutError) and printer.online is False
        tcp_sim.sim.apply("answer")
        assert await printer.query(4) == 0x12 and printer.online
    await printer.close()


async def test_unplug_and_replug_tcp(tcp_sim: TcpPrinterSimulator) -> None:
    changes: list[tuple[bool, str]] = []
    printer = PrinterConnection.network("127.0.0.1", tcp_sim.port, timeout=1.0,
                                        on_state=lambda online, why: changes.append((online, why)))
    async with asyncio.timeout(10):
        assert await printer.query(1) == 0x12
        await tcp_sim.unplug()
        with pytest.raises(PrinterOffline) as info:
            await printer.query(1)
        assert isinstance(info.value, ConnectionError)
        with pytest.raises(PrinterOffline, match="Connection refused"):
            await printer.write(b"x\n")
        await tcp_sim.start()
        assert await printer.query(1) == 0x12
    assert [c[0] for c in changes] == [True, False, True]
    await printer.close()


async def test_connection_dropped_mid_receipt(tcp_sim: TcpPrinterSimulator, printer: PrinterConnection) -> None:
    async with asyncio.timeout(10):
        await printer.query(1)
        tcp_sim.disconnect_after(40)
        data = ReceiptLayout().test_page()
        with pytest.raises(PrinterOffline):
            await printer.write(data)
            await printer.query(1)  # the write may still land in the socket buffer
        assert printer.online is False
        # Only the first 40 bytes arrived (a trailing incomplete command is not printed).
        assert len(tcp_sim.sim.jobs) == 1 and data.startswith(tcp_sim.sim.jobs[0])
        assert 35 <= len(tcp_sim.sim.jobs[0]) <= 40
        assert await printer.query(1) == 0x12 and printer.online


async def test_unknown_host_fails_clearly() -> None:
    printer = PrinterConnection.network("127.0.0.1", 1, timeout=0.5)
    async with asyncio.timeout(10):
        with pytest.raises(PrinterOffline, match=r"tcp://127.0.0.1:1 offline"):
            await printer.read_status()


async def test_status_poller_reports_changes_and_errors(tcp_sim: TcpPrinterSimulator,
                                                        printer: PrinterConnection) -> None:
    seen: list[PrinterStatus] = []
    errors: list[Exception] = []
    poller = StatusPoller(printer, interval=0.01, on_status=seen.append, on_error=errors.append)
    async with asyncio.timeout(10):
        assert await poller.poll_once() is not None
        assert await poller.poll_once() is not None
        assert len(seen) == 1  # unchanged status is not reported twice
        tcp_sim.sim.apply("paper-out")
        await poller.poll_once()
        assert seen[-1].paper_out and len(seen) == 2
        await tcp_sim.unplug()
        assert await poller.poll_once() is None
        assert isinstance(errors[-1], PrinterOffline)
        await tcp_sim.start()
        poller.start()
        await until(lambda: len(seen) >= 3)
        await poller.stop()
        assert seen[-1].paper_out


async def test_serial_printer_over_pty(tmp_path: Path) -> None:
    sim = PtyPrinterSimulator(link=str(tmp_path / "ttyPRN"))
    sim.plug()
    printer = PrinterConnection.serial(sim.path, timeout=0.5)
    try:
        async with asyncio.timeout(10):
            assert (await printer.read_status()).state == "ok"
            sim.sim.apply("paper-out")
            assert (await printer.read_status()).paper_out
            sim.sim.apply("paper-ok")
            data = ReceiptLayout().test_page()
            await printer.write(data)
            await printer.query(1)
            assert sim.sim.jobs == [data]
            # Unplug mid-session: the command fails with a clear error, then the replug works.
            sim.unplug()
            with pytest.raises(PrinterOffline, match="serial:"):
                await printer.query(1)
            with pytest.raises(PrinterOffline):
                await printer.write(b"lost\n")
            sim.plug()
            assert await printer.query(4) == 0x12 and printer.online
    finally:
        await printer.close()
        sim.close()


async def test_serial_noise_before_reply(tmp_path: Path) -> None:
    sim = PtyPrinterSimulator(link=str(tmp_path / "ttyPRN"))
    sim.plug()
    printer = PrinterConnection.serial(sim.path, timeout=0.5)
    try:
        async with asyncio.timeout(10):
            assert await printer.query(1) == 0x12
            sim.write(b"\xff\xfe\x00")  # line noise arrives unasked; it is drained before the query
            assert await printer.query(1) == 0x12
            sim.sim.apply("garble")
            with pytest.raises(PrinterStatusError):
                await printer.query(2)
            assert await printer.query(2) == 0x12
    finally:
        await printer.close()
        sim.close()


async def test_cancelled_query_keeps_the_device_exclusive(tcp_sim: TcpPrinterSimulator) -> None:
    printer = PrinterConnection.network("127.0.0.1", tcp_sim.port, timeout=0.5)
    tcp_sim.sim.apply("silent")
    async with asyncio.timeout(10):
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(printer.query(1))
        await asyncio.sleep(0.1)
        task.cancel()
        tcp_sim.sim.apply("answer")
        # The next command starts only after the cancelled one has left the socket, i.e. after
        # its 0.5 s read timeout; otherwise two threads would read the same socket.
        assert await printer.query(2) == 0x12
        assert loop.time() - started >= 0.45
        with pytest.raises(asyncio.CancelledError):
            await task
    await printer.close()


async def test_network_socket_sends_queries_without_delay(printer: PrinterConnection) -> None:
    async with asyncio.timeout(10):
        await printer.query(1)
    sock = printer.device.device
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_serial_printer_that_stops_reading_times_out_the_write() -> None:
    master, slave = os.openpty()  # nobody reads the master: the printer's buffer is full
    tty.setraw(master)
    printer = PrinterConnection.serial(os.ttyname(slave), baudrate=4_000_000, timeout=0.2, dsrdtr=False)
    try:
        async with asyncio.timeout(10):
            started = asyncio.get_running_loop().time()
            with pytest.raises(PrinterOffline, match=r"[Ww]rite timeout"):
                await printer.write(b"x" * 200_000)
            # Bounded by the size-dependent limit (0.2 s + 200 kB at 2/3 of 4 Mbit/s = 0.95 s).
            assert asyncio.get_running_loop().time() - started < 3
    finally:
        await printer.close()
        os.close(master)
        os.close(slave)
