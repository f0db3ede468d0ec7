"""``python -m drivers.scale.simulator`` as a separate process, driven through stdin."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from drivers.scale import SerialScale, WeightState

ROOT = str(Path(__file__).resolve().parents[3])


@pytest.mark.parametrize("protocol", ["mtsics", "nci"])
async def test_simulator_process(tmp_path: Path, protocol: str) -> None:
    link = tmp_path / "scale0"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.scale.simulator", "--protocol", protocol, "--link", str(link), "--weight", "750",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    scale = SerialScale(str(link), protocol, timeout=1.0)
    try:
        async with asyncio.timeout(10):
            banner = await proc.stdout.readline()
            assert f"scale simulator ({protocol}) on {link}".encode() in banner
            await scale.start()
            await scale.line.wait_online()
            assert (await scale.read_weight()).weight_g == 750
            proc.stdin.write(b"overload\n")
            await proc.stdin.drain()
            await asyncio.sleep(0.1)
            assert (await scale.read_weight()).state is WeightState.OVERLOAD
            proc.stdin.write(b"quit\n")
            await proc.stdin.drain()
            assert await proc.wait() == 0
    finally:
        await scale.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
