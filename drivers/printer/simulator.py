"""ESC/POS receipt printer simulator: a TCP port-9100 or pty printer that answers DLE EOT.

Speaks the wire protocol of an Epson TM-series receipt printer (ESC/POS; DLE EOT real-time
status as in the TM-T88III technical reference, fact sheet peripherals.md §1.6): it accepts
print data, splits it into jobs at each cut (``GS V``), answers ``DLE EOT 1..4`` from a
scriptable state (paper near end/out, cover open, offline, drawer open), opens its drawer on a
kick (``ESC p`` / ``DLE DC4 1``), and can lose paper or the connection in the middle of a
receipt. Used by the tests and by ``storegw demo``; stored jobs render with
``drivers.printer.render``.

``python -m drivers.printer.simulator --port 9100 [--pty LINK] [--jobs-dir DIR]`` runs it;
with ``--control-stdin`` lines such as ``paper-out`` or ``drawer-close`` change its state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drivers.printer._escpos import Escpos
from drivers.printer.tokens import tokenize
from drivers.pty_endpoint import PtyEndpoint

log = logging.getLogger(__name__)

_MAX_PENDING = 1 << 20


@dataclass(slots=True)
class SimulatedState:
    """The physical state the simulated printer reports through DLE EOT."""

    offline: bool = False
    cover_open: bool = False
    paper_near_end: bool = False
    paper_out: bool = False
    drawer_open: bool = False
    #: Level of drawer connector pin 3 while the drawer is open (drawer-model dependent).
    drawer_open_level_high: bool = True
    autocutter_error: bool = False
    unrecoverable_error: bool = False

    def reply(self, n: int) -> int:
        """The status byte this state answers to ``DLE EOT n``."""
        value = 0x12
        if n == 1:
            if self.drawer_open == self.drawer_open_level_high:
                value |= 0x04
            if self.offline or self.cover_open or self.paper_out or self.unrecoverable_error:
                value |= 0x08
        elif n == 2:
            value |= (0x04 if self.cover_open else 0) | (0x20 if self.paper_out else 0)
            if self.autocutter_error or self.unrecoverable_error:
                value |= 0x40
        elif n == 3:
            value |= (0x08 if self.autocutter_error else 0) | (0x20 if self.unrecoverable_error else 0)
        elif n == 4:
            value |= (0x0C if self.paper_near_end or self.paper_out else 0) | (0x60 if self.paper_out else 0)
        return value

    @property
    def can_print(self) -> bool:
        """Whether received print data ends up on paper."""
        return not (self.offline or self.cover_open or self.paper_out or self.unrecoverable_error)


#: Names accepted by ``PrinterSimulator.apply`` (and the ``--control-stdin`` channel).
COMMANDS = (
    "paper-ok", "paper-near-end", "paper-out", "cover-open", "cover-close", "offline", "online",
    "drawer-open", "drawer-close", "error", "clear-error", "garble", "silent", "answer",
)


@dataclass(slots=True)
class DrawerKick:
    """A drawer kick the simulator received."""

    pin: int
    on_ms: int
    off_ms: int


class PrinterSimulator:
    """Protocol core of the simulated printer: bytes in, reply bytes out; no I/O.

    ``feed`` returns the bytes to send back. Completed jobs (up to and including a cut) are
    in ``jobs``; data that arrived while the printer could not print is counted in
    ``lost_bytes`` and never appears in a job.
    """

    def __init__(self, state: SimulatedState | None = None, on_job: Callable[[bytes], None] | None = None) -> None:
        self.state = state or SimulatedState()
        self.jobs: list[bytes] = []
        self.current = bytearray()
        self.lost_bytes = 0
        self.kicks: list[DrawerKick] = []
        self.queries: list[int] = []
        self.on_job = on_job
        #: Bytes that replace the next status reply (malformed-reply tests).
        self.garbled_reply: bytes | None = None
        #: When True, status queries are not answered (a hung printer).
        self.silent = False
        self._paper_left: int | None = None
        self._pending = b""

    def paper_out_after(self, print_bytes: int) -> None:
        """Let the paper run out after ``print_bytes`` more bytes of print data."""
        self._paper_left = print_bytes

    def apply(self, command: str) -> None:
        """Change the state by name (see ``COMMANDS``)."""
        s = self.state
        actions: dict[str, Callable[[], None]] = {
            "paper-ok": lambda: self._set(paper_out=False, paper_near_end=False),
            "paper-near-end": lambda: self._set(paper_near_end=True, paper_out=False),
            "paper-out": lambda: self._set(paper_out=True),
            "cover-open": lambda: self._set(cover_open=True),
            "cover-close": lambda: self._set(cover_open=False),
            "offline": lambda: self._set(offline=True),
            "online": lambda: self._set(offline=False),
            "drawer-open": lambda: self._set(drawer_open=True),
            "drawer-close": lambda: self._set(drawer_open=False),
            "error": lambda: self._set(autocutter_error=True),
            "clear-error": lambda: self._set(autocutter_error=False, unrecoverable_error=False),
            "garble": lambda: setattr(self, "garbled_reply", b"\xff\x00"),
            "silent": lambda: setattr(self, "silent", True),
            "answer": lambda: setattr(self, "silent", False),
        }
        if command not in actions:
            raise ValueError(f"unknown simulator command {command!r}; known: {', '.join(COMMANDS)}")
        actions[command]()
        log.info("simulated printer: %s -> %s", command, s)

    def _set(self, **changes: bool) -> None:
        for key, value in changes.items():
            setattr(self.state, key, value)

    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the host; return the status replies to send back."""
        buf = self._pending + data
        self._pending = b""
        replies = bytearray()
        for tok in tokenize(buf):
            if tok.kind == "truncated":
                self._pending = buf[tok.offset :]
                if len(self._pending) > _MAX_PENDING:
                    log.error("simulated printer: dropping %d bytes of an endless command", len(self._pending))
                    self._pending = b""
                break
            raw = buf[tok.offset : tok.end]
            if tok.name == "DLE EOT" and tok.args and 1 <= tok.args[0] <= 4:
                self.queries.append(tok.args[0])
                replies += self._reply(tok.args[0])
                continue
            if tok.name == "ESC p" and self.state.can_print:
                # Queued with the print data: a printer that cannot print does not pulse either.
                pin = 5 if tok.args[0] in (1, 49) else 2
                self._kick(DrawerKick(pin, tok.args[1] * 2, max(tok.args[1], tok.args[2]) * 2))
            elif tok.name == "DLE DC4" and tok.args[0] == 1:
                pin = 5 if tok.args[1] in (1, 49) else 2
                self._kick(DrawerKick(pin, tok.args[2] * 100, tok.args[2] * 100))
                continue  # real-time command: runs even when offline, never part of the job
            self._print(raw)
            if tok.name == "GS V" and self.state.can_print:
                self.finish_job()
        return bytes(replies)

    def _reply(self, n: int) -> bytes:
        if self.silent:
            return b""
        if self.garbled_reply is not None:
            reply, self.garbled_reply = self.garbled_reply, None
            return reply
        return bytes((self.state.reply(n),))

    def _kick(self, kick: DrawerKick) -> None:
        self.kicks.append(kick)
        self.state.drawer_open = True

    def _print(self, raw: bytes) -> None:
        if not self.state.can_print:
            self.lost_bytes += len(raw)
            return
        if self._paper_left is not None:
            if len(raw) > self._paper_left:
                self.current += raw[: self._paper_left]
                self.lost_bytes += len(raw) - self._paper_left
                self._paper_left = None
                self.state.paper_out = True
                self.state.paper_near_end = True
                log.info("simulated printer: paper ran out mid-job")
                return
            self._paper_left -= len(raw)
        self.current += raw

    def disconnected(self) -> None:
        """The host went away: an incomplete command is discarded, received data ends the job."""
        if self._pending:
            log.info("simulated printer: discarding %d bytes of an incomplete command", len(self._pending))
            self._pending = b""
        self.finish_job()

    def finish_job(self) -> None:
        """Close the current job (at a cut or when the host disconnects)."""
        if not self.current.strip(b"\x00"):
            self.current.clear()
            return
        job = bytes(self.current)
        self.current.clear()
        self.jobs.append(job)
        if self.on_job is not None:
            self.on_job(job)


