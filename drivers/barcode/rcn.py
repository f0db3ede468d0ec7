"""In-store (restricted circulation) EAN-13 codes with prefix 20-29: price, weight, count, deposit.

The GS1 member organisation of each country defines what the 2x prefixes mean; the store can
override that. German defaults follow GS1 Germany, "Globale Artikelnummer GTIN in der
Anwendung" (as tabulated by the biip project's RCN rules and the project fact sheet §3.7):
layout ``PP IIII C VVVVV K`` - 2-digit prefix, 4-digit item number, inner check digit C over
the 5-digit value, the value, the outer GTIN check digit K.

- 22, 23: price in euro with 2 decimals (``2211114002394`` = 2.39 EUR)
- 25, 26: count of pieces (``2511119000129`` = 12)
- 28, 29: weight in kg with 3 decimals (``2811111068708`` = 6.870 kg)
- 21: deposit (Leergut) voucher from a reverse vending machine, price layout; the machine is
  configured with that layout, so it is a store default, not a GS1 rule (fact sheet §3.9:
  TOMRA voucher ``2100996000607`` = 0.60).
- 20, 24, 27: company internal, no value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from drivers.barcode.checksums import gs1_check_digit, price_check_digit


class RcnKind(StrEnum):
    """What the variable part of an in-store code carries."""

    PRICE = "price"
    WEIGHT = "weight"
    COUNT = "count"
    DEPOSIT = "deposit"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class RcnRule:
    """Layout of an in-store code: ``value_digits`` (4 or 5, or 0 for none) and inner check digit."""

    kind: RcnKind
    value_digits: int = 5
    inner_check: bool = True

    def __post_init__(self) -> None:
        if self.kind is RcnKind.INTERNAL:
            object.__setattr__(self, "value_digits", 0)
            object.__setattr__(self, "inner_check", False)
        elif self.value_digits not in (4, 5):
            raise ValueError("value_digits must be 4 or 5")


_PRICE = RcnRule(RcnKind.PRICE)
GERMAN_RULES: Mapping[str, RcnRule] = {
    "20": RcnRule(RcnKind.INTERNAL),
    "21": RcnRule(RcnKind.DEPOSIT),
    "22": _PRICE,
    "23": _PRICE,
    "24": RcnRule(RcnKind.INTERNAL),
    "25": RcnRule(RcnKind.COUNT),
    "26": RcnRule(RcnKind.COUNT),
    "27": RcnRule(RcnKind.INTERNAL),
    "28": RcnRule(RcnKind.WEIGHT),
    "29": RcnRule(RcnKind.WEIGHT),
}


def rules_from_mapping(cfg: Mapping[str, str | Mapping[str, object]]) -> dict[str, RcnRule]:
    """Build rules from config: ``{"22": "price"}`` or ``{"21": {"kind": "deposit", "value_digits": 5,
    "inner_check": true}}``; prefixes not named keep the German default."""
    rules = dict(GERMAN_RULES)
    for prefix, spec in cfg.items():
        if len(prefix) != 2 or not prefix.isdigit() or prefix[0] != "2":
            raise ValueError(f"in-store prefix must be 20..29, got {prefix!r}")
        if isinstance(spec, str):
            rules[prefix] = RcnRule(RcnKind(spec))
        else:
            digits = spec.get("value_digits", 5)
            inner = spec.get("inner_check", True)
            if not isinstance(digits, int) or not isinstance(inner, bool):
                raise ValueError(f"bad rule for prefix {prefix}: {spec!r}")
            rules[prefix] = RcnRule(RcnKind(str(spec["kind"])), digits, inner)
    return rules


@dataclass(frozen=True, slots=True)
class RcnValue:
    """Decoded variable part: the value, the item number, and the lookup code with value zeroed."""

    kind: RcnKind
    item: str
    value: int | None
    inner_check_ok: bool
    item_code: str


def decode_rcn(code: str, rule: RcnRule) -> RcnValue:
    """Decode a 13-digit in-store code under ``rule``; the outer check digit is checked elsewhere."""
    body = code[2:12]
    if rule.kind is RcnKind.INTERNAL:
        return RcnValue(rule.kind, body, None, True, code)
    v = rule.value_digits
    value_str = body[-v:]
    item = body[: 10 - v - (1 if rule.inner_check else 0)]
    ok = True
    if rule.inner_check:
        ok = int(body[-v - 1]) == price_check_digit(value_str)
    zero = "0" * v
    inner = str(price_check_digit(zero)) if rule.inner_check else ""
    payload = code[:2] + item + inner + zero
    return RcnValue(rule.kind, item, int(value_str), ok, payload + str(gs1_check_digit(payload)))
