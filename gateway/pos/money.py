"""Integer-cent arithmetic: VAT ids and rates, half-up rounding, splitting amounts, formatting.

VAT ids are DSFinV-K ``UST_SCHLUESSEL`` values (Anlage 2, DSFinV-K 2.4): 1 = 19 %, 2 = 7 %,
3 = average rate §24(1) no. 3 (configurable, default 8.4 %), 4 = 5.5 %, 5 = not taxable, 6 = tax
free, 7 = not determinable, 8 = 0 % per §12(3). Prices are gross (VAT included), as on German
shelf labels; net and VAT per rate are derived from the gross sum of that rate, once per receipt,
so the printed breakdown always adds up to the total.
"""

from __future__ import annotations

from dataclasses import dataclass

VAT_RATES_BP: dict[int, int] = {1: 1900, 2: 700, 3: 840, 4: 550, 5: 0, 6: 0, 7: 0, 8: 0}
VAT_NAMES: dict[int, str] = {
    1: "19 %",
    2: "7 %",
    3: "Durchschnittsatz §24(1) Nr. 3",
    4: "5,5 % §24(1) Nr. 1",
    5: "nicht steuerbar",
    6: "umsatzsteuerfrei",
    7: "USt nicht ermittelbar",
    8: "0 % §12(3)",
}
VAT_LETTERS: dict[int, str] = {1: "A", 2: "B", 3: "C", 4: "D", 5: "E", 6: "E", 7: "E", 8: "E"}


def div_round(num: int, den: int) -> int:
    """``num / den`` rounded half away from zero, in integers (den > 0)."""
    if den <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def percent_of(amount: int, percent_bp: int) -> int:
    """``amount * percent_bp / 10000`` rounded half away from zero."""
    return div_round(amount * percent_bp, 10000)


@dataclass(frozen=True, slots=True)
class VatSplit:
    """Gross, net and VAT of one rate, in cents."""

    vat_id: int
    rate_bp: int
    gross: int
    net: int
    vat: int

    def to_dict(self) -> dict[str, int]:
        """JSON form."""
        return {"vat_id": self.vat_id, "rate_bp": self.rate_bp, "gross": self.gross, "net": self.net, "vat": self.vat}


def split_gross(gross: int, rate_bp: int) -> tuple[int, int]:
    """``(net, vat)`` of a gross amount at ``rate_bp`` basis points, half away from zero on the net."""
    net = div_round(gross * 10000, 10000 + rate_bp)
    return net, gross - net


def vat_split(vat_id: int, gross: int, rates: dict[int, int] | None = None) -> VatSplit:
    """Split a gross amount of one VAT id into net and VAT (half-up on the net)."""
    rate = (rates or VAT_RATES_BP)[vat_id]
    net, vat = split_gross(gross, rate)
    return VatSplit(vat_id, rate, gross, net, vat)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` cents over ``weights`` proportionally; parts sum exactly to ``total``.

    Largest-remainder method: every part is the floor of its exact share, the leftover cents go to
    the parts with the largest remainders (earlier parts first on ties).
    """
    if not weights:
        return []
    wsum = sum(weights)
    if wsum == 0:
        return [total] + [0] * (len(weights) - 1)
    sign = -1 if total < 0 else 1
    t = abs(total)
    shares = [divmod(t * w, wsum) for w in weights]
    parts = [q for q, _ in shares]
    left = t - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))
    for i in order[:left]:
        parts[i] += 1
    return [sign * p for p in parts]


def format_cents(cents: int, currency: str = "€") -> str:
    """German money format: ``1.234,56 €``."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    grouped = f"{euros:,}".replace(",", ".")
    return f"{sign}{grouped},{rest:02d} {currency}".rstrip()