class SimulatedEscpos(Escpos):
    """An in-process python-escpos printer backed by a ``PrinterSimulator`` (recording fake).

    Unlike python-escpos 3.1's ``Dummy`` it answers status reads, so the status and queue code
    can be tested without sockets; ``unplugged = True`` makes every call fail like a lost link.
    """

    def __init__(self, simulator: PrinterSimulator | None = None, profile: str | None = None) -> None:
        super().__init__(profile=profile)
        self.sim = simulator or PrinterSimulator()
        self.unplugged = False
        self._replies = bytearray()

    def open(self) -> None:
        """Connect (fails while unplugged)."""
        if self.unplugged:
            raise OSError("simulated printer unplugged")
        self._device = True

    def close(self) -> None:
        """Disconnect."""
        self._device = False

    def _raw(self, msg: bytes) -> None:
        if self.unplugged:
            raise BrokenPipeError("simulated printer unplugged")
        self._replies += self.sim.feed(bytes(msg))

    def _read(self) -> bytes:
        if self.unplugged:
            raise OSError("simulated printer unplugged")
        out, self._replies = bytes(self._replies[:16]), self._replies[16:]
        return out


@dataclass(slots=True)
class _Conn:
    writer: asyncio.StreamWriter
    task: asyncio.Task[None] | None = None


