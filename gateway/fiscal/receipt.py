"""Legal receipt content (§6 KassenSichV, §14 UStG) as a plain model for printer and e-receipt.

Fields per fact sheet §3.1 ([S13] §6 KassenSichV in force since 2024-01-01, [S20] AEAO
"Betrag je Zahlungsart", [S7][S26] labels used in practice): seller name and address, date,
start and end time, goods with quantity, net/VAT/gross per rate, payments, TSE transaction
number, serial numbers of till and TSE, signature counter and signature (or the QR code), and
the training and TSE-failure marks. The printer driver and the HTML/PDF e-receipt render
:meth:`Receipt.tse_lines` and :meth:`Receipt.marks` verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .amounts import FiscalDataError, comma_amount, vat_split

TRAINING_MARK = "TRAININGSBON - KEIN VERKAUF - kein Beleg im Sinne des §146a AO"
TSE_FAILURE_MARK = "TSE ausgefallen - Beleg ohne TSE-Absicherung"
NOT_CERTIFIED_MARK = "Software-TSE NICHT ZERTIFIZIERT - nur Demo/Training"


@dataclass(frozen=True)
class Seller:
    """The supplying business (§6 Nr. 1: full name and full address)."""

    name: str
    street: str
    postcode: str
    city: str
    country: str = "DE"
    vat_id: str = ""
    tax_number: str = ""


@dataclass(frozen=True)
class ReceiptLine:
    """One item: quantity in thousandths (pieces or grams/1000 kg), prices in cents gross."""

    text: str
    quantity: int
    unit: str
    unit_price: int
    total: int
    vat_key: int
    voided: bool = False


@dataclass(frozen=True)
class VatLine:
    """Net, VAT and gross of one VAT rate (§6 Nr. 5); ``rate_bp`` in basis points (1900 = 19 %)."""

    vat_key: int
    rate_bp: int
    net: int
    vat: int
    gross: int


@dataclass(frozen=True)
class ReceiptPayment:
    """One payment as printed; ``foreign_amount`` in cents of ``currency`` when not the base."""

    name: str
    amount: int
    cash: bool
    currency: str = "EUR"
    foreign_amount: int | None = None


@dataclass(frozen=True)
class ReceiptTse:
    """The TSE values of a finished transaction (§6 Nr. 2, 4, 6, 7)."""

    transaction_number: int
    signature_counter: int
    start: str
    end: str
    signature: str
    serial_number: str
    public_key: str
    signature_algorithm: str
    log_time_format: str
    process_type: str
    process_data: str
    qr_code: str
    certified: bool = True

    @classmethod
    def from_tse_object(cls, tse: Mapping[str, Any]) -> ReceiptTse | None:
        """From a sale's ``tse`` object; None for ``{"failed": true, ...}``."""
        if tse.get("failed"):
            return None
        return cls(
            transaction_number=int(tse["transaction_number"]),
            signature_counter=int(tse["signature_counter"]),
            start=str(tse["start"]),
            end=str(tse["end"]),
            signature=str(tse["signature"]),
            serial_number=str(tse["serial_number"]),
            public_key=str(tse["public_key"]),
            signature_algorithm=str(tse["signature_algorithm"]),
            log_time_format=str(tse["log_time_format"]),
            process_type=str(tse["process_type"]),
            process_data=str(tse["process_data"]),
            qr_code=str(tse["qr_code"]),
            certified=bool(tse.get("certified", True)),
        )


def vat_lines(gross_by_vat: Mapping[int, int], rates_bp: Mapping[int, int]) -> list[VatLine]:
    """VAT breakdown per key from gross cents, split once per rate on the receipt total."""
    out = []
    for key in sorted(gross_by_vat):
        if key not in rates_bp:
            raise FiscalDataError(f"no VAT rate configured for UST_SCHLUESSEL {key}", vat_key=key)
        net, vat = vat_split(gross_by_vat[key], rates_bp[key])
        out.append(VatLine(key, rates_bp[key], net, vat, gross_by_vat[key]))
    return out


@dataclass(frozen=True)
class Receipt:
    """Everything a legal receipt shows; ``tse`` is None when the TSE failed (``tse_failure`` set)."""

    seller: Seller
    client_serial: str
    bon_id: str
    bon_type: str
    issued_at: datetime
    started_at: datetime
    lines: Sequence[ReceiptLine]
    vat: Sequence[VatLine]
    payments: Sequence[ReceiptPayment]
    total: int
    tse: ReceiptTse | None = None
    tse_failure: str = ""
    training: bool = False
    change: int = 0
    operator: str = ""
    references: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.tse is None and not self.tse_failure:
            raise FiscalDataError("a receipt needs TSE data or a TSE failure reason")
        if sum(v.gross for v in self.vat) != self.total:
            raise FiscalDataError("VAT breakdown does not add up to the receipt total")
        if self.training != (self.bon_type == "AVTraining"):
            raise FiscalDataError("training receipts are exactly those of type AVTraining")

    def marks(self) -> list[str]:
        """Marker lines the receipt must print prominently (training, TSE failure, not certified)."""
        out = []
        if self.training:
            out.append(TRAINING_MARK)
        if self.tse is None:
            out.append(TSE_FAILURE_MARK)
        elif not self.tse.certified:
            out.append(NOT_CERTIFIED_MARK)
        return out

    def tse_lines(self) -> list[tuple[str, str]]:
        """Label/value pairs of the TSE block in plain text (labels as used in practice, [S7][S26])."""
        if self.tse is None:
            return [
                ("Kassen-Seriennummer", self.client_serial),
                ("Start", self.started_at.isoformat(timespec="seconds")),
                ("Ende", self.issued_at.isoformat(timespec="seconds")),
                ("TSE", f"ausgefallen: {self.tse_failure}"),
            ]
        t = self.tse
        return [
            ("Kassen-Seriennummer", self.client_serial),
            ("TSE-Seriennummer", t.serial_number),
            ("TSE-Transaktion", str(t.transaction_number)),
            ("TSE-Start", t.start),
            ("TSE-Stop", t.end),
            ("TSE-Signaturzähler", str(t.signature_counter)),
            ("TSE-Signaturalgorithmus", t.signature_algorithm),
            ("TSE-Zeitformat", t.log_time_format),
            ("TSE-Signatur", t.signature),
            ("TSE-PublicKey", t.public_key),
        ]

    def vat_table(self) -> list[tuple[str, str, str, str]]:
        """Rows (rate, net, VAT, gross) formatted with decimal comma for printing."""
        return [
            (f"{v.rate_bp // 100},{v.rate_bp % 100:02d} %", comma_amount(v.net), comma_amount(v.vat), comma_amount(v.gross))
            for v in self.vat
        ]

    def missing_fields(self) -> list[str]:
        """Names of §6 KassenSichV items that are empty (an empty list means complete)."""
        checks = {
            "seller.name": self.seller.name,
            "seller.address": self.seller.street and self.seller.postcode and self.seller.city,
            "client_serial": self.client_serial,
            "lines": self.lines,
            "vat": self.vat,
        }
        missing = [name for name, value in checks.items() if not value]
        if self.tse is not None:
            for name in ("transaction_number", "signature_counter", "signature", "serial_number", "start", "end"):
                if getattr(self.tse, name) in ("", 0):
                    missing.append(f"tse.{name}")
        return missing
