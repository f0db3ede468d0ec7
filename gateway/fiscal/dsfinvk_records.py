"""Plain input records of one Kassenabschluss (closing) for the DSFinV-K writer.

Money in integer cents (base currency unless named otherwise), quantities in thousandths,
VAT rates in basis points, times timezone-aware. Values the receipt printed (Bon totals, VAT
per Bon) are given, never recomputed from lines (fact sheet §4.1: the Bon header is an
electronic duplicate of the receipt); the writer derives only what DSFinV-K aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Address:
    """Name and postal address (company, location, agency)."""

    name: str
    street: str
    postcode: str
    city: str
    country: str = "DEU"
    vat_id: str = ""
    tax_number: str = ""


@dataclass(frozen=True)
class CashRegister:
    """cashregister.csv: the closing till; ``serial`` is the TSE client id / QR serial."""

    serial: str
    brand: str
    model: str
    software_brand: str
    software_version: str
    base_currency: str = "EUR"
    no_vat_assignment: bool = False


@dataclass(frozen=True)
class Terminal:
    """slaves.csv: a recording terminal that does not close on its own."""

    terminal_id: str
    brand: str = ""
    model: str = ""
    serial: str = ""
    software_brand: str = ""
    software_version: str = ""


@dataclass(frozen=True)
class Agency:
    """pa.csv: a principal for whom amounts are collected (AGENTUR_ID > 0)."""

    agency_id: int
    address: Address


@dataclass(frozen=True)
class TseMaster:
    """tse.csv: one TSE used in the closing; ``certificate`` is base64 (split in 1000-char chunks)."""

    tse_id: int
    serial: str
    signature_algorithm: str
    time_format: str
    public_key: str
    certificate: str = ""
    process_data_encoding: str = "UTF-8"


@dataclass(frozen=True)
class VatRate:
    """vat.csv: one UST_SCHLUESSEL with its rate in basis points (1900 = 19.00 %)."""

    key: int
    rate_bp: int
    description: str


@dataclass(frozen=True)
class ItemAmount:
    """itemamounts.csv: one price component of a line (base_amount, discount, extra_amount)."""

    typ: str
    vat_key: int
    gross: int
    net: int | None = None
    vat: int | None = None


@dataclass(frozen=True)
class SubItem:
    """subitems.csv: a component of a menu/bundle line."""

    name: str
    quantity: int = 1000
    factor: int = 1000
    unit: str = ""
    article_no: str = ""
    gtin: str = ""
    group_id: str = ""
    group_name: str = ""
    vat_key: int | None = None
    base_gross: int | None = None
    base_net: int | None = None
    base_vat: int | None = None


@dataclass(frozen=True)
class Line:
    """lines.csv + lines_vat.csv: one receipt line; ``gross`` is the line total in cents.

    ``unit_price`` is STK_BR (gross per unit, cents; per kg for weighed goods). ``net``/``vat``
    default to a split of ``gross`` at the line's VAT rate.
    """

    line_no: str
    text: str
    vat_key: int
    gross: int
    quantity: int = 1000
    unit_price: int | None = None
    factor: int = 1000
    unit: str = "Stk"
    gv_type: str = "Umsatz"
    gv_name: str = ""
    voided: bool = False
    article_no: str = ""
    gtin: str = ""
    group_id: str = ""
    group_name: str = ""
    voucher_no: str = ""
    in_house: bool = False
    agency_id: int = 0
    terminal_id: str = ""
    net: int | None = None
    vat: int | None = None
    price_components: Sequence[ItemAmount] = ()
    subitems: Sequence[SubItem] = ()


@dataclass(frozen=True)
class BonVat:
    """transactions_vat.csv: gross/net/VAT of one key as printed on the receipt."""

    vat_key: int
    gross: int
    net: int
    vat: int


@dataclass(frozen=True)
class BonPayment:
    """datapayment.csv: ``amount`` in base currency; ``foreign_amount`` in ``currency`` if foreign."""

    typ: str
    amount: int
    name: str = ""
    currency: str = "EUR"
    foreign_amount: int | None = None


@dataclass(frozen=True)
class BonTse:
    """transactions_tse.csv: the TSE values of the Bon, or ``error`` when the TSE failed."""

    tse_id: int
    start: datetime
    end: datetime
    process_type: str = "Kassenbeleg-V1"
    transaction_number: int | None = None
    signature_counter: int | None = None
    signature: str = ""
    error: str = ""
    process_data: str = ""


@dataclass(frozen=True)
class Reference:
    """references.csv: a link to an earlier Bon (REF_TYP Transaktion) or an external document."""

    ref_type: str
    bon_id: str = ""
    z_kasse_id: str = ""
    z_nr: int | None = None
    closing_created: datetime | None = None
    name: str = ""
    line_no: str = ""


@dataclass(frozen=True)
class Bon:
    """One Vorgang (transactions.csv and its dependent files)."""

    bon_id: str
    bon_nr: int
    bon_type: str
    start: datetime
    end: datetime
    total_gross: int
    lines: Sequence[Line]
    payments: Sequence[BonPayment] = ()
    vat: Sequence[BonVat] | None = None
    tse: BonTse | None = None
    bon_name: str = ""
    terminal_id: str = ""
    storno: bool = False
    operator_id: str = ""
    operator_name: str = ""
    customer_name: str = ""
    customer_id: str = ""
    customer_type: str = ""
    customer_street: str = ""
    customer_postcode: str = ""
    customer_city: str = ""
    customer_country: str = ""
    customer_vat_id: str = ""
    note: str = ""
    references: Sequence[Reference] = ()
    allocation_group: str = ""


@dataclass(frozen=True)
class Closing:
    """One Kassenabschluss: master data valid for it, and every Bon it contains."""

    cash_register_id: str
    z_nr: int
    created: datetime
    business_day: date
    company: Address
    location: Address
    register: CashRegister
    vat_rates: Sequence[VatRate]
    bons: Sequence[Bon]
    tses: Sequence[TseMaster] = ()
    terminals: Sequence[Terminal] = ()
    agencies: Sequence[Agency] = ()
    taxonomy_version: str = "2.4"
    extra: dict[str, str] = field(default_factory=dict)
