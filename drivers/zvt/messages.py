"""PT -> ECR messages of the ZVT protocol: typed parsing and, for the simulator, building.

Source: PA00P015 rev. 13.08 ch. 3 as laid out in fact sheet ``reference/zvt.md`` section 6:
intermediate status 04 FF, status information 04 0F, print line 06 D1, print text block 06 D3,
completion 06 0F, abort 06 1E, set date/time 04 01; totals layout of BMP 60 (section 6.1c).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.zvt.apdu import Apdu
from drivers.zvt.errors import ZvtDecodeError
from drivers.zvt.fields import (
    DEFAULT_ENCODING,
    BmpValue,
    bcd_to_int,
    decode_text,
    encode_bcd,
    encode_bmps,
    encode_text,
)
from drivers.zvt.layout import Decoded, decode_message
from drivers.zvt.tables import intermediate_text, result_text
from drivers.zvt.tlv import TlvObject, cons, encode_container, find_tag, prim


@dataclass
class IntermediateStatus:
    """04 FF: what the terminal asks the customer or cashier right now."""

    code: int
    text: str
    timeout_minutes: int | None = None
    display_lines: list[str] = field(default_factory=list)


@dataclass
class StatusInformation:
    """04 0F: the transaction result and its data (the ECR stores this for reversal and disputes)."""

    result_code: int
    amount_cents: int | None = None
    currency_code: int | None = None
    trace_number: int | None = None
    original_trace_number: int | None = None
    receipt_number: int | None = None
    turnover_number: int | None = None
    terminal_id: str | None = None
    vu_number: str | None = None
    card_type: int | None = None
    card_name: str | None = None
    masked_pan: str | None = None
    expiry: str | None = None
    aid: str | None = None
    date: str | None = None
    time: str | None = None
    payment_type: int | None = None
    additional_text: str | None = None
    totals: Totals | None = None
    tlv: tuple[TlvObject, ...] = ()
    raw: bytes = b""


@dataclass
class SchemeTotal:
    """Count and sum of one card scheme in the end-of-day totals."""

    scheme: str
    count: int
    total_cents: int


@dataclass
class Totals:
    """BMP 60 individual totals of an end-of-day: receipt range and per-scheme sums."""

    receipt_from: int
    receipt_to: int
    schemes: list[SchemeTotal]


@dataclass
class PrintLine:
    """06 D1: one receipt line; ``last`` marks the end of a receipt copy."""

    attribute: int
    text: str

    @property
    def last(self) -> bool:
        """Attribute 1xxx xxxx other than 80 (and FF, line feeds) ends a receipt."""
        return bool(self.attribute & 0x80) and self.attribute not in (0x80, 0xFF)


@dataclass
class PrintTextBlock:
    """06 D3: a block of receipt lines; ``receipt_type`` 1 merchant, 2 customer, 3 administration."""

    receipt_type: int | None
    lines: list[str]
    last: bool


@dataclass
class Completion:
    """06 0F: the terminal hands the master rights back, optionally with data."""

    result_code: int | None = None
    terminal_status: int | None = None
    sw_version: str | None = None
    terminal_id: str | None = None
    currency_code: int | None = None
    status_byte: int | None = None
    tlv: tuple[TlvObject, ...] = ()


@dataclass
class PtAbort:
    """06 1E: the terminal ends the command unsuccessfully with ``result_code``."""

    result_code: int
    text: str
    receipt_number: int | None = None


@dataclass
class SetDateTime:
    """04 01: the terminal tells the ECR its date (YYMMDD) and time (HHMMSS)."""

    date: str | None
    time: str | None


@dataclass
class OtherMessage:
    """Any PT command this driver does not interpret; the client answers it with 84 83 00."""

    decoded: Decoded


PtMessage = IntermediateStatus | StatusInformation | PrintLine | PrintTextBlock | Completion | PtAbort | SetDateTime | OtherMessage

SCHEMES = ["girocard", "JCB", "Eurocard/Mastercard", "American Express", "VISA", "Diners", "remaining"]


def _int(value: BmpValue | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value) if value.isdigit() else None
    return None


def _str(value: BmpValue | None) -> str | None:
    return value if isinstance(value, str) else None


def decode_totals(raw: bytes) -> Totals:
    """BMP 60: receipt-no from/to (2 BCD each), then 7 x [count 1 byte, total 6 BCD]."""
    if len(raw) < 4 + 7 * 7:
        raise ZvtDecodeError(f"individual totals need 53 bytes, got {len(raw)}")
    schemes = []
    for i, name in enumerate(SCHEMES):
        pos = 4 + i * 7
        schemes.append(SchemeTotal(name, raw[pos], bcd_to_int(raw[pos + 1 : pos + 7])))
    return Totals(bcd_to_int(raw[0:2]), bcd_to_int(raw[2:4]), schemes)


def encode_totals(totals: Totals) -> bytes:
    """Inverse of :func:`decode_totals`."""
    out = encode_bcd(totals.receipt_from, 2) + encode_bcd(totals.receipt_to, 2)
    for scheme in totals.schemes:
        out += bytes([scheme.count]) + encode_bcd(scheme.total_cents, 6)
    return out


def _text_lines(objects: tuple[TlvObject, ...], encoding: str) -> list[str]:
    return [decode_text(obj.value, encoding) for obj in objects if obj.tag == b"\x07"]


def _status_information(d: Decoded, encoding: str) -> StatusInformation:
    v = d.fields.values
    totals_raw = v.get(0x60)
    return StatusInformation(
        result_code=_int(v.get(0x27)) or 0,
        amount_cents=_int(v.get(0x04)),
        currency_code=_int(v.get(0x49)),
        trace_number=_int(v.get(0x0B)),
        original_trace_number=_int(v.get(0x37)),
        receipt_number=_int(v.get(0x87)),
        turnover_number=_int(v.get(0x88)),
        terminal_id=_str(v.get(0x29)),
        vu_number=(_str(v.get(0x2A)) or "").strip() or None,
        card_type=_int(v.get(0x8A)),
        card_name=_str(v.get(0x8B)),
        masked_pan=_str(v.get(0x22)),
        expiry=_str(v.get(0x0E)),
        aid=_str(v.get(0x3B)),
        date=_str(v.get(0x0D)),
        time=_str(v.get(0x0C)),
        payment_type=_int(v.get(0x19)),
        additional_text=_str(v.get(0x3C)),
        totals=decode_totals(totals_raw) if isinstance(totals_raw, bytes) else None,
        tlv=d.tlv,
        raw=d.apdu.encode(),
    )


def parse_pt_message(apdu: Apdu, encoding: str = DEFAULT_ENCODING) -> PtMessage:
    """Interpret a PT -> ECR command; raises only ``ZvtDecodeError``."""
    d = decode_message(apdu, encoding)
    p = d.positional
    key = apdu.control
    if key == (0x04, 0xFF):
        code = int(p["status"])
        timeout = p.get("timeout")
        container = find_tag(d.tlv, 0x24)
        lines = _text_lines(container.children or (), encoding) if container else []
        return IntermediateStatus(code, intermediate_text(code), _int(timeout), lines)
    if key == (0x04, 0x0F):
        return _status_information(d, encoding)
    if key == (0x06, 0xD1):
        return PrintLine(int(p["attribute"]), str(p["text"]))
    if key == (0x06, 0xD3):
        return _text_block(d.tlv, encoding)
    if key == (0x06, 0x0F):
        v = d.fields.values
        return Completion(
            result_code=_int(v.get(0x27)),
            terminal_status=_int(p.get("terminal_status")),
            sw_version=_str(p.get("sw_version")),
            terminal_id=_str(v.get(0x29)),
            currency_code=_int(v.get(0x49)),
            status_byte=_int(v.get(0x19)),
            tlv=d.tlv,
        )
    if key == (0x06, 0x1E):
        # A data-less 06 1E is seen in practice; report it as a system error.
        code = int(p.get("result_code", 0xFF))
        return PtAbort(code, result_text(code), _int(d.bmp(0x87)))
    if key == (0x04, 0x01):
        return SetDateTime(_str(d.bmp(0xAA)), _str(d.bmp(0x0C)))
    return OtherMessage(d)


def _text_block(objects: tuple[TlvObject, ...], encoding: str) -> PrintTextBlock:
    kind = find_tag(objects, 0x1F07)
    texts = find_tag(objects, 0x25)
    lines: list[str] = []
    last = False
    for obj in (texts.children or ()) if texts else ():
        if obj.tag == b"\x07":
            lines.append(decode_text(obj.value, encoding))
        elif obj.tag == b"\x09" and obj.value:
            attr = obj.value[0]
            last = bool(attr & 0x80) and attr != 0x80
    receipt_type = kind.value[0] if kind and kind.value else None
    return PrintTextBlock(receipt_type, lines, last)


# ---- builders (PT side, used by the simulator and by tests) -----------------------------------


def build_intermediate_status(code: int, timeout_minutes: int | None = None) -> Apdu:
    """04 FF ``<status>[<timeout BCD minutes>]``."""
    data = bytes([code]) + (encode_bcd(timeout_minutes, 1) if timeout_minutes is not None else b"")
    return Apdu(0x04, 0xFF, data)


def build_status_information(fields: list[tuple[int, BmpValue]], tlv: list[TlvObject] | None = None) -> Apdu:
    """04 0F with the given BMP fields in order and an optional TLV container."""
    data = encode_bmps(fields)
    if tlv is not None:
        data += encode_container(tlv)
    return Apdu(0x04, 0x0F, data)


def build_print_line(attribute: int, text: str, encoding: str = DEFAULT_ENCODING) -> Apdu:
    """06 D1 ``<attribute><text>``."""
    return Apdu(0x06, 0xD1, bytes([attribute]) + encode_text(text, encoding))


def build_print_text_block(
    lines: list[str], receipt_type: int, last: bool = True, encoding: str = DEFAULT_ENCODING
) -> Apdu:
    """06 D3 with TLV 1F07 receipt type and 25 {07 lines..., 09 end attribute}."""
    items = [prim(0x07, encode_text(line, encoding)) for line in lines]
    if last:
        items.append(prim(0x09, b"\x81"))
    return Apdu(0x06, 0xD3, encode_container([prim(0x1F07, bytes([receipt_type])), cons(0x25, *items)]))


def build_completion(fields: list[tuple[int, BmpValue]] | None = None, head: bytes = b"") -> Apdu:
    """06 0F with an optional positional head (status enquiry) and BMP fields."""
    return Apdu(0x06, 0x0F, head + encode_bmps(fields or []))


def build_status_completion(sw_version: str, terminal_status: int) -> Apdu:
    """05 01 Completion: ``F0 Fx Fy <SW version> <terminal status>``."""
    raw = sw_version.encode("ascii", errors="replace")
    length = bytes(0xF0 | int(d) for d in f"{len(raw):03d}")
    return Apdu(0x06, 0x0F, length + raw + bytes([terminal_status]))


def build_pt_abort(result_code: int) -> Apdu:
    """06 1E ``<result code>``."""
    return Apdu(0x06, 0x1E, bytes([result_code]))
