"""Process-level faults: SIGKILL of the gateway publishes the will; a restart comes back online."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.gateway.mqtt.conftest import PASSWORDS, STORE, Broker, MakePeer, Peer

G = f"store/{STORE}/gateway"
ROOT = str(Path(__file__).resolve().parents[3])


async def _spawn(broker: Broker, secret: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.gateway.mqtt.gateway_proc",
        broker.url,
        str(secret),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(15):
        line = (await proc.stdout.readline()).decode().split()
    assert line[0] == "READY", line
    return proc, line[1]


async def test_sigkill_publishes_will_and_restart_republishes(broker: Broker, tmp_path: Path, make_peer: MakePeer) -> None:
    secret = tmp_path / "gw.secret"
    secret.write_text(PASSWORDS["gateway"])
    proc, boot1 = await _spawn(broker, secret)
    try:
        till: Peer = await make_peer("till-1")
        await till.subscribe(f"{G}/status")
        await till.subscribe(f"{G}/device/+/state")
        first = {r.topic: r.json() for r in [await till.next(), await till.next()]}
        assert first[f"{G}/status"]["state"] == "online" and first[f"{G}/status"]["boot_id"] == boot1
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        will = (await till.next(f"{G}/status")).json()
        assert will == {**will, "state": "offline", "reason": "lwt", "boot_id": boot1}
        proc, boot2 = await _spawn(broker, secret)
        assert boot2 != boot1
        again = {r.topic: r.json() for r in [await till.next(), await till.next()]}
        assert again[f"{G}/status"]["state"] == "online" and again[f"{G}/status"]["boot_id"] == boot2
        assert again[f"{G}/device/drawer-1/state"]["data"] == {"open": False}
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
