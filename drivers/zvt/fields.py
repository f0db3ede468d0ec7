"""ZVT data encodings and the BMP field table: packed BCD, LLVAR/LLLVAR, text, and BMP (de)coding.

Source: PA00P015 rev. 13.08 ch. 13 (bitmaps) and section 4 of the fact sheet ``reference/zvt.md``
(BCD digit order, ``Fx Fy`` length prefixes, masked PAN nibbles, CP437 default text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from drivers.zvt.errors import ZvtDecodeError, ZvtEncodeError
from drivers.zvt.tlv import TlvObject, decode_length, decode_tlv, encode_container

DEFAULT_ENCODING = "cp437"


class Kind(Enum):
    """How a BMP value is laid out on the wire."""

    BCD = "bcd"  # fixed size packed BCD, decoded to a digit string
    BCD_INT = "bcd_int"  # fixed size packed BCD, decoded to an int (amount, currency)
    BIN = "bin"  # fixed size binary; 1 byte -> int, more -> bytes
    INT_BE = "int_be"  # fixed size big-endian unsigned int
    TEXT = "text"  # fixed size text, trailing NULs dropped
    LL_BIN = "ll_bin"
    LLL_BIN = "lll_bin"
    LL_TEXT = "ll_text"
    LLL_TEXT = "lll_text"
    LL_PAN = "ll_pan"  # LLVAR BCD with E = masked digit, F = padding
    TLV = "tlv"


@dataclass(frozen=True)
class BmpSpec:
    """One row of the BMP table."""

    number: int
    name: str
    kind: Kind
    size: int = 0  # bytes, for fixed kinds


def _row(number: int, name: str, kind: Kind, size: int = 0) -> BmpSpec:
    return BmpSpec(number, name, kind, size)


_ROWS = [
    _row(0x01, "timeout", Kind.BIN, 1),
    _row(0x02, "max_status_infos", Kind.BIN, 1),
    _row(0x03, "service_byte", Kind.BIN, 1),
    _row(0x04, "amount", Kind.BCD_INT, 6),
    _row(0x05, "pump_number", Kind.BIN, 1),
    _row(0x06, "tlv", Kind.TLV),
    _row(0x0B, "trace_number", Kind.BCD, 3),
    _row(0x0C, "time", Kind.BCD, 3),
    _row(0x0D, "date", Kind.BCD, 2),
    _row(0x0E, "expiry_date", Kind.BCD, 2),
    _row(0x17, "card_sequence_number", Kind.BCD, 2),
    _row(0x19, "payment_type", Kind.BIN, 1),
    _row(0x22, "pan", Kind.LL_PAN),
    _row(0x23, "track_2", Kind.LL_BIN),
    _row(0x24, "track_3", Kind.LLL_BIN),
    _row(0x27, "result_code", Kind.BIN, 1),
    _row(0x29, "terminal_id", Kind.BCD, 4),
    _row(0x2A, "vu_number", Kind.TEXT, 15),
    _row(0x2D, "track_1", Kind.LL_BIN),
    _row(0x2E, "sync_chip_data", Kind.LLL_BIN),
    _row(0x37, "original_trace_number", Kind.BCD, 3),
    _row(0x3A, "cvv", Kind.BCD, 2),
    _row(0x3B, "aid", Kind.TEXT, 8),
    _row(0x3C, "additional_text", Kind.LLL_TEXT),
    _row(0x3D, "password", Kind.BCD, 3),
    _row(0x49, "currency_code", Kind.BCD_INT, 2),
    _row(0x4C, "blocked_goods_groups", Kind.LL_BIN),
    _row(0x60, "individual_totals", Kind.LLL_BIN),
    _row(0x70, "display_image_id", Kind.INT_BE, 4),
    _row(0x71, "image_size", Kind.INT_BE, 4),
    _row(0x72, "image_mime_type", Kind.BIN, 1),
    _row(0x73, "image_encoding", Kind.BIN, 1),
    _row(0x74, "image_chunk_count", Kind.BIN, 1),
    _row(0x75, "image_chunk_index", Kind.BIN, 1),
    _row(0x87, "receipt_number", Kind.BCD, 2),
    _row(0x88, "turnover_number", Kind.BCD, 3),
    _row(0x8A, "card_type", Kind.BIN, 1),
    _row(0x8B, "card_name", Kind.LL_TEXT),
    _row(0x8C, "card_type_network", Kind.BIN, 1),
    _row(0x92, "offline_chip_data", Kind.LLL_BIN),
    _row(0x9A, "geldkarte_record", Kind.LLL_BIN),
    _row(0xA0, "result_code_as", Kind.BIN, 1),
    _row(0xA7, "chip_data_ef_id", Kind.LL_BIN),
    _row(0xAA, "date_yymmdd", Kind.BCD, 3),
    _row(0xAF, "ef_info", Kind.LLL_BIN),
    _row(0xBA, "aid_parameter", Kind.BIN, 5),
    _row(0xD0, "algorithm_key", Kind.BIN, 1),
    _row(0xD1, "card_offset", Kind.LL_BIN),
    _row(0xD2, "card_output_direction", Kind.BIN, 1),
    _row(0xD3, "dukpt_key_id", Kind.BIN, 1),
    _row(0xE0, "min_input_length", Kind.BIN, 1),
    *[_row(0xE0 + i, f"text2_line_{i}", Kind.LL_TEXT) for i in range(1, 9)],
    _row(0xE9, "max_input_length", Kind.BIN, 1),
    _row(0xEA, "echo_input", Kind.BIN, 1),
    _row(0xEB, "mac", Kind.BIN, 8),
    _row(0xF0, "display_duration", Kind.BIN, 1),
    *[_row(0xF0 + i, f"text1_line_{i}", Kind.LL_TEXT) for i in range(1, 9)],
    _row(0xF9, "beeps", Kind.BIN, 1),
    _row(0xFA, "card_reader_activation", Kind.BIN, 1),
    _row(0xFB, "confirm_with_ok", Kind.BIN, 1),
    _row(0xFC, "dialog_control", Kind.BIN, 1),
    _row(0xFD, "display_device", Kind.BIN, 1),
]

BMP_TABLE: dict[int, BmpSpec] = {row.number: row for row in _ROWS}

BmpValue = int | str | bytes | tuple[TlvObject, ...]


# ---- packed BCD -------------------------------------------------------------------------------


def encode_bcd(digits: str | int, size: int) -> bytes:
    """Pack decimal digits into ``size`` bytes, left-padded with zeros."""
    text = str(digits)
    if not text.isdigit() or not text.isascii():
        raise ZvtEncodeError(f"not a decimal number: {digits!r}")
    if len(text) > size * 2:
        raise ZvtEncodeError(f"{text} does not fit into {size} BCD bytes")
    return bytes.fromhex(text.rjust(size * 2, "0"))


def decode_bcd(data: bytes) -> str:
    """Unpack BCD into a digit string keeping leading zeros; non-decimal nibbles stay hex letters."""
    return data.hex().upper()


def bcd_to_int(data: bytes) -> int:
    """Unpack BCD into an int; raises ``ZvtDecodeError`` on a non-decimal nibble."""
    text = data.hex()
    if not text.isdigit():
        raise ZvtDecodeError(f"BCD number {text.upper()} holds a non-decimal digit")
    return int(text) if text else 0


def decode_pan(data: bytes) -> str:
    """Masked PAN: ``E`` nibble -> ``*``, ``F`` padding dropped, other digits as they are."""
    out = []
    for ch in data.hex().upper():
        if ch == "E":
            out.append("*")
        elif ch != "F":
            out.append(ch)
    return "".join(out)


def encode_pan(pan: str) -> bytes:
    """Inverse of :func:`decode_pan` (``*`` -> ``E``, odd length padded with ``F``)."""
    nibbles = "".join("E" if ch == "*" else ch for ch in pan)
    if any(ch not in "0123456789DE" for ch in nibbles):
        raise ZvtEncodeError(f"invalid PAN characters in {pan!r}")
    if len(nibbles) % 2:
        nibbles += "F"
    return bytes.fromhex(nibbles)


# ---- LLVAR / LLLVAR ---------------------------------------------------------------------------


def encode_var_length(length: int, digits: int) -> bytes:
    """``Fx Fy`` (digits=2) or ``Fx Fy Fz`` (digits=3) length prefix."""
    if length < 0 or length >= 10**digits:
        raise ZvtEncodeError(f"length {length} does not fit into {digits} length digits")
    return bytes(0xF0 | int(d) for d in str(length).rjust(digits, "0"))


def decode_var_length(data: bytes, pos: int, digits: int) -> tuple[int, int]:
    """Read an LL/LLL prefix at ``pos``; each byte must have high nibble F and a decimal low nibble."""
    if pos + digits > len(data):
        raise ZvtDecodeError("LLVAR length truncated", pos)
    length = 0
    for byte in data[pos : pos + digits]:
        if byte & 0xF0 != 0xF0 or byte & 0x0F > 9:
            raise ZvtDecodeError(f"invalid LLVAR length byte {byte:02X}", pos)
        length = length * 10 + (byte & 0x0F)
    return length, pos + digits


def decode_text(data: bytes, encoding: str = DEFAULT_ENCODING) -> str:
    """Decode terminal text; undecodable bytes become U+FFFD instead of raising."""
    try:
        return data.decode(encoding, errors="replace")
    except LookupError as err:
        raise ZvtDecodeError(f"unknown text encoding {encoding}") from err


def encode_text(text: str, encoding: str = DEFAULT_ENCODING) -> bytes:
    """Encode text for the terminal; unencodable characters become ``?``."""
    return text.encode(encoding, errors="replace")


# ---- BMP fields -------------------------------------------------------------------------------


@dataclass
class BmpFields:
    """BMP-tagged fields of one data block in wire order; ``unparsed`` holds bytes after an unknown BMP."""

    values: dict[int, BmpValue] = field(default_factory=dict)
    tlv: tuple[TlvObject, ...] | None = None
    unparsed: bytes = b""

    def get(self, number: int) -> BmpValue | None:
        """Value of BMP ``number`` or None."""
        return self.values.get(number)


def _decode_value(spec: BmpSpec, data: bytes, pos: int, encoding: str) -> tuple[BmpValue, int]:
    kind = spec.kind
    if kind in (Kind.LL_BIN, Kind.LL_TEXT, Kind.LL_PAN, Kind.LLL_BIN, Kind.LLL_TEXT):
        digits = 3 if kind in (Kind.LLL_BIN, Kind.LLL_TEXT) else 2
        size, pos = decode_var_length(data, pos, digits)
    elif kind is Kind.TLV:
        size, pos = decode_length(data, pos)
    else:
        size = spec.size
    if pos + size > len(data):
        raise ZvtDecodeError(f"BMP {spec.number:02X} ({spec.name}) truncated", pos)
    raw = bytes(data[pos : pos + size])
    end = pos + size
    if kind is Kind.BCD:
        return decode_bcd(raw), end
    if kind is Kind.BCD_INT:
        try:
            return bcd_to_int(raw), end
        except ZvtDecodeError as err:
            raise ZvtDecodeError(f"BMP {spec.number:02X} ({spec.name}): {err}", pos) from None
    if kind is Kind.BIN:
        return (raw[0] if size == 1 else raw), end
    if kind is Kind.INT_BE:
        return int.from_bytes(raw, "big"), end
    if kind is Kind.TEXT:
        return decode_text(raw.rstrip(b"\x00"), encoding), end
    if kind in (Kind.LL_TEXT, Kind.LLL_TEXT):
        # The card name (8B) is null-terminated and its length includes the NUL.
        return decode_text(raw.rstrip(b"\x00"), encoding), end
    if kind is Kind.LL_PAN:
        return decode_pan(raw), end
    if kind is Kind.TLV:
        return decode_tlv(raw), end
    return raw, end


def decode_bmps(data: bytes, start: int = 0, encoding: str = DEFAULT_ENCODING) -> BmpFields:
    """Decode the BMP-tagged part of a data block from ``start``.

    An unknown BMP cannot be skipped (its length format is unknown), so decoding stops there and
    the rest is returned in ``unparsed``. Truncated or malformed known fields raise ``ZvtDecodeError``.
    """
    result = BmpFields()
    pos = start
    while pos < len(data):
        number = data[pos]
        spec = BMP_TABLE.get(number)
        if spec is None:
            result.unparsed = bytes(data[pos:])
            break
        value, pos = _decode_value(spec, data, pos + 1, encoding)
        if spec.kind is Kind.TLV:
            assert isinstance(value, tuple)
            result.tlv = value
        else:
            result.values[number] = value
    return result


def encode_bmp(number: int, value: BmpValue, encoding: str = DEFAULT_ENCODING) -> bytes:
    """Encode one BMP field (tag byte included) from its Python value."""
    spec = BMP_TABLE.get(number)
    if spec is None:
        raise ZvtEncodeError(f"unknown BMP {number:02X}")
    kind = spec.kind
    head = bytes([number])
    if kind is Kind.TLV:
        if not isinstance(value, tuple | list):
            raise ZvtEncodeError("BMP 06 needs a sequence of TlvObject")
        return encode_container(list(value))
    if kind in (Kind.BCD, Kind.BCD_INT):
        if not isinstance(value, int | str):
            raise ZvtEncodeError(f"BMP {number:02X} needs digits")
        if isinstance(value, int) and value < 0:
            raise ZvtEncodeError(f"BMP {number:02X} must not be negative")
        return head + encode_bcd(value, spec.size)
    if kind in (Kind.BIN, Kind.INT_BE):
        if isinstance(value, int):
            if not 0 <= value < 256**spec.size:
                raise ZvtEncodeError(f"BMP {number:02X} value {value} out of range")
            return head + value.to_bytes(spec.size, "big")
        if isinstance(value, bytes) and len(value) == spec.size:
            return head + value
        raise ZvtEncodeError(f"BMP {number:02X} needs {spec.size} bytes")
    if kind is Kind.TEXT:
        raw = encode_text(str(value), encoding)
        if len(raw) > spec.size:
            raise ZvtEncodeError(f"BMP {number:02X} text longer than {spec.size}")
        pad = b" " if number == 0x2A else b"\x00"
        return head + raw.ljust(spec.size, pad)
    if kind is Kind.LL_PAN:
        raw = encode_pan(str(value))
    elif kind in (Kind.LL_TEXT, Kind.LLL_TEXT):
        raw = encode_text(str(value), encoding) + (b"\x00" if number == 0x8B else b"")
    elif isinstance(value, bytes):
        raw = value
    else:
        raise ZvtEncodeError(f"BMP {number:02X} needs bytes")
    digits = 3 if kind in (Kind.LLL_BIN, Kind.LLL_TEXT) else 2
    return head + encode_var_length(len(raw), digits) + raw


def encode_bmps(fields: list[tuple[int, BmpValue]], encoding: str = DEFAULT_ENCODING) -> bytes:
    """Encode several BMP fields in the given order."""
    return b"".join(encode_bmp(number, value, encoding) for number, value in fields)