@dataclass
class TcpPrinterSimulator:
    """The simulator on a TCP port (like a network printer's raw port 9100).

    ``port=0`` picks a free port (see ``port`` after ``start``). ``unplug`` closes the
    listener and all connections; ``start`` again on the same port is the replug.
    ``disconnect_after(n)`` drops the connection after ``n`` more received bytes.
    """

    sim: PrinterSimulator = field(default_factory=PrinterSimulator)
    host: str = "127.0.0.1"
    port: int = 0
    _server: asyncio.Server | None = None
    _conns: list[_Conn] = field(default_factory=list)
    _drop_after: int | None = None

    async def start(self) -> None:
        """Listen for connections."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    def disconnect_after(self, received_bytes: int) -> None:
        """Drop the current connection after ``received_bytes`` more bytes (cable pulled)."""
        self._drop_after = received_bytes

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer, asyncio.current_task())
        self._conns.append(conn)
        try:
            while data := await reader.read(4096):
                if self._drop_after is not None:
                    if len(data) >= self._drop_after:
                        self.sim.feed(data[: self._drop_after])
                        self._drop_after = None
                        break
                    self._drop_after -= len(data)
                reply = self.sim.feed(data)
                if reply:
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionError, OSError) as err:
            log.info("simulated printer: connection lost: %s", err)
        finally:
            self.sim.disconnected()
            self._conns.remove(conn)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def disconnect_clients(self) -> None:
        """Close every open connection but keep listening."""
        for conn in list(self._conns):
            conn.writer.transport.abort()
            if conn.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(conn.task), 2)

    async def unplug(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
            await self.disconnect_clients()
            await self._server.wait_closed()
            self._server = None

    async def stop(self) -> None:
        """Same as ``unplug``; for symmetry with ``start``."""
        await self.unplug()


class PtyPrinterSimulator(PtyEndpoint):
    """The simulator behind a pseudo-terminal: a serial receipt printer.

    ``path`` (the symlink when ``link`` is given, else the slave tty) is what a serial driver
    opens. ``unplug`` closes the pty (ending the current job), ``plug`` creates a new one
    behind the same link.
    """

    def __init__(self, sim: PrinterSimulator | None = None, link: str | None = None) -> None:
        self.sim = sim or PrinterSimulator()
        super().__init__(self.sim.feed, link, self.sim.disconnected)


async def _control_stdin(sim: PrinterSimulator) -> None:
    """Apply one state command per stdin line (e.g. ``paper-out``)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = line.decode(errors="replace").strip()
        if cmd:
            try:
                sim.apply(cmd)
            except ValueError as err:
                print(err, file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace) -> None:
    jobs_dir = Path(args.jobs_dir) if args.jobs_dir else None
    if jobs_dir:
        jobs_dir.mkdir(parents=True, exist_ok=True)

    def save(job: bytes) -> None:
        if jobs_dir is not None:
            path = jobs_dir / f"job-{len(sim.jobs):05d}.bin"
            path.write_bytes(job)
            log.info("simulated printer: stored %s (%d bytes)", path, len(job))

    sim = PrinterSimulator(on_job=save)
    for cmd in args.state or []:
        sim.apply(cmd)
    tcp = TcpPrinterSimulator(sim, args.host, args.port)
    await tcp.start()
    print(f"printer simulator listening on {args.host}:{tcp.port}", flush=True)
    pty_sim = PtyPrinterSimulator(sim, args.pty) if args.pty else None
    if pty_sim is not None:
        pty_sim.plug()
        print(f"printer simulator serial port at {pty_sim.path}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    control = asyncio.create_task(_control_stdin(sim)) if args.control_stdin else None
    try:
        await stop.wait()
    finally:
        if control is not None:
            control.cancel()
        if pty_sim is not None:
            pty_sim.close()
        await tcp.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m drivers.printer.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--pty", metavar="LINK", help="also serve on a pty, symlinked at LINK")
    parser.add_argument("--jobs-dir", help="store every received job as job-NNNNN.bin here")
    parser.add_argument("--state", action="append", choices=COMMANDS, help="initial state (repeatable)")
    parser.add_argument("--control-stdin", action="store_true", help="read state commands from stdin")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
