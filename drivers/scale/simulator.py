"""Scale simulator on a pty speaking MT-SICS, Toledo 8217 or NCI, scriptable from code or stdin.

Used by the tests and by ``storegw demo``; run by hand with
``python -m drivers.scale.simulator --protocol mtsics|nci|toledo8217 [--link PATH] [--weight G]``
and type ``weight 1234``, ``moving``, ``stable``, ``overload``, ``underload``, ``normal``,
``garbage``, ``unplug``, ``replug`` or ``quit`` on stdin. The wire formats are those the
codecs in this package parse (sources named in their module docstrings).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from drivers.serialio import Framer
from drivers.serialio.pty import PtyDevice


@dataclass
class ScaleState:
    """What is on the simulated platter; weights in grams."""

    gross_g: int = 0
    zero_offset_g: int = 0
    tare_g: int = 0
    stable: bool = True
    overload: bool = False
    underload: bool = False
    serial: str = "SIM0000001"

    @property
    def net_g(self) -> int:
        """Displayed (net) weight."""
        return self.gross_g - self.zero_offset_g - self.tare_g


def _kg(grams: int) -> str:
    return f"{grams / 1000:.3f}" if grams >= 0 else f"-{-grams / 1000:.3f}"


class ScaleSimulator:
    """A simulated scale. ``garbage_next`` replaces the next reply with those bytes."""

    def __init__(self, protocol: str = "mtsics", link: str | None = None, state: ScaleState | None = None) -> None:
        if protocol not in ("mtsics", "toledo8217", "nci"):
            raise ValueError(f"unknown protocol {protocol!r}")
        self.protocol = protocol
        self.state = state or ScaleState()
        self.garbage_next: bytes | None = None
        self.wire = bytearray()  # every byte the driver sent, for exact-byte assertions
        self.silent = False
        self.pty = PtyDevice(self._on_bytes, link)
        # 8217 commands are single letters without terminator; the others end with CR (LF).
        self._framer = None if protocol == "toledo8217" else Framer(b"\r\n", max_len=64)

    @property
    def path(self) -> str:
        """Port path for the driver."""
        return self.pty.path

    async def start(self) -> None:
        """Create the pty and serve on the running loop."""
        self.pty.open()

    def close(self) -> None:
        """Unplug for good."""
        self.pty.unplug()

    def _on_bytes(self, data: bytes) -> None:
        self.wire += data
        if self._framer is None:
            commands = [bytes([b]) for b in data]
        else:
            commands = [c for c in self._framer.feed(data) if isinstance(c, bytes)]
        for cmd in commands:
            reply = self.reply(cmd.decode("ascii", "replace").strip())
            if self.silent or reply is None:
                continue
            if self.garbage_next is not None:
                reply, self.garbage_next = self.garbage_next, None
            self.pty.write(reply)

    def reply(self, cmd: str) -> bytes | None:
        """The reply bytes to one command (None: the protocol sends nothing)."""
        if self.protocol == "mtsics":
            return (self._sics(cmd) + "\r\n").encode("ascii")
        if self.protocol == "toledo8217":
            return self._t8217(cmd)
        return self._nci(cmd)

    def _do_zero(self) -> None:
        self.state.zero_offset_g = self.state.gross_g
        self.state.tare_g = 0

    def _sics(self, cmd: str) -> str:
        s = self.state
        parts = cmd.split()
        head = parts[0] if parts else ""
        if head in ("S", "SI"):
            if s.overload:
                return "S +"
            if s.underload:
                return "S -"
            if not s.stable and head == "S":
                return "S I"
            return f"S {'S' if s.stable else 'D'} {_kg(s.net_g):>10} kg"
        if head in ("Z", "ZI"):
            if not s.stable and head == "Z":
                return "Z I"
            if s.overload or s.underload:
                return "Z +" if s.overload else "Z -"
            self._do_zero()
            return "Z A"
        if head in ("T", "TI"):
            if not s.stable and head == "T":
                return "T I"
            if s.gross_g - s.zero_offset_g <= 0:
                return "T -"
            s.tare_g = s.gross_g - s.zero_offset_g
            return f"T S {_kg(s.tare_g):>10} kg"
        if head == "TA" and len(parts) == 3 and parts[2] == "g" and parts[1].isdigit():
            s.tare_g = int(parts[1])
            return f"TA A {_kg(s.tare_g):>10} kg"
        if head == "TA" and len(parts) == 1:
            return f"TA A {_kg(s.tare_g):>10} kg"
        if head == "TAC":
            s.tare_g = 0
            return "TAC A"
        if head in ("@", "I4"):
            return f'I4 A "{s.serial}"'
        return "ES"

    def _status_8217(self) -> int:
        s = self.state
        bits = 0x40  # bit 6 is always set
        bits |= 0x01 if not s.stable else 0
        bits |= 0x02 if s.overload else 0
        bits |= 0x04 if s.underload or s.net_g < 0 else 0
        bits |= 0x10 if s.net_g == 0 else 0
        bits |= 0x20 if s.tare_g else 0
        return bits

    def _t8217(self, cmd: str) -> bytes | None:
        s = self.state
        if cmd == "W":
            if not s.stable or s.overload or s.underload or s.net_g < 0:
                return bytes([0x02, ord("?"), self._status_8217(), 0x0D])
            return b"\x02" + f"{s.net_g / 1000:06.3f}".encode() + (b"N" if s.tare_g else b"") + b"\r"
        if cmd == "Z":
            self._do_zero()
        elif cmd == "T":
            s.tare_g = s.gross_g - s.zero_offset_g
        elif cmd == "C":
            s.tare_g = 0
        return None

    def _nci(self, cmd: str) -> bytes:
        s = self.state
        s1 = 0x30 | (0x01 if not s.stable else 0) | (0x02 if s.net_g == 0 else 0)
        s2 = 0x30 | (0x01 if s.underload or s.net_g < 0 else 0) | (0x02 if s.overload else 0)
        status = bytes([s1, s2]) + b"\r\x03"
        if cmd == "W":
            if s.stable and not (s.overload or s.underload) and s.net_g >= 0:
                return b"\n" + f"{s.net_g / 1000:08.3f}KG".encode() + b"\r\n" + status
            return b"\n" + status
        if cmd == "S":
            return b"\n" + status
        if cmd == "Z":
            self._do_zero()
            s1 = 0x30 | 0x02
            return b"\n" + bytes([s1, 0x30]) + b"\r\x03"
        return b"\n?\r\x03"

    def command(self, line: str) -> bool:
        """Apply one script line (see the module docstring); False on ``quit``."""
        words = line.split()
        if not words:
            return True
        s, verb = self.state, words[0]
        if verb == "weight" and len(words) == 2:
            s.gross_g = int(words[1])
        elif verb in ("moving", "stable"):
            s.stable = verb == "stable"
        elif verb in ("overload", "underload", "normal"):
            s.overload, s.underload = verb == "overload", verb == "underload"
        elif verb == "garbage":
            self.pty.write(b"\x00\xff#garbage#\r\n")
        elif verb == "unplug":
            self.pty.unplug()
        elif verb == "replug":
            self.pty.replug()
        elif verb == "quit":
            return False
        else:
            print(f"unknown: {line}", file=sys.stderr)
        return True


async def _main(args: argparse.Namespace) -> None:
    sim = ScaleSimulator(args.protocol, args.link, ScaleState(gross_g=args.weight))
    await sim.start()
    print(f"scale simulator ({args.protocol}) on {sim.path}", flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def on_stdin() -> None:
        """Apply one script line from stdin."""
        line = sys.stdin.readline()
        if not line or not sim.command(line):
            done.set()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await done.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        sim.close()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m drivers.scale.simulator")
    ap.add_argument("--protocol", choices=["mtsics", "nci", "toledo8217"], default="mtsics")
    ap.add_argument("--link", help="stable symlink to the pty slave (like /dev/serial/by-id/...)")
    ap.add_argument("--weight", type=int, default=0, help="initial gross weight in grams")
    asyncio.run(_main(ap.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
