"""Load key sequences stored in evtest's text format as ``evdev.InputEvent`` objects."""

from __future__ import annotations

import re
from pathlib import Path

import evdev
from evdev import ecodes as e

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scanner"
_EVENT = re.compile(r"time (\d+)\.(\d{6}), type (\d+) \(\w+\), code (\d+) \(\w+\), value ([0-9a-f]+)")
_SYN = re.compile(r"time (\d+)\.(\d{6}), -+ SYN_REPORT")


def load(name: str) -> tuple[str, list[evdev.InputEvent]]:
    """Return (expected text from the header, events) of one fixture file."""
    expected = ""
    events: list[evdev.InputEvent] = []
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("# Expected text: "):
            expected = line.removeprefix("# Expected text: ").replace("<GS>", "\x1d")
        elif m := _EVENT.search(line):
            sec, usec, typ, code, value = m.groups()
            v = int(value, 16) if int(typ) == e.EV_MSC else int(value)
            events.append(evdev.InputEvent(int(sec), int(usec), int(typ), int(code), v))
        elif m := _SYN.search(line):
            events.append(evdev.InputEvent(int(m.group(1)), int(m.group(2)), e.EV_SYN, e.SYN_REPORT, 0))
    return expected, events
