"""USB HID keyboard-wedge barcode scanners read through Linux evdev.

Hardware: any scanner in USB keyboard (HID boot keyboard) mode, e.g. Honeywell Voyager,
Zebra/Symbol, Datalogic, Newland. Protocol: Linux input event interface (``EV_KEY`` events,
``linux/input-event-codes.h``) as exposed by python-evdev; decoding per fact sheet §3.1:
track modifiers, map every key-down through a layout table, end the code on the configured
suffix key. :class:`HidDecoder` is pure (feed it ``evdev.InputEvent`` objects);
:class:`HidScanner` reads a device node with an exclusive grab and reopens it after replug.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import evdev
from evdev import ecodes as e

from drivers.scanner.errors import ScanDecodeError
from drivers.scanner.keymaps import get_layout
from drivers.scanner.model import Scan, make_scan

log = logging.getLogger(__name__)

SUFFIX_KEYS = {
    "enter": frozenset({e.KEY_ENTER, e.KEY_KPENTER}),
    "tab": frozenset({e.KEY_TAB}),
    "none": frozenset(),
}
_SHIFT = frozenset({e.KEY_LEFTSHIFT, e.KEY_RIGHTSHIFT})
_CTRL = frozenset({e.KEY_LEFTCTRL, e.KEY_RIGHTCTRL})
_IGNORED = frozenset({e.KEY_LEFTALT, e.KEY_LEFTMETA, e.KEY_RIGHTMETA, e.KEY_NUMLOCK, e.KEY_SCROLLLOCK})
_CONTROL_BASE = "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_"


class HidDecoder:
    """Turns evdev key events into :class:`Scan` objects.

    ``suffix`` is ``enter``, ``tab`` or ``none`` (then a gap longer than ``idle_gap`` seconds
    between keys, or :meth:`flush`, ends a code). Ctrl+letter gives the control character, and
    Ctrl plus the key at the US ``]`` position gives GS (0x1D) in every layout, which is how
    wedge scanners type FNC1; ``gs_substitute`` names a visible character the scanner was
    configured to send instead. Unknown keys are logged, counted in ``errors`` and skipped.
    """

    def __init__(
        self,
        layout: str = "us",
        suffix: str = "enter",
        *,
        gs_substitute: str | None = None,
        source: str = "hid",
        max_length: int = 4096,
        idle_gap: float = 0.1,
    ) -> None:
        if suffix not in SUFFIX_KEYS:
            raise ValueError(f"unknown suffix {suffix!r} (enter, tab, none)")
        self.keymap = get_layout(layout)
        self.suffix_keys = SUFFIX_KEYS[suffix]
        self.gs_substitute = gs_substitute
        self.source = source
        self.max_length = max_length
        self.idle_gap = idle_gap
        self.errors = 0
        self._buf: list[str] = []
        self._shift = self._ctrl = self._altgr = self._caps = False
        self._last = 0.0
        self._overflow = False

    def reset(self) -> None:
        """Drop a partial code and modifier state (after a replug)."""
        self._buf.clear()
        self._shift = self._ctrl = self._altgr = self._caps = False
        self._overflow = False

    def flush(self) -> Scan | None:
        """End the current code now (suffix ``none``); None if nothing is pending."""
        self._overflow = False
        if not self._buf:
            return None
        text = "".join(self._buf)
        self._buf.clear()
        return make_scan(text, self.source, self._last, self.gs_substitute)

    def feed(self, event: evdev.InputEvent) -> Scan | None:
        """Consume one event; return a completed scan or None. Never raises on bad input."""
        if event.type != e.EV_KEY:
            return None
        code, value = event.code, event.value
        if code in _SHIFT:
            self._shift = value != 0
        elif code in _CTRL:
            self._ctrl = value != 0
        elif code == e.KEY_RIGHTALT:
            self._altgr = value != 0
        elif value != 1 or code in _IGNORED:
            return None  # key up, autorepeat, or a modifier we do not need
        elif code == e.KEY_CAPSLOCK:
            self._caps = not self._caps
        else:
            return self._key(code, event.timestamp())
        return None

    def _key(self, code: int, ts: float) -> Scan | None:
        done: Scan | None = None
        if self._buf and self.idle_gap and not self.suffix_keys and ts - self._last > self.idle_gap:
            done = self.flush()
        self._last = ts
        if code in self.suffix_keys:
            return self.flush()
        try:
            char = self._char(code)
        except ScanDecodeError as exc:
            self.errors += 1
            log.warning("%s: %s", self.source, exc)
            return done
        if self._overflow:
            return done
        if len(self._buf) >= self.max_length:
            # Drop the whole code up to its suffix: a fragment must never look like a scan.
            self.errors += 1
            log.warning("%s: code longer than %d characters dropped", self.source, self.max_length)
            self._buf.clear()
            self._overflow = True
            return done
        self._buf.append(char)
        return done

    def _char(self, code: int) -> str:
        if code == e.KEY_ENTER or code == e.KEY_KPENTER:
            return "\r"
        if code == e.KEY_TAB:
            return "\t"
        entry = self.keymap.get(code)
        if entry is None:
            raise ScanDecodeError(f"key {e.KEY.get(code, code)} has no character")
        plain, shifted, altgr = entry
        if self._ctrl:
            if code == e.KEY_RIGHTBRACE:
                return "\x1d"
            base = plain.upper()
            if len(base) == 1 and base in _CONTROL_BASE:
                return chr(ord(base) & 0x1F)
            raise ScanDecodeError(f"Ctrl+{e.KEY.get(code, code)} has no control character")
        if self._altgr:
            if not altgr:
                raise ScanDecodeError(f"AltGr+{e.KEY.get(code, code)} has no character")
            return altgr
        upper = self._shift != (self._caps and plain.isalpha())
        char = shifted if upper else plain
        if not char:
            raise ScanDecodeError(f"key {e.KEY.get(code, code)} has no character")
        return char


class InputDeviceLike(Protocol):
    """The part of ``evdev.InputDevice`` the reader uses (a simulator provides the same)."""

    path: str

    def grab(self) -> None:
        """Exclusive access (EVIOCGRAB)."""

    def ungrab(self) -> None:
        """Release the grab."""

    def close(self) -> None:
        """Close the node."""

    def async_read_loop(self) -> AsyncIterator[evdev.InputEvent]:
        """Events as they arrive."""
        ...


def _open_evdev(path: str) -> InputDeviceLike:
    dev: InputDeviceLike = evdev.InputDevice(path)  # type: ignore[assignment]
    return dev


class HidScanner:
    """Reads one evdev node, grabbed, and calls ``on_scan(scan)`` for each code.

    ``on_state(online, reason)`` reports open/lost; the node is reopened with backoff after
    an unplug (use a stable ``/dev/input/by-id`` or udev path). ``opener`` builds the device
    object (default ``evdev.InputDevice``; tests and the demo pass a simulator).
    """

    def __init__(
        self,
        path: str,
        decoder: HidDecoder,
        *,
        on_scan: Callable[[Scan], None],
        on_state: Callable[[bool, str], None] | None = None,
        grab: bool = True,
        opener: Callable[[str], InputDeviceLike] | None = None,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
    ) -> None:
        self.path = path
        self.decoder = decoder
        self.on_scan = on_scan
        self.on_state = on_state
        self.grab = grab
        self.opener: Callable[[str], InputDeviceLike] = opener or _open_evdev
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.online = False
        self.reason = "not started"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start reading (and reopening) in a task; returns at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"hid:{self.path}")

    async def close(self) -> None:
        """Stop reading and release the device."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = self.retry_initial
        while True:
            try:
                dev = self.opener(self.path)
            except OSError as exc:
                self._state(False, f"cannot open: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            try:
                if self.grab:
                    dev.grab()  # keystrokes must not reach a console or desktop as well
                self._state(True, "open, grabbed" if self.grab else "open")
                delay = self.retry_initial
                await self._read(dev)
                self._state(False, "device closed")
            except OSError as exc:
                self._state(False, f"lost: {exc}")
            finally:
                self.decoder.reset()
                with contextlib.suppress(OSError):
                    dev.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    async def _read(self, dev: InputDeviceLike) -> None:
        loop = asyncio.get_running_loop()
        pending: asyncio.TimerHandle | None = None
        try:
            async for event in dev.async_read_loop():
                scan = self.decoder.feed(event)
                if scan is not None:
                    self._deliver(scan)
                # Without a suffix key the code ends when keys stop coming: the idle timer restarts
                # on key presses only (not on the key-up, EV_MSC and EV_SYN events around each).
                if not self.decoder.suffix_keys and event.type == e.EV_KEY and event.value != 0:
                    if pending is not None:
                        pending.cancel()
                    pending = loop.call_later(self.decoder.idle_gap, self._flush_idle)
        finally:
            if pending is not None:
                pending.cancel()

    def _flush_idle(self) -> None:
        scan = self.decoder.flush()
        if scan is not None:
            self._deliver(scan)

    def _deliver(self, scan: Scan) -> None:
        try:
            self.on_scan(scan)
        except Exception:  # a failing consumer must not stop the reader
            log.exception("%s: scan handler failed", self.path)

    def _state(self, online: bool, reason: str) -> None:
        changed = online != self.online
        self.online, self.reason = online, reason
        if changed:
            log.info("%s: %s (%s)", self.path, "online" if online else "offline", reason)
            if self.on_state is not None:
                self.on_state(online, reason)
