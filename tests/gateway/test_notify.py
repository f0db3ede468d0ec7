"""sd_notify on real AF_UNIX datagram sockets: READY/STATUS from a real gateway start, watchdog pings, lost socket."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import Config
from gateway.notify import Notifier


class Receiver:
    """The service manager's side: a bound datagram socket collecting messages."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setblocking(False)

    async def next(self, wait_s: float = 5.0) -> str:
        """The next datagram as text."""
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096), wait_s)
        return data.decode()

    def close(self) -> None:
        """Unbind."""
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Receiver]:
    """A receiver on a filesystem path or in the abstract namespace (``@name``)."""
    addr = str(tmp_path / "notify.sock") if request.param == "path" else f"@storegw-test-{uuid.uuid4().hex}"
    r = Receiver(addr)
    yield r
    r.close()


async def test_gateway_start_sends_ready_and_status(receiver: Receiver, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Gateway.start reads NOTIFY_SOCKET from the environment and sends READY=1 with a STATUS line."""
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    gw = Gateway(Config({}), tmp_path / "data")
    await gw.start("127.0.0.1", 0)
    try:
        msg = await receiver.next()
        assert msg.split("\n") == ["READY=1", "STATUS=seq 0; all components ok"]
        gw.notifier.status(gw.status_line())
        assert await receiver.next() == "STATUS=seq 0; all components ok"
    finally:
        await gw.stop()
    assert await receiver.next() == "STOPPING=1"


async def test_watchdog_pings_at_half_the_interval(receiver: Receiver) -> None:
    """WATCHDOG_USEC=200000 gives a ping about every 100 ms from the event loop."""
    n = Notifier({"NOTIFY_SOCKET": receiver.address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())})
    n.start_watchdog()
    try:
        stamps = []
        for _ in range(5):
            assert await receiver.next(2.0) == "WATCHDOG=1"
            stamps.append(time.monotonic())
    finally:
        await n.close()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # Half of 200 ms on average; single gaps jitter on a loaded machine, but none reaches the full interval.
    assert 0.075 <= sum(gaps) / len(gaps) <= 0.16, gaps
    assert max(gaps) < 0.3, gaps


async def test_watchdog_for_another_pid_is_ignored(receiver: Receiver) -> None:
    """WATCHDOG_PID naming another process means the watchdog is not ours to ping."""
    n = Notifier({"NOTIFY_SOCKET": receiver.address, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"})
    n.start_watchdog()
    try:
        with pytest.raises(TimeoutError):
            await receiver.next(0.3)
    finally:
        await n.close()
    assert n.watchdog_usec == 0


async def test_gateway_pings_watchdog_while_running(receiver: Receiver, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A started gateway with WATCHDOG_USEC keeps pinging after READY."""
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.address)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    gw = Gateway(Config({}), tmp_path / "data")
    await gw.start("127.0.0.1", 0)
    try:
        got = [await receiver.next() for _ in range(4)]
    finally:
        await gw.stop()
    assert got[0].startswith("READY=1")
    assert got[1:] == ["WATCHDOG=1"] * 3


async def test_socket_gone_does_not_crash(receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manager's socket disappearing makes sends fail quietly; the gateway keeps serving."""
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.address)
    monkeypatch.setenv("WATCHDOG_USEC", "50000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    gw = Gateway(Config({}), tmp_path / "data")
    await gw.start("127.0.0.1", 0)
    try:
        assert (await receiver.next()).startswith("READY=1")
        receiver.close()
        if not receiver.address.startswith("@"):
            os.unlink(receiver.address)
        sent = gw.notifier.sent
        await asyncio.sleep(0.2)  # several watchdog periods against a missing socket
        assert gw.notifier.sent == sent
        gw.notifier.status("still here")
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{gw.http_port}/healthz") as r:
            assert r.status == 200
        assert gw.notifier._task is not None and not gw.notifier._task.done()
    finally:
        await gw.stop()


def test_without_notify_socket_nothing_is_sent() -> None:
    """Outside systemd the notifier is disabled and send reports False."""
    n = Notifier({})
    assert not n.enabled
    assert n.send("READY=1") is False
