"""Simulated 2 x 20 customer pole display (ESC/POS display mode) keeping its screen contents.

Interprets the Epson DM-D command subset of ``drivers.display.codec`` (``ESC @``, ``FF``,
``VT``, ``US $ x y``, ``US C n``, ``US MD1..3``, ``ESC t n``, ``CR``, ``LF``, ``BS``, ``HT``,
``CAN``) on a screen buffer, so tests and the demo can read what a customer would see. Runs
in-process (``feed``) or behind a pty (``PtyDisplaySimulator``). Unknown bytes are skipped and
listed in ``warnings``.
"""

from __future__ import annotations

import logging

from drivers.pty_endpoint import PtyEndpoint

log = logging.getLogger(__name__)

_SLOT_ENCODINGS = {0: "cp437", 2: "cp850", 16: "cp1252", 19: "cp858"}
#: Argument bytes of ESC and US commands this display knows.
_ESC_ARGS = {0x40: 0, 0x74: 1, 0x52: 1, 0x3D: 1}
_US_ARGS = {0x24: 2, 0x43: 1, 0x45: 1, 0x58: 1, 0x01: 0, 0x02: 0, 0x03: 0, 0x0A: 0, 0x0D: 0, 0x42: 0}


class DisplaySimulator:
    """The screen state machine of a pole display."""

    def __init__(self, columns: int = 20, rows: int = 2) -> None:
        self.columns, self.rows = columns, rows
        self.screen = [[" "] * columns for _ in range(rows)]
        self.col = self.row = 0
        self.encoding = "cp437"
        self.cursor_visible = True
        self.warnings: list[str] = []
        self._pending = b""

    @property
    def lines(self) -> list[str]:
        """The text of every row."""
        return ["".join(r) for r in self.screen]

    def _clear(self) -> None:
        self.screen = [[" "] * self.columns for _ in range(self.rows)]
        self.col = self.row = 0

    def _put(self, ch: str) -> None:
        self.screen[self.row][self.col] = ch
        if self.col < self.columns - 1:
            self.col += 1
        elif self.row < self.rows - 1:  # overwrite mode: wrap to the next row, stay at the end
            self.col, self.row = 0, self.row + 1

    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the host (a display never answers)."""
        buf = self._pending + data
        self._pending = b""
        i = 0
        while i < len(buf):
            b = buf[i]
            if b in (0x1B, 0x1F):
                table = _ESC_ARGS if b == 0x1B else _US_ARGS
                if i + 1 >= len(buf):
                    self._pending = buf[i:]
                    break
                cmd = buf[i + 1]
                if cmd not in table:
                    self.warnings.append(f"unknown command {b:02x} {cmd:02x}")
                    i += 2
                    continue
                end = i + 2 + table[cmd]
                if end > len(buf):
                    self._pending = buf[i:]
                    break
                self._command(b, cmd, buf[i + 2 : end])
                i = end
                continue
            self._control_or_char(b)
            i += 1
        return b""

    def _command(self, prefix: int, cmd: int, args: bytes) -> None:
        if prefix == 0x1B and cmd == 0x40:
            self._clear()
            self.encoding, self.cursor_visible = "cp437", True
        elif prefix == 0x1B and cmd == 0x74:
            enc = _SLOT_ENCODINGS.get(args[0])
            if enc is None:
                self.warnings.append(f"unsupported code page {args[0]}")
            else:
                self.encoding = enc
        elif prefix == 0x1F and cmd == 0x24:
            x, y = args
            if 1 <= x <= self.columns and 1 <= y <= self.rows:
                self.col, self.row = x - 1, y - 1
            else:
                self.warnings.append(f"cursor position out of range {x},{y}")
        elif prefix == 0x1F and cmd == 0x43:
            self.cursor_visible = bool(args[0] & 1)
        elif prefix == 0x1F and cmd == 0x42:
            self.row = self.rows - 1
        elif prefix == 0x1F and cmd == 0x0D:
            self.col = self.columns - 1

    def _control_or_char(self, b: int) -> None:
        if b == 0x0C:
            self._clear()
        elif b == 0x0B:
            self.col = self.row = 0
        elif b == 0x0D:
            self.col = 0
        elif b == 0x0A:
            self.row = min(self.row + 1, self.rows - 1)
        elif b == 0x08:
            self.col = max(self.col - 1, 0)
        elif b == 0x09:
            self.col = min(self.col + 1, self.columns - 1)
        elif b == 0x18:
            self.screen[self.row] = [" "] * self.columns
            self.col = 0
        elif b < 0x20:
            self.warnings.append(f"unknown control byte {b:02x}")
        else:
            self._put(bytes((b,)).decode(self.encoding, errors="replace"))


class PtyDisplaySimulator(PtyEndpoint):
    """The display simulator behind a pty (``path`` is what the driver opens)."""

    def __init__(self, sim: DisplaySimulator | None = None, link: str | None = None) -> None:
        self.sim = sim or DisplaySimulator()
        super().__init__(self.sim.feed, link)
