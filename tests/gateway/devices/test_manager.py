"""Device manager over a real TCP device: online/offline/replug, serialised and idempotent commands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.bus import Bus
from gateway.devices.base import EmitEvent, EmitState, UnknownAction
from gateway.devices.discovery import match, parse_uevent, scan_usb
from gateway.devices.manager import DeviceManager, DevicesConfig
from gateway.errors import GatewayError
from gateway.idempotency import IdemKey, IdempotencyStore
from gateway.ledger import Ledger
from gateway.netutil import free_port


class LineDevice:
    """A line-protocol device server: PING -> PONG, PRINT x -> OK n; records what it printed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.printed: list[str] = []
        self.active = 0
        self.max_active = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server
        self.server.close()
        for w in self.writers:
            w.close()
        await self.server.wait_closed()

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.writers.append(w)
        with contextlib.suppress(ConnectionError):
            while line := await r.readline():
                cmd = line.decode().strip()
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                await asyncio.sleep(0.02)
                self.active -= 1
                if cmd == "PING":
                    w.write(b"PONG\n")
                elif cmd.startswith("PRINT "):
                    self.printed.append(cmd[6:])
                    w.write(f"OK {len(self.printed)}\n".encode())
                else:
                    w.write(b"ERR\n")
                await w.drain()


class LineAdapter:
    kind = "printer"
    actions = frozenset({"print", "ping"})
    idempotent_actions = frozenset({"print"})

    def __init__(self, port: int) -> None:
        self.port = port
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def open(self, emit_event: EmitEvent, emit_state: EmitState) -> None:
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        await self._ask("PING")

    async def _ask(self, line: str) -> str:
        assert self.r and self.w
        self.w.write(line.encode() + b"\n")
        await self.w.drain()
        reply = await self.r.readline()
        if not reply:
            raise ConnectionError("device closed the connection")
        return reply.decode().strip()

    async def close(self) -> None:
        if self.w:
            self.w.close()
            self.w = None

    async def health(self) -> dict[str, Any]:
        return {"reply": await self._ask("PING")}

    async def command(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.w is None:
            raise ConnectionError("not connected")
        if action == "ping":
            return {"reply": await self._ask("PING")}
        return {"reply": await self._ask("PRINT " + str(params.get("text", "")))}

    def describe(self) -> dict[str, Any]:
        return {"driver": "line", "transport": f"tcp://127.0.0.1:{self.port}"}


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[DeviceManager, LineDevice, Bus]]:
    port = free_port()
    server = LineDevice(port)
    await server.start()
    bus = Bus()
    ledger = Ledger(tmp_path / "l.db", bus).open()
    mgr = DeviceManager(DevicesConfig(discovery=False, health_interval_s=1, reconnect_min_s=1, reconnect_max_s=1,
                                      command_timeout_s=5), bus, IdempotencyStore(ledger))
    mgr.add("printer-1", "receipt-printer", LineAdapter(port))
    await mgr.start()
    yield mgr, server, bus
    await mgr.stop()
    with contextlib.suppress(Exception):
        await server.stop()
    ledger.close()


async def wait_state(mgr: DeviceManager, dev: str, state: str, timeout: float = 8) -> None:
    async with asyncio.timeout(timeout):
        while mgr.get(dev).state != state:
            await asyncio.sleep(0.05)


async def test_online_offline_replug(setup: tuple[DeviceManager, LineDevice, Bus]) -> None:
    mgr, server, bus = setup
    sub = bus.subscribe("device.printer-1.status")
    await wait_state(mgr, "printer-1", "online")
    await server.stop()
    await wait_state(mgr, "printer-1", "offline")
    with pytest.raises(GatewayError) as info:
        await mgr.command("printer-1", "ping", {})
    assert info.value.status in (503,)
    server2 = LineDevice(server.port)
    await server2.start()
    await wait_state(mgr, "printer-1", "online")
    assert (await mgr.command("receipt-printer", "ping", {}))["reply"] == "PONG"
    states = []
    while not sub.queue.empty():
        st = sub.queue.get_nowait().data["state"]
        if not states or states[-1] != st:
            states.append(st)
    assert states[:3] == ["online", "offline", "online"]
    await server2.stop()


async def test_commands_are_serialised(setup: tuple[DeviceManager, LineDevice, Bus]) -> None:
    mgr, server, _ = setup
    await wait_state(mgr, "printer-1", "online")
    await asyncio.wait_for(asyncio.gather(*(mgr.command("printer-1", "print", {"text": f"r{i}"}) for i in range(10))), 10)
    assert server.max_active == 1
    assert sorted(server.printed) == sorted(f"r{i}" for i in range(10))


async def test_retried_print_prints_once(setup: tuple[DeviceManager, LineDevice, Bus]) -> None:
    mgr, server, _ = setup
    await wait_state(mgr, "printer-1", "online")
    key = IdemKey.make("job-1", "till", "device:printer-1:print", {"text": "hello"})
    results = await asyncio.wait_for(asyncio.gather(*(mgr.command("printer-1", "print", {"text": "hello"}, key) for _ in range(4))), 10)
    assert server.printed == ["hello"]
    assert all(r == results[0] for r in results)


async def test_unknown_action(setup: tuple[DeviceManager, LineDevice, Bus]) -> None:
    mgr, _, _ = setup
    with pytest.raises(UnknownAction):
        await mgr.command("printer-1", "explode", {})


def test_parse_uevent() -> None:
    raw = b"add@/devices/pci0000:00/usb1/1-1\0ACTION=add\0DEVPATH=/devices/pci0000:00/usb1/1-1\0SUBSYSTEM=usb\0PRODUCT=4b8/202/100\0"
    ev = parse_uevent(raw)
    assert ev is not None and ev["SUBSYSTEM"] == "usb" and ev["PRODUCT"] == "4b8/202/100"
    assert parse_uevent(b"libudev\0\xfe\xed") is None
    assert parse_uevent(b"\xff\xfe garbage") is None


def test_scan_fake_sysfs(tmp_path: Path) -> None:
    dev = tmp_path / "1-1"
    (dev / "1-1:1.0" / "ttyUSB0").mkdir(parents=True)
    (dev / "idVendor").write_text("04b8\n")
    (dev / "idProduct").write_text("0202\n")
    (dev / "serial").write_text("X123\n")
    (dev / "product").write_text("TM-T88\n")
    (tmp_path / "usb1").mkdir()  # a hub without ids is skipped
    found = scan_usb(tmp_path)
    assert len(found) == 1 and found[0].key == "04b8:0202:X123" and "/dev/ttyUSB0" in found[0].nodes
    matched = match(found, {"04b8:0202": {"driver": "escpos", "kind": "printer"}})
    assert matched[0]["known"] and matched[0]["driver"] == "escpos"


async def test_bad_command_parameters_are_the_callers_error(setup: tuple[DeviceManager, LineDevice, Bus]) -> None:
    """A command whose parameters the adapter cannot use is a 400, and the device stays online."""

    mgr, _, _ = setup
    await wait_state(mgr, "printer-1", "online")

    class Strict(LineAdapter):
        async def command(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
            return {"n": int(params["count"])}

    mgr.add("printer-2", "spare", Strict(setup[1].port))
    await wait_state(mgr, "printer-2", "online")
    for bad in ({}, {"count": "many"}):
        with pytest.raises(GatewayError) as info:
            await mgr.command("printer-2", "ping", bad)
        assert info.value.status == 400
    assert mgr.get("printer-2").state == "online"
