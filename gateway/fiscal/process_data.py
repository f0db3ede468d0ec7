"""processData strings for TSE transactions and the DSFinV-K receipt QR code.

Syntax per DSFinV-K Anhang I as restated in the fact sheet §1.3-§1.4 and §3.2 ([S11] support
article, [S12] A-Trust builder, [S5] fiskaly, [S10] fiskaltrust, [S2] ``VATKeyTaxSlot``):
``Vorgangstyp^A_B_C_D_E^payment_payment...`` with gross amounts per VAT slot and payments as
``amount:Bar|Unbar[:currency]``; the QR code is 12 ``;``-separated fields starting with ``V0``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import segno

from .amounts import FiscalDataError, dot_amount, qr_time

PROCESS_TYPE_RECEIPT = "Kassenbeleg-V1"
PROCESS_TYPE_ORDER = "Bestellung-V1"
PROCESS_TYPE_OTHER = "SonstigerVorgang"

#: Vorgangstyp values usable with a TSE (BON_TYP; AVBelegstorno is not, fact sheet §0 item 6).
BON_TYPES = (
    "Beleg",
    "AVTransfer",
    "AVBestellung",
    "AVTraining",
    "AVBelegabbruch",
    "AVSachbezug",
    "AVSonstige",
    "AVRechnung",
)
#: Bon types in which no payment may happen (DSFinV-K text quoted in [S4], fact sheet §4.3, §8.5).
NO_PAYMENT_TYPES = frozenset({"AVTraining", "AVBelegabbruch", "AVSachbezug", "AVBestellung"})
#: DSFinV-K ZAHLART_TYP values; everything but Bar is "Unbar" in processData, Keine is omitted.
PAYMENT_TYPES = ("Bar", "Unbar", "Keine", "ECKarte", "Kreditkarte", "ElZahlungsdienstleister", "Guthabenkarte")


def vat_slot(vat_key: int) -> int:
    """processData slot index 0..4 (A..E) of a DSFinV-K UST_SCHLUESSEL ([S2] ``VATKeyTaxSlot``).

    Keys 1-4 map to A-D, 5-8 to E; historical two-digit keys (11, 12, 13, 21, 22, 23, 33, 43)
    map by their last digit.
    """
    if 1 <= vat_key <= 4:
        return vat_key - 1
    if 5 <= vat_key <= 8:
        return 4
    if vat_key in (11, 12, 13, 21, 22, 23, 33, 43):
        return vat_key % 10 - 1
    raise FiscalDataError(f"UST_SCHLUESSEL {vat_key} has no processData slot", vat_key=vat_key)


@dataclass(frozen=True)
class Payment:
    """One payment of a Vorgang: ``amount`` in cents of ``currency``; ``cash`` is Bar vs Unbar."""

    amount: int
    cash: bool
    currency: str = "EUR"

    @classmethod
    def of_type(cls, zahlart_typ: str, amount: int, currency: str = "EUR") -> Payment:
        """A payment from a DSFinV-K ZAHLART_TYP (``Bar`` is cash, every other type is Unbar)."""
        if zahlart_typ not in PAYMENT_TYPES or zahlart_typ == "Keine":
            raise FiscalDataError(f"ZAHLART_TYP {zahlart_typ!r} is not a payment", zahlart_typ=zahlart_typ)
        return cls(amount=amount, cash=zahlart_typ == "Bar", currency=currency)


def gross_slots(gross_by_vat: Mapping[int, int]) -> tuple[int, int, int, int, int]:
    """Sum gross cents per UST_SCHLUESSEL into the five slots A..E."""
    slots = [0, 0, 0, 0, 0]
    for key, cents in gross_by_vat.items():
        slots[vat_slot(key)] += cents
    return slots[0], slots[1], slots[2], slots[3], slots[4]


def _payments_part(payments: Iterable[Payment], base_currency: str) -> str:
    # Same kind and currency are added together; cash first, then non-cash, base currency
    # first within each (the order of the DSFinV-K example in fact sheet §1.4).
    totals: dict[tuple[bool, str], int] = {}
    order: list[tuple[bool, str]] = []
    for p in payments:
        currency = p.currency.upper()
        if len(currency) != 3 or not currency.isalpha():
            raise FiscalDataError(f"currency {p.currency!r} is not an ISO 4217 code")
        key = (p.cash, currency)
        if key not in totals:
            totals[key] = 0
            order.append(key)
        totals[key] += p.amount
    keys = sorted(order, key=lambda k: (not k[0], k[1] != base_currency, order.index(k)))
    parts = []
    for cash, currency in keys:
        if totals[(cash, currency)] == 0:
            continue
        text = f"{dot_amount(totals[(cash, currency)])}:{'Bar' if cash else 'Unbar'}"
        parts.append(text if currency == base_currency else f"{text}:{currency}")
    return "_".join(parts)


def receipt_process_data(
    bon_type: str,
    gross_by_vat: Mapping[int, int],
    payments: Sequence[Payment] = (),
    *,
    base_currency: str = "EUR",
) -> str:
    """processData of a ``Kassenbeleg-V1`` transaction.

    ``gross_by_vat`` maps UST_SCHLUESSEL to gross cents (negative for returns and payouts),
    ``payments`` are the payments as printed (change may be given as a negative Bar payment or
    netted into the cash amount). Training, abort, benefit-in-kind and order Vorgänge must
    carry no payment.
    """
    if bon_type == "AVBelegstorno":
        raise FiscalDataError("AVBelegstorno cannot be used with a TSE; sign a negative Beleg instead")
    if bon_type not in BON_TYPES:
        raise FiscalDataError(f"unknown Vorgangstyp {bon_type!r}", bon_type=bon_type)
    if bon_type in NO_PAYMENT_TYPES and any(p.amount for p in payments):
        raise FiscalDataError(f"{bon_type} must not carry a payment", bon_type=bon_type)
    amounts = "_".join(dot_amount(c) for c in gross_slots(gross_by_vat))
    return f"{bon_type}^{amounts}^{_payments_part(payments, base_currency.upper())}"


def abort_process_data() -> str:
    """processData of an aborted Vorgang (nothing paid): ``AVBelegabbruch^0.00_..._0.00^``."""
    return receipt_process_data("AVBelegabbruch", {})


def other_process_data(text: str) -> str:
    """processData of a ``SonstigerVorgang`` (e.g. drawer opened without sale, journal anchor).

    Free content per DSFinV-K Anhang I; kept to one line without the separators of receipts.
    """
    if not text or any(ch in text for ch in "\r\n"):
        raise FiscalDataError("SonstigerVorgang text must be one non-empty line")
    return text


@dataclass(frozen=True)
class QrFields:
    """The values printed in the DSFinV-K receipt QR code (Anhang I Nr. 2)."""

    client_serial: str
    process_type: str
    process_data: str
    transaction_number: int
    signature_counter: int
    start: datetime
    end: datetime
    signature_algorithm: str
    log_time_format: str
    signature: str
    public_key: str


def qr_code_string(fields: QrFields) -> str:
    """``V0;serial;type;data;tx;counter;start;end;algorithm;time-format;signature;public-key``.

    Field order as in the fiskaly spec example (fact sheet §3.2); both times in UTC
    ``YYYY-MM-DDThh:mm:ss.fffZ`` whatever the TSE's own log time format is.
    """
    values = [
        "V0",
        fields.client_serial,
        fields.process_type,
        fields.process_data,
        str(fields.transaction_number),
        str(fields.signature_counter),
        qr_time(fields.start),
        qr_time(fields.end),
        fields.signature_algorithm,
        fields.log_time_format,
        fields.signature,
        fields.public_key,
    ]
    for value in values:
        if ";" in value:
            raise FiscalDataError(f"QR field {value!r} contains ';'")
    return ";".join(values)


def qr_png(text: str, *, scale: int = 4, border: int = 4) -> bytes:
    """The QR code as PNG bytes, error correction level H (DSFinV-K recommends a high level)."""
    qr = segno.make_qr(text, error="h", boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
