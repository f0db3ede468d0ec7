"""Receipt document model (plain dataclasses) and German money/quantity formatting.

Money is always integer cents, quantities integer thousandths, weights integer grams. The
fields follow what a German till receipt must carry (KassenSichV §6: TSE serial, transaction
number, signature counter, start/end time, signature; marks for training, copies and a failed
TSE) so that ``drivers.printer.layout`` can print it without any business logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def format_cents(cents: int) -> str:
    """``123456`` -> ``"1.234,56"`` (German grouping, always two decimals, leading minus)."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    return f"{sign}{euros:,}".replace(",", ".") + f",{rest:02d}"


def format_money(cents: int) -> str:
    """``123456`` -> ``"1.234,56 €"``."""
    return f"{format_cents(cents)} €"


def format_milli(value: int, decimals: int = 3) -> str:
    """Thousandths -> German decimal: ``1500`` -> ``"1,5"``; trailing zeros dropped, integers plain."""
    sign = "-" if value < 0 else ""
    whole, rest = divmod(abs(value), 1000)
    frac = f"{rest:03d}"[:decimals].rstrip("0")
    return f"{sign}{whole}" + (f",{frac}" if frac else "")


def format_weight(grams: int) -> str:
    """Grams -> kilograms with three decimals: ``532`` -> ``"0,532 kg"``."""
    sign = "-" if grams < 0 else ""
    kg, g = divmod(abs(grams), 1000)
    return f"{sign}{kg},{g:03d} kg"


def format_rate(basis_points: int) -> str:
    """VAT rate in basis points -> ``"19,00 %"``."""
    return f"{format_cents(basis_points)} %"


@dataclass(slots=True)
class ReceiptHeader:
    """Store identification printed at the top of every receipt."""

    store_name: str
    address_lines: list[str] = field(default_factory=list)
    vat_id: str = ""
    tax_number: str = ""
    logo_lines: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ReceiptLine:
    """One sold article.

    ``quantity_milli`` is thousandths of a piece (1000 = one piece); a weighed article sets
    ``weight_g`` and ``unit_price_cents`` is then the price per kilogram.
    """

    text: str
    amount_cents: int
    vat_letter: str
    quantity_milli: int = 1000
    unit_price_cents: int | None = None
    weight_g: int | None = None
    article_no: str = ""


@dataclass(slots=True)
class Discount:
    """A discount line; ``amount_cents`` is negative."""

    text: str
    amount_cents: int
    vat_letter: str = ""


@dataclass(slots=True)
class VatEntry:
    """One row of the VAT table; the rate is in basis points (1900 = 19 %)."""

    letter: str
    rate_basis_points: int
    net_cents: int
    vat_cents: int
    gross_cents: int


@dataclass(slots=True)
class Payment:
    """One tender (cash, card, voucher) with optional detail lines (e.g. card slip data)."""

    method: str
    amount_cents: int
    details: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FiscalBlock:
    """TSE data that KassenSichV §6 requires on the receipt."""

    tse_serial: str
    transaction_number: int
    signature_counter: int
    start_time: str
    end_time: str
    signature: str
    signature_algorithm: str = ""
    time_format: str = "utcTime"
    client_id: str = ""
    process_type: str = "Kassenbeleg-V1"


@dataclass(slots=True)
class Receipt:
    """Everything printed on one till receipt, already computed by the caller."""

    header: ReceiptHeader
    receipt_no: str
    timestamp: str
    lines: list[ReceiptLine]
    total_cents: int
    cashier: str = ""
    register_id: str = ""
    discounts: list[Discount] = field(default_factory=list)
    vat_table: list[VatEntry] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    change_cents: int = 0
    fiscal: FiscalBlock | None = None
    qr_data: str = ""
    footer_lines: list[str] = field(default_factory=list)
    copy: bool = False
    training: bool = False
    tse_failure: bool = False
