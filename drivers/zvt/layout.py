"""Data-block layouts of every ZVT command: positional head per command, BMP-tagged tail, JSON view.

Source: fact sheet ``reference/zvt.md`` sections 5, 6 and pitfall 6 (positional heads of 06 00,
06 30/31/50/20/10/93, 05 01, 06 1E, 04 FF, 06 D1, 06 C0 and the 05 01 Completion); everything else
is BMP-tagged (PA00P015 rev. 13.08 ch. 2-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.zvt.apdu import Apdu, decode_apdu
from drivers.zvt.errors import ZvtDecodeError
from drivers.zvt.fields import (
    DEFAULT_ENCODING,
    BmpFields,
    BmpValue,
    bcd_to_int,
    decode_bcd,
    decode_bmps,
    decode_text,
    decode_var_length,
)
from drivers.zvt.tables import command_name, result_text
from drivers.zvt.tlv import TlvObject, tlv_to_json

# Commands whose data block starts with the 3-byte BCD password.
_PASSWORD_FIRST = {(0x06, 0x30), (0x06, 0x31), (0x06, 0x50), (0x06, 0x20), (0x06, 0x10), (0x06, 0x93), (0x05, 0x01)}

# 7-bit ZVT character set used for the SW version: ASCII with German letters on [\]{|}~.
_ZVT7 = str.maketrans({"[": "Ä", "\\": "Ö", "]": "Ü", "{": "ä", "|": "ö", "}": "ü", "~": "ß"})


@dataclass
class Decoded:
    """One APDU split into its positional head (named values) and its BMP/TLV tail."""

    apdu: Apdu
    name: str
    positional: dict[str, int | str] = field(default_factory=dict)
    fields: BmpFields = field(default_factory=BmpFields)

    def bmp(self, number: int) -> BmpValue | None:
        """Value of BMP ``number`` in the tail, or None."""
        return self.fields.values.get(number)

    @property
    def tlv(self) -> tuple[TlvObject, ...]:
        """The BMP 06 objects, empty when absent."""
        return self.fields.tlv or ()


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise ZvtDecodeError(f"{what} needs {size} bytes, data block has {len(data)}")


def _print_line(data: bytes, encoding: str, out: dict[str, int | str]) -> BmpFields:
    _need(data, 1, "print line")
    out["attribute"] = data[0]
    text = data[1:]
    tail = BmpFields()
    # Some terminals append a TLV container (receipt type 1F07) after the text once TLV is active.
    for pos in range(len(text) - 4, -1, -1):
        if text[pos] == 0x06 and text[pos + 2 : pos + 4] == b"\x1f\x07":
            try:
                candidate = decode_bmps(text[pos:], 0, encoding)
            except ZvtDecodeError:
                continue
            if candidate.tlv is not None and not candidate.values and not candidate.unparsed:
                text, tail = text[:pos], candidate
                break
    out["text"] = decode_text(text, encoding)
    return tail


def _completion(data: bytes, encoding: str, out: dict[str, int | str]) -> int:
    """Positional head of a status-enquiry Completion, if the block has that form; returns tail start."""
    if len(data) >= 3 and all(b & 0xF0 == 0xF0 for b in data[:3]):
        size, pos = decode_var_length(data, 0, 3)
        _need(data, pos + size + 1, "status enquiry completion")
        out["sw_version"] = decode_text(data[pos : pos + size], "ascii").translate(_ZVT7)
        out["terminal_status"] = data[pos + size]
        return pos + size + 1
    if len(data) == 1:
        out["terminal_status"] = data[0]
        return 1
    return 0


def decode_message(apdu: Apdu, encoding: str = DEFAULT_ENCODING) -> Decoded:
    """Decode the data block of ``apdu`` per its command layout; raises only ``ZvtDecodeError``."""
    data = apdu.data
    key = apdu.control
    pos_values: dict[str, int | str] = {}
    start = 0
    if apdu.cls == 0x84:
        pos_values["result_code"] = apdu.instr
    if key == (0x06, 0x00):
        _need(data, 4, "registration")
        pos_values["password"] = decode_bcd(data[:3])
        pos_values["config_byte"] = data[3]
        start = 4
        if len(data) >= 6:
            pos_values["currency_code"] = bcd_to_int(data[4:6])
            start = 6
    elif key in _PASSWORD_FIRST:
        if data:
            _need(data, 3, "password")
            pos_values["password"] = decode_bcd(data[:3])
            start = 3
    elif key == (0x06, 0x1E):
        if data:
            pos_values["result_code"] = data[0]
            start = 1
            if data[0] == 0x6F and len(data) >= 3 and data[1] != 0x06:
                pos_values["currency_code"] = bcd_to_int(data[1:3])
                start = 3
    elif key == (0x04, 0xFF):
        _need(data, 1, "intermediate status")
        pos_values["status"] = data[0]
        start = 1
        if len(data) >= 2:
            pos_values["timeout"] = decode_bcd(data[1:2])
            start = 2
    elif key == (0x06, 0xD1):
        tail = _print_line(data, encoding, pos_values)
        return Decoded(apdu, command_name(*key), pos_values, tail)
    elif key == (0x06, 0x0F):
        start = _completion(data, encoding, pos_values)
    elif key == (0x06, 0xC0):
        if data:
            pos_values["timeout"] = data[0]
            start = 1
    fields = decode_bmps(data, start, encoding)
    return Decoded(apdu, command_name(*key), pos_values, fields)


def _json_value(value: BmpValue) -> object:
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, tuple):
        return tlv_to_json(value)
    return value


def to_json(decoded: Decoded) -> dict[str, object]:
    """JSON view: ``class``, ``instr``, ``command``, positional fields, ``bmp`` and ``tlv``."""
    out: dict[str, object] = {
        "class": f"{decoded.apdu.cls:02X}",
        "instr": f"{decoded.apdu.instr:02X}",
        "command": decoded.name,
    }
    out.update(decoded.positional)
    code = decoded.positional.get("result_code", decoded.bmp(0x27))
    if isinstance(code, int):
        out["result_text"] = result_text(code)
    out["bmp"] = {f"{number:02X}": _json_value(value) for number, value in decoded.fields.values.items()}
    out["tlv"] = tlv_to_json(decoded.tlv)
    if decoded.fields.unparsed:
        out["unparsed"] = decoded.fields.unparsed.hex().upper()
    return out


def decode_hex(text: str, encoding: str = DEFAULT_ENCODING) -> Decoded:
    """Decode one APDU given as hex (spaces, colons and a ``0x`` prefix allowed)."""
    cleaned = text.strip().replace(" ", "").replace(":", "").replace("\n", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError as err:
        raise ZvtDecodeError(f"not a hex string: {err}") from None
    return decode_message(decode_apdu(raw), encoding)
