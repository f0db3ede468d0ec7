"""Builders of the ECR -> PT commands of the ZVT protocol (each returns an ``Apdu``).

Source: PA00P015 rev. 13.08 ch. 2 (ECR commands) as laid out in fact sheet ``reference/zvt.md``
section 5: registration 06 00, authorization 06 01, log-off 06 02, repeat receipt 06 20,
pre-authorisation 06 22, partial reversal 06 23, book total 06 24, reversal 06 30, refund 06 31,
end-of-day 06 50, diagnosis 06 70, abort 06 B0, display text 06 E0, status enquiry 05 01, and the
ECR's application responses 80 00 00 / 84 xx 00.
"""

from __future__ import annotations

from drivers.zvt.apdu import ACK, Apdu
from drivers.zvt.errors import ZvtEncodeError
from drivers.zvt.fields import DEFAULT_ENCODING, BmpValue, encode_bcd, encode_bmp, encode_bmps
from drivers.zvt.tlv import TlvObject, cons, encode_container, prim

EUR = 978

# Config byte of the registration (fact sheet section 5.1).
CFG_ECR_PRINTS_PAYMENT = 0x02
CFG_ECR_PRINTS_ADMIN = 0x04
CFG_INTERMEDIATE_STATUS = 0x08
CFG_ECR_CONTROLS_PAYMENT = 0x10
CFG_ECR_CONTROLS_ADMIN = 0x20
CFG_ECR_PRINT_TYPE = 0x80
# Receipts as text to the ECR, intermediate status, PT keypad locked for payment and admin.
DEFAULT_CONFIG_BYTE = 0xBE


def password_bcd(password: str | int) -> bytes:
    """The 3-byte BCD password (6 digits; an int is zero-padded)."""
    text = f"{password:06d}" if isinstance(password, int) else password
    if len(text) != 6:
        raise ZvtEncodeError("the ZVT password has exactly 6 digits")
    return encode_bcd(text, 3)


def _fields(pairs: list[tuple[int, BmpValue | None]], tlv: list[TlvObject] | None, encoding: str) -> bytes:
    present = [(number, value) for number, value in pairs if value is not None]
    out = encode_bmps(present, encoding)
    if tlv is not None:
        out += encode_container(tlv)
    return out


def sync_receipt_tlv(receipt_number: int | None) -> TlvObject:
    """TLV 1F1F: receipt number of the ECR's last known transaction; empty when unknown (never "0")."""
    return prim(0x1F1F, b"" if receipt_number is None else encode_bcd(receipt_number, 2))


def registration(
    password: str | int,
    config_byte: int = DEFAULT_CONFIG_BYTE,
    currency: int | None = EUR,
    service_byte: int | None = None,
    permitted_commands: list[tuple[int, int]] | None = None,
    tlv: list[TlvObject] | None = None,
) -> Apdu:
    """06 00: ``<pwd><config>[<CC>[03 <service>][06 <TLV>]]``; ``permitted_commands`` -> TLV 26 of 0A."""
    if not 0 <= config_byte <= 0xFF:
        raise ZvtEncodeError("config byte out of range")
    data = password_bcd(password) + bytes([config_byte])
    objects = list(tlv or [])
    if permitted_commands is not None:
        objects.insert(0, cons(0x26, *(prim(0x0A, bytes(cmd)) for cmd in permitted_commands)))
    if currency is None:
        if service_byte is not None or objects:
            raise ZvtEncodeError("service byte and TLV need the currency code in a registration")
        return Apdu(0x06, 0x00, data)
    data += encode_bcd(currency, 2)
    if service_byte is not None:
        data += encode_bmp(0x03, service_byte)
    if objects or tlv is not None:
        data += encode_container(objects)
    return Apdu(0x06, 0x00, data)


def authorization(
    amount_cents: int,
    currency: int | None = EUR,
    payment_type: int | None = None,
    timeout: int | None = None,
    max_status_infos: int | None = None,
    card_type: int | None = None,
    tlv: list[TlvObject] | None = None,
    *,
    instr: int = 0x01,
    encoding: str = DEFAULT_ENCODING,
) -> Apdu:
    """06 01 payment (or 06 22 pre-authorisation with ``instr=0x22``): BMP-tagged, no password."""
    _check_amount(amount_cents)
    pairs: list[tuple[int, BmpValue | None]] = [
        (0x04, amount_cents),
        (0x49, currency),
        (0x19, payment_type),
        (0x01, timeout),
        (0x02, max_status_infos),
        (0x8A, card_type),
    ]
    return Apdu(0x06, instr, _fields(pairs, tlv, encoding))


def pre_authorization(amount_cents: int, currency: int | None = EUR, tlv: list[TlvObject] | None = None) -> Apdu:
    """06 22 reservation of ``amount_cents``."""
    return authorization(amount_cents, currency, tlv=tlv, instr=0x22)


