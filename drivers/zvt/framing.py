"""RS232 block framing of ZVT: DLE STX <APDU, DLE doubled> DLE ETX CRC-lo CRC-hi, and its CRC-16.

Source: PA00P016 rev. 04 (transport protocol) and fact sheet ``reference/zvt.md`` section 1.3:
the CRC is CRC-16/KERMIT (reflected polynomial 0x8408, init 0, no final XOR) over the unstuffed
APDU followed by ETX, transmitted low byte first; e.g. ``80 00 00`` -> ``10 02 80 00 00 10 03 F5 1F``.
"""

from __future__ import annotations

from enum import Enum

from drivers.zvt.errors import ZvtFramingError

DLE, STX, ETX, ACK_BYTE, NAK_BYTE = 0x10, 0x02, 0x03, 0x06, 0x15


def crc16_kermit(data: bytes) -> int:
    """CRC-16/KERMIT of ``data`` (check value for b"123456789" is 0x2189)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def frame(apdu: bytes) -> bytes:
    """The RS232 block carrying ``apdu``."""
    crc = crc16_kermit(apdu + bytes([ETX]))
    stuffed = apdu.replace(b"\x10", b"\x10\x10")
    return bytes([DLE, STX]) + stuffed + bytes([DLE, ETX, crc & 0xFF, crc >> 8])


class _State(Enum):
    IDLE = 0
    AFTER_DLE_IDLE = 1
    DATA = 2
    AFTER_DLE = 3
    CRC = 4


class Deframer:
    """Byte-at-a-time receiver state machine for RS232 blocks.

    ``feed`` returns ``("block", apdu)`` for a good block, ``("error", reason)`` for a block that
    must be NAKed (bad CRC or DLE followed by anything but DLE, ETX or STX), or None while
    incomplete. Bytes outside a block are ignored; ``10 02`` inside a block restarts it.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget any partial block."""
        self._state = _State.IDLE
        self._data = bytearray()
        self._crc = bytearray()

    @property
    def after_dle(self) -> bool:
        """True right after a DLE outside a block (an ACK/NAK byte cannot follow here)."""
        return self._state is _State.AFTER_DLE_IDLE

    @property
    def in_block(self) -> bool:
        """True between the opening ``10 02`` and the last CRC byte."""
        return self._state not in (_State.IDLE, _State.AFTER_DLE_IDLE)

    def feed(self, byte: int) -> tuple[str, bytes | str] | None:
        """Process one received byte."""
        state = self._state
        if state is _State.IDLE:
            if byte == DLE:
                self._state = _State.AFTER_DLE_IDLE
        elif state is _State.AFTER_DLE_IDLE:
            self._state = _State.DATA if byte == STX else _State.IDLE
            self._data.clear()
        elif state is _State.DATA:
            if byte == DLE:
                self._state = _State.AFTER_DLE
            else:
                self._data.append(byte)
        elif state is _State.AFTER_DLE:
            if byte == DLE:
                self._data.append(DLE)
                self._state = _State.DATA
            elif byte == ETX:
                self._crc.clear()
                self._state = _State.CRC
            elif byte == STX:
                self._data.clear()
                self._state = _State.DATA
            else:
                self.reset()
                return ("error", f"DLE followed by {byte:02X}")
        else:
            self._crc.append(byte)
            if len(self._crc) == 2:
                apdu = bytes(self._data)
                received = self._crc[0] | (self._crc[1] << 8)
                self.reset()
                expected = crc16_kermit(apdu + bytes([ETX]))
                if received != expected:
                    return ("error", f"CRC mismatch: got {received:04X}, expected {expected:04X}")
                return ("block", apdu)
        return None


def unframe(block: bytes) -> bytes:
    """The APDU inside one complete RS232 block; raises ``ZvtFramingError`` on any defect."""
    if block[:2] != bytes([DLE, STX]):
        raise ZvtFramingError("block does not start with DLE STX", 0)
    deframer = Deframer()
    for pos, byte in enumerate(block):
        result = deframer.feed(byte)
        if result is None:
            continue
        kind, value = result
        if kind == "error":
            raise ZvtFramingError(str(value), pos)
        if pos != len(block) - 1:
            raise ZvtFramingError(f"{len(block) - pos - 1} bytes after the block", pos + 1)
        assert isinstance(value, bytes)
        return value
    raise ZvtFramingError("block is truncated (no DLE ETX and CRC)", len(block))
