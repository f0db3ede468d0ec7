"""Process-level tests: the simulator as ``python -m drivers.zvt.simulator`` and an ECR process killed
with SIGKILL in the middle of a payment, followed by recovery from a fresh process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.zvt.client import ZvtClient
from drivers.zvt.recovery import Outcome
from drivers.zvt.sim_journal import BOOKED, Journal
from drivers.zvt.transport import TcpTransport

ROOT = Path(__file__).resolve().parents[3]

# A minimal ECR: pays and prints the type of every terminal message as it arrives.
ECR = """
import asyncio, sys
from drivers.zvt.client import ZvtClient
from drivers.zvt.transport import TcpTransport
async def main():
    zvt = ZvtClient(TcpTransport("127.0.0.1", int(sys.argv[1])),
                    on_event=lambda m: print(type(m).__name__, flush=True))
    print("start", flush=True)
    await zvt.authorize(int(sys.argv[2]))
    print("done", flush=True)
asyncio.run(main())
"""


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )


@pytest.fixture
async def simulator(tmp_path: Path) -> AsyncIterator[tuple[int, Path, asyncio.subprocess.Process]]:
    journal = tmp_path / "pt.json"
    proc = await _spawn("-m", "drivers.zvt.simulator", "--port", "0", "--journal", str(journal), "--script", "hold:3")
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(10):
            line = (await proc.stdout.readline()).decode().strip()
        yield int(line.rsplit(":", 1)[1]), journal, proc
    finally:
        proc.terminate()
        async with asyncio.timeout(10):
            await proc.wait()


async def _kill_ecr_after(port: int, amount: int, marker: str) -> None:
    ecr = await _spawn("-c", ECR, str(port), str(amount))
    assert ecr.stdout is not None
    try:
        async with asyncio.timeout(15):
            while (line := (await ecr.stdout.readline()).decode().strip()) != marker:
                assert line, "ECR ended before the marker"
    finally:
        ecr.send_signal(signal.SIGKILL)
        await ecr.wait()


async def test_ecr_killed_after_acknowledged_result_recovers_as_paid(
    simulator: tuple[int, Path, asyncio.subprocess.Process],
) -> None:
    port, journal, _ = simulator
    # The terminal holds 3 s after the acknowledged Status-Information; the ECR dies meanwhile.
    await _kill_ecr_after(port, 4200, "StatusInformation")
    zvt = ZvtClient(TcpTransport("127.0.0.1", port), t3=3.0)
    async with asyncio.timeout(15):
        rec = await zvt.recover_payment(4200, known_receipts=set())
        await zvt.close()
    assert rec.outcome is Outcome.PAID and rec.payment is not None and rec.payment.amount_cents == 4200
    assert Journal.load(journal).entries[rec.payment.receipt_number or 0].state == BOOKED


async def test_ecr_killed_before_result_recovers_as_not_paid(tmp_path: Path) -> None:
    journal = tmp_path / "pt.json"
    sim = await _spawn("-m", "drivers.zvt.simulator", "--port", "0", "--journal", str(journal), "--script", "slow:4")
    try:
        assert sim.stdout is not None
        async with asyncio.timeout(10):
            port = int((await sim.stdout.readline()).decode().strip().rsplit(":", 1)[1])
        await _kill_ecr_after(port, 999, "IntermediateStatus")  # killed while the card is awaited
        await asyncio.sleep(0.6)
        zvt = ZvtClient(TcpTransport("127.0.0.1", port), t3=3.0)
        async with asyncio.timeout(15):
            rec = await zvt.recover_payment(999, known_receipts=set())
            await zvt.close()
    finally:
        sim.terminate()
        async with asyncio.timeout(10):
            await sim.wait()
    assert rec.outcome is Outcome.NOT_PAID
    assert not [e for e in Journal.load(journal).entries.values() if e.state == BOOKED]
