"""Printer simulator core: status replies per state, jobs split at cuts, kicks, paper running out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.printer.simulator import PrinterSimulator, SimulatedState
from gateway.netutil import free_port
from tests.drivers.polling import until


@pytest.mark.parametrize(
    ("commands", "replies"),
    [
        ([], (0x12, 0x12, 0x12, 0x12)),
        (["paper-near-end"], (0x12, 0x12, 0x12, 0x1E)),
        (["paper-out"], (0x1A, 0x32, 0x12, 0x7E)),
        (["cover-open"], (0x1A, 0x16, 0x12, 0x12)),
        (["offline"], (0x1A, 0x12, 0x12, 0x12)),
        (["drawer-open"], (0x16, 0x12, 0x12, 0x12)),
        (["error"], (0x12, 0x52, 0x1A, 0x12)),
    ],
)
def test_status_replies(commands: list[str], replies: tuple[int, ...]) -> None:
    sim = PrinterSimulator()
    for c in commands:
        sim.apply(c)
    assert sim.feed(b"\x10\x04\x01\x10\x04\x02\x10\x04\x03\x10\x04\x04") == bytes(replies)
    assert sim.queries == [1, 2, 3, 4]


def test_drawer_polarity_low() -> None:
    sim = PrinterSimulator(SimulatedState(drawer_open_level_high=False))
    assert sim.feed(b"\x10\x04\x01") == b"\x16"  # closed drawer: pin 3 high
    sim.apply("drawer-open")
    assert sim.feed(b"\x10\x04\x01") == b"\x12"


def test_jobs_split_at_cut_across_chunks() -> None:
    seen: list[bytes] = []
    sim = PrinterSimulator(on_job=seen.append)
    data = b"\x1b@one\n\x1dV\x01\x1b@two\n\x1dV\x00"
    for i in range(len(data)):  # one byte at a time: commands split between reads
        assert sim.feed(data[i : i + 1]) == b""
    assert sim.jobs == [b"\x1b@one\n\x1dV\x01", b"\x1b@two\n\x1dV\x00"] == seen
    assert sim.current == bytearray()


def test_status_query_not_part_of_job_and_kicks_recorded() -> None:
    sim = PrinterSimulator()
    assert sim.feed(b"a\x10\x04\x04\x1bp\x00\x19\xfa\x10\x14\x01\x01\x03b") == b"\x12"
    sim.finish_job()
    assert sim.jobs == [b"a\x1bp\x00\x19\xfab"]
    assert [(k.pin, k.on_ms, k.off_ms) for k in sim.kicks] == [(2, 50, 500), (5, 300, 300)]
    assert sim.state.drawer_open


def test_paper_runs_out_mid_job() -> None:
    sim = PrinterSimulator()
    sim.paper_out_after(5)
    sim.feed(b"0123456789\n\x1dV\x01")
    assert sim.state.paper_out and sim.jobs == []
    assert bytes(sim.current) == b"01234" and sim.lost_bytes == 5 + 1 + 3
    assert sim.feed(b"\x10\x04\x04") == b"\x7e"


def test_garbled_and_silent_replies() -> None:
    sim = PrinterSimulator()
    sim.apply("garble")
    assert sim.feed(b"\x10\x04\x01") == b"\xff\x00"
    assert sim.feed(b"\x10\x04\x01") == b"\x12"
    sim.apply("silent")
    assert sim.feed(b"\x10\x04\x01") == b""
    with pytest.raises(ValueError, match="unknown simulator command"):
        sim.apply("explode")


_free_port = free_port


async def test_command_line_simulator(tmp_path: Path) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.printer.simulator", "--port", str(port), "--jobs-dir", str(tmp_path),
        "--state", "paper-near-end", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(20):
            assert proc.stdout is not None
            assert b"listening" in await proc.stdout.readline()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"\x1b@Hallo\n\x1dV\x01\x10\x04\x04")
            assert await reader.readexactly(1) == b"\x1e"
            writer.close()
            await writer.wait_closed()
            await until(lambda: list(tmp_path.glob("job-*.bin")))
            assert (tmp_path / "job-00001.bin").read_bytes() == b"\x1b@Hallo\n\x1dV\x01"
    finally:
        proc.terminate()
        await proc.wait()


async def test_command_line_simulator_control_and_pty(tmp_path: Path) -> None:
    port = _free_port()
    link = tmp_path / "ttyPRN"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.printer.simulator", "--port", str(port), "--pty", str(link),
        "--control-stdin", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(20):
            await proc.stdout.readline()
            assert str(link).encode() in await proc.stdout.readline()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            proc.stdin.write(b"cover-open\nnonsense\n")
            await proc.stdin.drain()
            assert b"unknown simulator command 'nonsense'" in await proc.stderr.readline()
            writer.write(b"\x10\x04\x02")
            assert await reader.readexactly(1) == b"\x16"
            writer.close()
            await writer.wait_closed()
            proc.terminate()
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert not link.exists()  # the pty link is removed on shutdown


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(1, 50))
def test_fuzz_simulator_feed(data: bytes, chunk: int) -> None:
    sim = PrinterSimulator()
    replies = b"".join(sim.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    sim.disconnected()
    assert all(b & 0x93 == 0x12 for b in replies)  # only valid status bytes ever go back
    assert len(replies) == len(sim.queries)
    assert sum(len(j) for j in sim.jobs) + sim.lost_bytes <= len(data)
