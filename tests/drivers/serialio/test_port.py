"""SerialLine on a real pty: data, exclusive open, offline/online across unplug and replug."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.serialio import PortOffline, SerialLine
from drivers.serialio.pty import PtyDevice


async def test_roundtrip_exclusive_and_replug(tmp_path: Path) -> None:
    to_device: asyncio.Queue[bytes] = asyncio.Queue()
    dev = PtyDevice(to_device.put_nowait, str(tmp_path / "ttyX"))
    dev.open()
    got: asyncio.Queue[bytes] = asyncio.Queue()
    states: asyncio.Queue[tuple[bool, str]] = asyncio.Queue()
    line = SerialLine(dev.path, on_data=got.put_nowait, on_state=lambda up, why: states.put_nowait((up, why)))
    other = SerialLine(dev.path, on_data=lambda data: None, retry_initial=0.01, retry_max=0.02)
    try:
        async with asyncio.timeout(5):
            await line.start()
            assert await states.get() == (True, "open")
            await other.start()
            await asyncio.sleep(0.05)
            assert not other.online and "cannot open" in other.reason  # flock held by `line`
            await other.close()  # else it may win the port after the replug
            line.write(b"ping")
            dev.write(b"pong")
            assert await got.get() == b"pong"
            assert await to_device.get() == b"ping"
            dev.unplug()
            up, why = await states.get()
            assert not up and ("read failed" in why or "end of file" in why)
            with pytest.raises(PortOffline):
                line.write(b"x")
            dev.open()
            assert (await states.get())[0] is True
            dev.write(b"again")
            assert await got.get() == b"again"
    finally:
        await other.close()
        await line.close()
        dev.unplug()
