"""Split a serial byte stream into frames by start and end bytes; report what does not fit.

Pure and incremental: feed whatever the port delivered, get complete frames back. Bytes
outside a frame (when a start byte is required) and frames longer than ``max_len`` come back
as :class:`Garbage` so the driver can log them and carry on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that are not part of any frame, with the reason they were dropped."""

    data: bytes
    reason: str


class Framer:
    """Incremental framer: a frame runs from ``start`` (if set) up to any byte in ``ends``.

    Returned frames exclude the start and end bytes. A frame longer than ``max_len`` is
    reported once as garbage and the rest of it, up to its end byte, is dropped. With ``skip_empty`` empty frames (as
    produced by CR LF when both are end bytes) are dropped silently.
    """

    def __init__(self, ends: bytes, start: int | None = None, max_len: int = 512, skip_empty: bool = True) -> None:
        self.ends = frozenset(ends)
        self.start = start
        self.max_len = max_len
        self.skip_empty = skip_empty
        self._buf = bytearray()
        self._in_frame = start is None
        self._junk = bytearray()
        self._skipping = False

    def reset(self) -> None:
        """Forget any partial frame (after a reconnect, for instance)."""
        self._buf.clear()
        self._junk.clear()
        self._in_frame = self.start is None
        self._skipping = False

    @property
    def pending(self) -> bytes:
        """The partial frame collected so far."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[bytes | Garbage]:
        """Consume ``data``; return complete frames and garbage in stream order."""
        out: list[bytes | Garbage] = []
        for b in data:
            if not self._in_frame:
                if b == self.start:
                    self._flush_junk(out)
                    self._in_frame = True
                else:
                    self._junk.append(b)
                continue
            if self._skipping:
                # The rest of an overlong frame: drop it up to its end byte, never deliver a tail.
                if b in self.ends:
                    self._skipping = False
                    self._in_frame = self.start is None
                continue
            if b in self.ends:
                frame = bytes(self._buf)
                self._buf.clear()
                self._in_frame = self.start is None
                if frame or not self.skip_empty:
                    out.append(frame)
                continue
            self._buf.append(b)
            if len(self._buf) > self.max_len:
                out.append(Garbage(bytes(self._buf), f"frame longer than {self.max_len} bytes"))
                self._buf.clear()
                self._skipping = True
        self._flush_junk(out)
        return out

    def _flush_junk(self, out: list[bytes | Garbage]) -> None:
        if self._junk:
            out.append(Garbage(bytes(self._junk), "bytes outside a frame"))
            self._junk.clear()
