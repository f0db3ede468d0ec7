"""Dialog 06 (Checkout-Dialog 06) record codec and the vendor authentication interface.

Hardware: German legal-for-trade price-computing POS scales (Mettler Toledo, Bizerba, Dibal,
Cely ...) in Dialog 06 mode. Protocol documents as summarised in the project fact sheet §4.5:
Dibal DPOS400 manual §4.39, Cely PI100 manual §7.5, and the record handling of the Coop IT
Easy Odoo driver (``dialog06_protocol.py``); serial 9600 7O1.

What is public is implemented here: the unit-price records 01/03/04/05, the weight request
``EOT ENQ``, the status request 08 and the replies ACK/NAK, 02 (weight, unit price, amount),
09 (status) and 11 (authentication request). The "06" part is not public: every 50
weighings, at power-up and after errors the scale answers with record 11 carrying a random
number, and the POS must reply with record 10 holding a checksum and a correction value
computed with a manufacturer-secret polynomial or table. A vendor module implementing
:class:`Dialog06Authenticator` supplies that; without one the driver refuses to weigh
(:class:`~drivers.scale.errors.ScaleUnsupported`). The exact byte layout of record 11 and
10 must come from the vendor as well; the parser below accepts the layout the public
sources describe and is marked unverified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from drivers.scale.errors import ScaleProtocolError, ScaleUnsupported

EOT, STX, ETX, ENQ, ESC, ACK, NAK = b"\x04", b"\x02", b"\x03", b"\x05", b"\x1b", b"\x06", b"\x15"
WEIGHT_REQUEST = EOT + ENQ
STATUS_REQUEST = EOT + STX + b"08" + ETX

# Record 09 status codes (fact sheet §4.5, Coop IT Easy ``log_status``).
STATUS_TEXT = {
    0: "no error",
    1: "general error",
    2: "parity error or buffer overflow",
    10: "invalid record number",
    11: "invalid unit price",
    12: "invalid tare",
    13: "invalid text",
    20: "scale still in motion",
    21: "no motion since the last weighing",
    22: "measurement not finished",
    30: "below minimum weight",
    31: "weight below zero",
    32: "overload",
}


def encode_unit_price(unit_price_cents: int, tare_g: int | None = None, text: str | None = None,
                      price_digits: int = 6) -> bytes:
    """Record 01 (price), 03 (+tare), 04 (+text) or 05 (+tare +text), framed ``EOT STX .. ETX``.

    ``unit_price_cents`` is the price per kg in cents; ``tare_g`` is sent as 4 digits;
    ``text`` is padded/cut to 13 characters (Latin-1).
    """
    if not 0 <= unit_price_cents < 10**price_digits:
        raise ValueError(f"unit price needs 0..{10**price_digits - 1} cents")
    fields = [f"{unit_price_cents:0{price_digits}d}".encode()]
    if tare_g is not None:
        if not 0 <= tare_g <= 9999:
            raise ValueError("tare needs 0..9999 g")
        fields.append(f"{tare_g:04d}".encode())
    if text is not None:
        fields.append(text[:13].ljust(13).encode("latin-1", "replace"))
    record = {(False, False): b"01", (True, False): b"03", (False, True): b"04", (True, True): b"05"}[
        (tare_g is not None, text is not None)
    ]
    body = ESC + ESC.join(fields)
    return EOT + STX + record + body + (ESC if record == b"01" else b"") + ETX


@dataclass(frozen=True, slots=True)
class Record02:
    """Weighing result: net weight in grams, unit price per kg and amount in cents."""

    weight_g: int
    unit_price_cents: int
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Record09:
    """Scale status after a NAK."""

    code: int

    @property
    def text(self) -> str:
        """Readable meaning of the status code."""
        return STATUS_TEXT.get(self.code, "unknown status")


@dataclass(frozen=True, slots=True)
class Record11:
    """Authentication record: flag 2 = checksums requested (with ``random``), 1 valid, 0 invalid."""

    flag: int
    random: int | None


Reply = bool | Record02 | Record09 | Record11


def decode_reply(frame: bytes) -> Reply:
    """ACK -> True, NAK -> False, or a parsed record 02/09/11 (``STX .. ETX`` included)."""
    if frame in (ACK, NAK):
        return frame == ACK
    if not (frame.startswith(STX) and frame.endswith(ETX)) or len(frame) < 5:
        raise ScaleProtocolError("Dialog 06 reply is not STX..ETX framed", frame)
    record, fields = frame[1:3], frame[3:-1].split(ESC)
    if fields[:1] != [b""]:
        raise ScaleProtocolError("record number not followed by ESC", frame)
    fields = fields[1:]
    try:
        if record == b"02" and len(fields) == 4:
            decimals = int(fields[0])
            if decimals > 3:
                raise ScaleProtocolError("weight with more than 3 decimals", frame)
            grams = int(fields[1]) * 10 ** (3 - decimals)
            return Record02(grams, int(fields[2]), int(fields[3]))
        if record == b"09" and len(fields) == 1 and len(fields[0]) == 2:
            return Record09(int(fields[0]))
        if record == b"11" and fields:
            # [unverified] flag digit, then the random number as two hex digits.
            joined = b"".join(fields)
            return Record11(int(joined[:1]), int(joined[1:3], 16) if len(joined) >= 3 else None)
    except ValueError:
        raise ScaleProtocolError("non-numeric Dialog 06 field", frame) from None
    raise ScaleProtocolError(f"unexpected Dialog 06 record {record!r}", frame)


class Dialog06Authenticator(Protocol):
    """What a scale vendor must supply: the answer to an authentication request.

    ``answer(request)`` returns the complete record 10 bytes (``EOT STX "10" ... ETX``) for
    the record 11 received, computed with the vendor's secret polynomial or table.
    """

    def answer(self, request: Record11) -> bytes:
        """Record 10 bytes for ``request``."""
        ...


def require_authenticator(auth: Dialog06Authenticator | None) -> Dialog06Authenticator:
    """Refuse Dialog 06 weighing without a vendor authenticator."""
    if auth is None:
        raise ScaleUnsupported(
            "Dialog 06 needs the scale vendor's authentication module (record 10 checksum); "
            "configure the scale for MT-SICS or 8217 mode or install the vendor module"
        )
    return auth
