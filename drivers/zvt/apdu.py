"""ZVT APDU codec: control field, short or extended (``FF lo hi``) length, data block; stream splitting.

Source: PA00P016 rev. 04 (transport protocol) and fact sheet ``reference/zvt.md`` section 2: the
length counts only the data block; from 255 bytes on it is ``FF`` followed by two bytes, low
byte first.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.zvt.errors import ZvtDecodeError, ZvtEncodeError

MAX_DATA = 0xFFFF


@dataclass(frozen=True)
class Apdu:
    """One application protocol data unit: CLASS (or CCRC), INSTR (or APRC) and its data block."""

    cls: int
    instr: int
    data: bytes = b""

    def encode(self) -> bytes:
        """Wire bytes of this APDU."""
        return encode_apdu(self.cls, self.instr, self.data)

    @property
    def control(self) -> tuple[int, int]:
        """(CLASS, INSTR)."""
        return (self.cls, self.instr)

    def is_ack(self) -> bool:
        """True for a positive application response: ``80 00`` or ``84 00``."""
        return (self.cls == 0x80 and self.instr == 0x00) or (self.cls == 0x84 and self.instr == 0x00)

    def is_nack(self) -> bool:
        """True for a negative application response ``84 xx`` with ``xx`` != 00."""
        return self.cls == 0x84 and self.instr != 0x00

    def __str__(self) -> str:
        return self.encode().hex(" ").upper()


ACK = Apdu(0x80, 0x00)


def encode_length(length: int) -> bytes:
    """Short length for 0..254, else ``FF lo hi``."""
    if length < 0 or length > MAX_DATA:
        raise ZvtEncodeError(f"APDU data block of {length} bytes is too long")
    if length < 0xFF:
        return bytes([length])
    return bytes([0xFF, length & 0xFF, length >> 8])


def encode_apdu(cls: int, instr: int, data: bytes = b"") -> bytes:
    """Build the wire bytes of an APDU."""
    if not (0 <= cls <= 0xFF and 0 <= instr <= 0xFF):
        raise ZvtEncodeError("CLASS and INSTR must be single bytes")
    return bytes([cls, instr]) + encode_length(len(data)) + data


def header_size(head: bytes) -> int | None:
    """Given at least 3 bytes, the size of the header (3 or 5); None if fewer than 3 bytes."""
    if len(head) < 3:
        return None
    return 5 if head[2] == 0xFF else 3


def peek_apdu_size(buf: bytes | bytearray) -> int | None:
    """Total size of the APDU starting at ``buf[0]``, or None while the header is incomplete."""
    size = header_size(bytes(buf[:3]))
    if size is None or len(buf) < size:
        return None
    length = buf[2] if size == 3 else buf[3] | (buf[4] << 8)
    return size + length


def decode_apdu(raw: bytes) -> Apdu:
    """Decode exactly one APDU; raises ``ZvtDecodeError`` on truncation or trailing bytes."""
    total = peek_apdu_size(raw)
    if total is None:
        raise ZvtDecodeError(f"APDU header incomplete ({len(raw)} bytes)")
    if len(raw) < total:
        raise ZvtDecodeError(f"APDU truncated: {len(raw)} of {total} bytes")
    if len(raw) > total:
        raise ZvtDecodeError(f"{len(raw) - total} bytes after the APDU", total)
    start = 5 if raw[2] == 0xFF else 3
    return Apdu(raw[0], raw[1], bytes(raw[start:total]))


class ApduReassembler:
    """Splits a byte stream (TCP) into APDUs: one APDU may span reads, one read may hold several."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[Apdu]:
        """Add received bytes; returns every APDU completed by them, in order."""
        self._buf += chunk
        out: list[Apdu] = []
        while True:
            total = peek_apdu_size(self._buf)
            if total is None or len(self._buf) < total:
                return out
            out.append(decode_apdu(bytes(self._buf[:total])))
            del self._buf[:total]

    @property
    def pending(self) -> bytes:
        """Bytes of an incomplete APDU still waiting for the rest."""
        return bytes(self._buf)


def split_apdus(raw: bytes) -> list[Apdu]:
    """Split a buffer holding whole APDUs back to back; trailing partial bytes raise ``ZvtDecodeError``."""
    splitter = ApduReassembler()
    apdus = splitter.feed(raw)
    if splitter.pending:
        raise ZvtDecodeError(f"{len(splitter.pending)} trailing bytes do not form a complete APDU")
    return apdus