def book_total(
    receipt_number: int,
    amount_cents: int | None = None,
    currency: int | None = EUR,
    trace_number: int | None = None,
    aid: str | None = None,
    tlv: list[TlvObject] | None = None,
) -> Apdu:
    """06 24 booking of a reservation: ``[87][04][49][0B][3B][06]``."""
    if amount_cents is not None:
        _check_amount(amount_cents)
    pairs: list[tuple[int, BmpValue | None]] = [
        (0x87, receipt_number),
        (0x04, amount_cents),
        (0x49, currency if amount_cents is not None else None),
        (0x0B, trace_number),
        (0x3B, aid),
    ]
    return Apdu(0x06, 0x24, _fields(pairs, tlv, DEFAULT_ENCODING))


def partial_reversal(
    receipt_number: int, amount_cents: int | None = None, currency: int | None = EUR, tlv: list[TlvObject] | None = None
) -> Apdu:
    """06 23 partial reversal of a reservation: ``[87][04][49][06]``."""
    if amount_cents is not None:
        _check_amount(amount_cents)
    pairs: list[tuple[int, BmpValue | None]] = [
        (0x87, receipt_number),
        (0x04, amount_cents),
        (0x49, currency if amount_cents is not None else None),
    ]
    return Apdu(0x06, 0x23, _fields(pairs, tlv, DEFAULT_ENCODING))


def reversal(
    password: str | int,
    receipt_number: int,
    amount_cents: int | None = None,
    currency: int | None = None,
    tlv: list[TlvObject] | None = None,
) -> Apdu:
    """06 30 reversal of the transaction with ``receipt_number``: ``<pwd> 87 <no> [04][49][06]``."""
    pairs: list[tuple[int, BmpValue | None]] = [(0x87, receipt_number), (0x04, amount_cents), (0x49, currency)]
    return Apdu(0x06, 0x30, password_bcd(password) + _fields(pairs, tlv, DEFAULT_ENCODING))


def refund(
    password: str | int, amount_cents: int, currency: int | None = EUR, tlv: list[TlvObject] | None = None
) -> Apdu:
    """06 31 refund (credit to the card): ``<pwd> 04 <amount> [49][06]``."""
    _check_amount(amount_cents)
    pairs: list[tuple[int, BmpValue | None]] = [(0x04, amount_cents), (0x49, currency)]
    return Apdu(0x06, 0x31, password_bcd(password) + _fields(pairs, tlv, DEFAULT_ENCODING))


def end_of_day(password: str | int) -> Apdu:
    """06 50 end-of-day: ``<pwd>``."""
    return Apdu(0x06, 0x50, password_bcd(password))


def diagnosis(diagnosis_type: int | None = None) -> Apdu:
    """06 70 diagnosis; ``diagnosis_type`` (TLV 1B: 01 line, 02 extended, 03 config, 04 EMV)."""
    if diagnosis_type is None:
        return Apdu(0x06, 0x70)
    return Apdu(0x06, 0x70, encode_container([prim(0x1B, bytes([diagnosis_type]))]))


def status_enquiry(password: str | int | None = None, service_byte: int | None = None) -> Apdu:
    """05 01 status enquiry: ``[<pwd>[03 <service>]]``."""
    if password is None:
        if service_byte is not None:
            raise ZvtEncodeError("the service byte of a status enquiry needs the password")
        return Apdu(0x05, 0x01)
    data = password_bcd(password)
    if service_byte is not None:
        data += encode_bmp(0x03, service_byte)
    return Apdu(0x05, 0x01, data)


def repeat_receipt(password: str | int, service_byte: int | None = None) -> Apdu:
    """06 20 repeat receipt: ``<pwd>[03 <service>]``; service bit 01 = resend the Status-Information."""
    data = password_bcd(password)
    if service_byte is not None:
        data += encode_bmp(0x03, service_byte)
    return Apdu(0x06, 0x20, data)


def abort() -> Apdu:
    """06 B0 abort (no completion follows)."""
    return Apdu(0x06, 0xB0)


def log_off() -> Apdu:
    """06 02 log-off."""
    return Apdu(0x06, 0x02)


def display_text(
    lines: list[str], duration: int | None = None, beeps: int | None = None, encoding: str = DEFAULT_ENCODING
) -> Apdu:
    """06 E0 display text: ``[F0 <duration s>][F1..F8 <line>][F9 <beeps>]``, up to 8 lines."""
    if len(lines) > 8:
        raise ZvtEncodeError("at most 8 display lines")
    pairs: list[tuple[int, BmpValue | None]] = [(0xF0, duration)]
    pairs += [(0xF1 + i, line) for i, line in enumerate(lines)]
    pairs.append((0xF9, beeps))
    return Apdu(0x06, 0xE0, _fields(pairs, None, encoding))


def ack() -> Apdu:
    """80 00 00: positive application response."""
    return ACK


def nack(result_code: int) -> Apdu:
    """84 xx 00: negative application response (e.g. 84 CC 00 printer not ready, 84 83 00 unsupported)."""
    return Apdu(0x84, result_code)


def _check_amount(amount_cents: int) -> None:
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise ZvtEncodeError("amounts are integer cents")
    if not 0 <= amount_cents <= 999_999_999_999:
        raise ZvtEncodeError(f"amount {amount_cents} out of range")
