"""Serial/CDC scanners over real pty pairs: suffix framing, bad bytes, unplug/replug."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner import Scan, SerialDecoder, SerialScanner
from drivers.scanner.simulator import SerialScannerSimulator

ROOT = str(Path(__file__).resolve().parents[3])


@pytest.mark.parametrize(("suffix", "wire"), [("cr", b"\r"), ("lf", b"\n"), ("crlf", b"\r\n"), ("any", b"\r\n")])
async def test_codes_over_pty(tmp_path: Path, suffix: str, wire: bytes) -> None:
    sim = SerialScannerSimulator(str(tmp_path / "scanner0"), suffix=wire)
    await sim.start()
    scans: asyncio.Queue[Scan] = asyncio.Queue()
    scanner = SerialScanner(sim.path, suffix=suffix, on_scan=scans.put_nowait)
    await scanner.start()
    try:
        async with asyncio.timeout(5):
            await scanner.line.wait_online()
            sim.scan("]E04006381333931")
            sim.scan("]d201040063813339311724123110LOT\x1d21X1")
            first, second = await scans.get(), await scans.get()
        assert (first.aim_id, first.data) == ("]E0", "4006381333931")
        assert second.barcode().ais["21"] == "X1"
    finally:
        await scanner.close()
        sim.close()


async def test_bad_bytes_logged_and_reader_continues(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    sim = SerialScannerSimulator(str(tmp_path / "scanner0"))
    await sim.start()
    scans: asyncio.Queue[Scan] = asyncio.Queue()
    scanner = SerialScanner(sim.path, on_scan=scans.put_nowait)
    await scanner.start()
    try:
        async with asyncio.timeout(5):
            await scanner.line.wait_online()
            sim.pty.write(b"\xe4\xff\r\n")
            sim.pty.write(b"x" * 5000 + b"\r\n")
            sim.scan("96385074")
            latin = await scans.get()
            good = await scans.get()
        assert latin.text == "äÿ"
        assert good.text == "96385074"
        assert scanner.decoder.errors == 2
        assert "not UTF-8" in caplog.text and "longer than" in caplog.text
    finally:
        await scanner.close()
        sim.close()


async def test_unplug_replug(tmp_path: Path) -> None:
    sim = SerialScannerSimulator(str(tmp_path / "scanner0"))
    await sim.start()
    scans: asyncio.Queue[Scan] = asyncio.Queue()
    states: asyncio.Queue[bool] = asyncio.Queue()
    scanner = SerialScanner(sim.path, on_scan=scans.put_nowait, on_state=lambda up, why: states.put_nowait(up))
    await scanner.start()
    try:
        async with asyncio.timeout(5):
            assert await states.get() is True
            sim.pty.write(b"12")  # partial code, then the cable is pulled
            await asyncio.sleep(0.02)
            sim.close()
            assert await states.get() is False
            await sim.start()
            assert await states.get() is True
            sim.scan("4006381333931")
            assert (await scans.get()).text == "4006381333931"
    finally:
        await scanner.close()
        sim.close()


def test_bad_suffix() -> None:
    with pytest.raises(ValueError):
        SerialDecoder("etx")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=30), max_size=8))
def test_fuzz_serial_decoder(chunks: list[bytes]) -> None:
    d = SerialDecoder("any", max_length=16)
    for c in chunks:
        for scan in d.feed(c, 0.0):
            assert "\r" not in scan.text and "\n" not in scan.text


async def test_simulator_process(tmp_path: Path) -> None:
    link = tmp_path / "scanner0"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.scanner.simulator", "--link", str(link), "--suffix", "cr",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    scans: asyncio.Queue[Scan] = asyncio.Queue()
    scanner = SerialScanner(str(link), suffix="cr", on_scan=scans.put_nowait)
    try:
        async with asyncio.timeout(10):
            assert b"serial scanner simulator on" in await proc.stdout.readline()
            await scanner.start()
            await scanner.line.wait_online()
            proc.stdin.write(b"]C110A<GS>0104006381333931\n")
            await proc.stdin.drain()
            assert (await scans.get()).barcode().ais == {"10": "A", "01": "04006381333931"}
            proc.stdin.close()
            assert await proc.wait() == 0
    finally:
        await scanner.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
