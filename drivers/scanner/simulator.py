"""Scanner simulators: evdev event sequences for a code, a fake input device, a serial scanner.

:func:`key_events` produces what a USB keyboard-wedge scanner emits for a code in a given
layout: per character ``EV_MSC/MSC_SCAN`` (HID usage, HID Usage Tables keyboard page 0x07),
``EV_KEY`` down, ``EV_SYN``, then the same for key up, with Shift/AltGr/Ctrl pressed around
it (fact sheet §3.1). :class:`SimulatedInputDevice` serves such events through the same
interface as ``evdev.InputDevice`` (grab, async_read_loop), including unplug.
:class:`SerialScannerSimulator` writes codes with a suffix to a pty; run it by hand with
``python -m drivers.scanner.simulator [--link PATH] [--suffix cr|lf|crlf]`` and type one code
per line on stdin (``<GS>`` stands for the GS separator).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
import time
from collections.abc import AsyncIterator

import evdev
from evdev import ecodes as e

from drivers.scanner.keymaps import get_layout
from drivers.serialio.pty import PtyDevice

# HID keyboard-page usage IDs for the keys scanners use (HID Usage Tables §10).
_USAGE: dict[int, int] = {getattr(e, f"KEY_{c}"): 0x04 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_USAGE.update({getattr(e, f"KEY_{c}"): 0x1E + i for i, c in enumerate("1234567890")})
_USAGE.update(
    {
        e.KEY_ENTER: 0x28, e.KEY_TAB: 0x2B, e.KEY_SPACE: 0x2C, e.KEY_MINUS: 0x2D, e.KEY_EQUAL: 0x2E,
        e.KEY_LEFTBRACE: 0x2F, e.KEY_RIGHTBRACE: 0x30, e.KEY_BACKSLASH: 0x32, e.KEY_SEMICOLON: 0x33,
        e.KEY_APOSTROPHE: 0x34, e.KEY_GRAVE: 0x35, e.KEY_COMMA: 0x36, e.KEY_DOT: 0x37, e.KEY_SLASH: 0x38,
        e.KEY_102ND: 0x64, e.KEY_LEFTCTRL: 0xE0, e.KEY_LEFTSHIFT: 0xE1, e.KEY_RIGHTALT: 0xE6,
    }
)  # fmt: skip
# KEY_BACKSLASH is reported as the non-US "#" usage (0x32) on ISO keyboards, as scanners in DE mode do.


def _reverse(layout: str) -> dict[str, tuple[int, str]]:
    """char -> (keycode, level) with level "", "shift" or "altgr"; main block before keypad."""
    out: dict[str, tuple[int, str]] = {}
    for code, (plain, shifted, altgr) in sorted(get_layout(layout).items(), key=lambda kv: (kv[0] >= 71, kv[0])):
        for char, level in ((plain, ""), (shifted, "shift"), (altgr, "altgr")):
            if char and char not in out:
                out[char] = (code, level)
    return out


_REVERSE = {name: _reverse(name) for name in ("us", "de")}
_SUFFIX = {"enter": e.KEY_ENTER, "tab": e.KEY_TAB, "none": None}


def key_events(
    code: str, layout: str = "us", suffix: str = "enter", *, start: float | None = None, gap: float = 0.0005
) -> list[evdev.InputEvent]:
    """The event sequence a wedge scanner sends for ``code`` (GS typed as Ctrl+])."""
    table = _REVERSE[layout]
    t = time.time() if start is None else start
    events: list[evdev.InputEvent] = []

    def emit(key: int, value: int) -> None:
        """Append MSC_SCAN, EV_KEY and SYN_REPORT for one key transition."""
        nonlocal t
        sec, usec = int(t), round((t - int(t)) * 1_000_000)
        if key in _USAGE:
            events.append(evdev.InputEvent(sec, usec, e.EV_MSC, e.MSC_SCAN, 0x70000 | _USAGE[key]))
        events.append(evdev.InputEvent(sec, usec, e.EV_KEY, key, value))
        events.append(evdev.InputEvent(sec, usec, e.EV_SYN, e.SYN_REPORT, 0))
        t += gap

    strokes: list[tuple[int, int | None]] = []
    for char in code:
        if char == "\x1d":
            strokes.append((e.KEY_RIGHTBRACE, e.KEY_LEFTCTRL))
            continue
        if char not in table:
            raise ValueError(f"{char!r} cannot be typed in layout {layout!r}")
        key, level = table[char]
        strokes.append((key, {"": None, "shift": e.KEY_LEFTSHIFT, "altgr": e.KEY_RIGHTALT}[level]))
    end = _SUFFIX[suffix]
    if end is not None:
        strokes.append((end, None))
    for key, modifier in strokes:
        if modifier is not None:
            emit(modifier, 1)
        emit(key, 1)
        emit(key, 0)
        if modifier is not None:
            emit(modifier, 0)
    return events


class SimulatedInputDevice:
    """Stands in for ``evdev.InputDevice``: a queue of events, a grab flag, and unplug."""

    def __init__(self, path: str = "/dev/input/sim-scanner", name: str = "Simulated Barcode Scanner",
                 vendor: int = 0x0C2E, product: int = 0x0B81) -> None:
        self.path = path
        self.name = name
        self.info = evdev.device.DeviceInfo(e.BUS_USB, vendor, product, 0x0100)
        self.grabbed = False
        self.closed = False
        self.present = True  # False after unplug: the node is gone
        self.busy = False  # True: another process holds the grab
        self._queue: asyncio.Queue[evdev.InputEvent | None] = asyncio.Queue()

    def grab(self) -> None:
        """Exclusive access; a second grab fails like EVIOCGRAB does (EBUSY)."""
        if self.grabbed or self.busy:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.grabbed = True

    def ungrab(self) -> None:
        """Release the grab; EINVAL when not grabbed, as evdev does."""
        if not self.grabbed:
            raise OSError(errno.EINVAL, "Invalid argument")
        self.grabbed = False

    def close(self) -> None:
        """Close the node (drops the grab)."""
        self.grabbed = False
        self.closed = True

    def inject(self, events: list[evdev.InputEvent]) -> None:
        """Queue events for the reader."""
        for ev in events:
            self._queue.put_nowait(ev)

    def scan(self, code: str, layout: str = "us", suffix: str = "enter") -> None:
        """Queue the events of one scan."""
        self.inject(key_events(code, layout, suffix))

    def unplug(self) -> None:
        """Make the read loop fail with ENODEV, as a pulled USB device does."""
        self.present = False
        self._queue.put_nowait(None)

    async def async_read_loop(self) -> AsyncIterator[evdev.InputEvent]:
        """Yield queued events; raise ``OSError(ENODEV)`` after :meth:`unplug`."""
        while True:
            ev = await self._queue.get()
            if ev is None:
                raise OSError(errno.ENODEV, "No such device")
            yield ev


class SerialScannerSimulator:
    """A serial/CDC scanner on a pty: :meth:`scan` writes the code and the suffix."""

    def __init__(self, link: str | None = None, suffix: bytes = b"\r\n") -> None:
        self.suffix = suffix
        self.pty = PtyDevice(lambda data: None, link)  # scanners ignore what the host sends

    @property
    def path(self) -> str:
        """Port path for the driver."""
        return self.pty.path

    async def start(self) -> None:
        """Create the pty."""
        self.pty.open()

    def scan(self, code: str) -> None:
        """Send one code."""
        self.pty.write(code.encode("utf-8") + self.suffix)

    def close(self) -> None:
        """Unplug."""
        self.pty.unplug()


async def _serial_main(args: argparse.Namespace) -> None:
    sim = SerialScannerSimulator(args.link, {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}[args.suffix])
    await sim.start()
    print(f"serial scanner simulator on {sim.path}", flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def on_stdin() -> None:
        """Send each stdin line as one scan; EOF ends the simulator."""
        line = sys.stdin.readline()
        if not line:
            done.set()
        elif line.strip():
            sim.scan(line.strip().replace("<GS>", "\x1d"))

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await done.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        sim.close()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: a serial scanner on a pty fed from stdin."""
    ap = argparse.ArgumentParser(prog="python -m drivers.scanner.simulator")
    ap.add_argument("--link", help="stable symlink to the pty slave")
    ap.add_argument("--suffix", choices=["cr", "lf", "crlf"], default="crlf")
    asyncio.run(_serial_main(ap.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
