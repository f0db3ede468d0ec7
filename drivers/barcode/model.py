"""Barcode text -> :class:`Barcode`: symbology, GTIN, check digits and decoded values.

One pure function, :func:`parse`, reads what a scanner delivers (optionally with an AIM
symbology identifier) and recognises EAN-13, EAN-8, UPC-A, UPC-E, GTIN-14, German in-store
codes (prefix 2x), deposit vouchers and GS1 element strings. UPC-E expansion follows GS1
General Specifications 5.2.2.4.2. :meth:`Barcode.to_json` gives the JSON form documented in
``docs/devices-input.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from drivers.barcode.aim import AimPrefix, split_aim
from drivers.barcode.checksums import gs1_check_digit, gs1_check_digit_ok
from drivers.barcode.errors import InvalidBarcode
from drivers.barcode.gs1 import GS, Element, Gs1SyntaxError, decimal_value, parse_element_string
from drivers.barcode.rcn import GERMAN_RULES, RcnKind, RcnRule, decode_rcn

# Longest text we accept; a GS1 DataMatrix carries at most about 2300 characters.
MAX_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Barcode:
    """A parsed barcode. Money in integer cents, weight in integer grams, never floats.

    ``kind`` is one of ``ean13``, ``ean8``, ``upca``, ``upce``, ``gtin14``, ``in_store_price``,
    ``in_store_weight``, ``in_store_count``, ``in_store``, ``deposit_voucher``, ``gs1``,
    ``addon``, ``text``. ``addon`` holds a 2- or 5-digit EAN/UPC add-on (``]E1``-``]E3``).
    ``gtin`` is the GTIN in its own length (8, 13 or 14 digits; UPC as 13); ``gtin14`` is the
    same number padded to 14 digits. ``check_digits_valid`` is None when the code has none.
    """

    raw: str
    data: str
    kind: str
    symbology: str
    aim_id: str | None = None
    gtin: str | None = None
    check_digits_valid: bool | None = None
    problems: tuple[str, ...] = ()
    price_cents: int | None = None
    weight_g: int | None = None
    count: int | None = None
    item_code: str | None = None
    addon: str | None = None
    elements: tuple[Element, ...] = field(default=())

    @property
    def gtin14(self) -> str | None:
        """The GTIN padded to 14 digits (the form AI 01 carries), or None."""
        return None if self.gtin is None else self.gtin.zfill(14)

    @property
    def ais(self) -> dict[str, str]:
        """Raw data of each GS1 application identifier keyed by the AI number."""
        return {e.ai: e.raw for e in self.elements}

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict documented in docs/devices-input.md."""
        return {
            "kind": self.kind,
            "symbology": self.symbology,
            "aim_id": self.aim_id,
            "data": self.data,
            "gtin": self.gtin,
            "gtin14": self.gtin14,
            "check_digits_valid": self.check_digits_valid,
            "problems": list(self.problems),
            "price_cents": self.price_cents,
            "weight_g": self.weight_g,
            "count": self.count,
            "item_code": self.item_code,
            "addon": self.addon,
            "ais": self.ais,
            "ai_values": {e.ai: {"title": e.title, "value": e.value} for e in self.elements},
        }


def expand_upce(code: str) -> str:
    """Expand an 8-digit UPC-E (number system, 6 digits, check) to the 12-digit UPC-A."""
    if len(code) != 8 or not (code.isascii() and code.isdigit()) or code[0] not in "01":
        raise InvalidBarcode(code, "UPC-E needs 8 digits starting with 0 or 1")
    ns, x, check = code[0], code[1:7], code[7]
    last = x[5]
    if last in "012":
        body = x[0:2] + last + "0000" + x[2:5]
    elif last == "3":
        body = x[0:3] + "00000" + x[3:5]
    elif last == "4":
        body = x[0:4] + "00000" + x[4]
    else:
        body = x[0:5] + "0000" + last
    return ns + body + check


def _ean(raw: str, aim: AimPrefix | None, data: str, rules: Mapping[str, RcnRule], upce: bool) -> Barcode:
    aim_id = aim.aim_id if aim else None
    n = len(data)
    if n == 8 and upce:
        upca = expand_upce(data)
        ok = gs1_check_digit_ok(upca)
        return _gtin_result(raw, data, "upce", "UPC-E", aim_id, "0" + upca, ok)
    if n == 8:
        return _gtin_result(raw, data, "ean8", "EAN-8", aim_id, data, gs1_check_digit_ok(data))
    if n == 12:
        return _gtin_result(raw, data, "upca", "UPC-A", aim_id, "0" + data, gs1_check_digit_ok(data))
    if n == 14:
        return _gtin_result(raw, data, "gtin14", "ITF-14", aim_id, data, gs1_check_digit_ok(data))
    ok = gs1_check_digit_ok(data)
    rule = rules.get(data[:2]) if data[0] == "2" else None
    if rule is None:
        return _gtin_result(raw, data, "ean13", "EAN-13", aim_id, data, ok)
    rcn = decode_rcn(data, rule)
    problems = [] if ok else ["outer check digit wrong"]
    if not rcn.inner_check_ok:
        problems.append("inner price/weight check digit wrong")
    value = rcn.value
    kind = {
        RcnKind.PRICE: "in_store_price",
        RcnKind.WEIGHT: "in_store_weight",
        RcnKind.COUNT: "in_store_count",
        RcnKind.DEPOSIT: "deposit_voucher",
        RcnKind.INTERNAL: "in_store",
    }[rule.kind]
    return Barcode(
        raw=raw,
        data=data,
        kind=kind,
        symbology="EAN-13",
        aim_id=aim_id,
        gtin=data,
        check_digits_valid=not problems,
        problems=tuple(problems),
        # German layouts: price in cents (2 decimals), weight in grams (3 decimals of kg).
        price_cents=value if rule.kind in (RcnKind.PRICE, RcnKind.DEPOSIT) else None,
        weight_g=value if rule.kind is RcnKind.WEIGHT else None,
        count=value if rule.kind is RcnKind.COUNT else None,
        item_code=rcn.item_code,
    )


# ]E3 lengths -> (main symbol length, add-on length); ISO/IEC 15424 sends both in one string.
_ADDON_SPLIT = {10: (8, 2), 13: (8, 5), 15: (13, 2), 18: (13, 5)}


def _ean_with_aim(raw: str, aim: AimPrefix, data: str, rules: Mapping[str, RcnRule]) -> Barcode:
    if not data.isascii() or not data.isdigit():
        raise InvalidBarcode(raw, f"{aim.aim_id} ({aim.symbology}) needs digits")
    n, aim_id = len(data), aim.aim_id
    if aim_id in ("]E1", "]E2"):  # an add-on transmitted on its own
        if n != (2 if aim_id == "]E1" else 5):
            raise InvalidBarcode(raw, f"{aim_id} add-on needs {2 if aim_id == ']E1' else 5} digits")
        return Barcode(raw, data, "addon", aim.symbology, aim_id, addon=data)
    if aim_id == "]E3":
        if n not in _ADDON_SPLIT:
            raise InvalidBarcode(raw, "]E3 needs 8 or 13 digits plus a 2- or 5-digit add-on")
        main, _ = _ADDON_SPLIT[n]
        return replace(_ean(raw, aim, data[:main], rules, upce=False), data=data, addon=data[main:])
    if aim_id == "]E4" and n != 8:
        raise InvalidBarcode(raw, "]E4 (EAN-8) needs 8 digits")
    if aim_id != "]E0" or n not in (8, 12, 13):
        raise InvalidBarcode(raw, f"{aim_id} ({aim.symbology}) needs 8, 12 or 13 digits")
    return _ean(raw, aim, data, rules, upce=aim_id == "]E0" and n == 8)


def _gtin_result(raw: str, data: str, kind: str, sym: str, aim_id: str | None, gtin: str, ok: bool) -> Barcode:
    problems = () if ok else ("check digit wrong",)
    return Barcode(raw, data, kind, sym, aim_id, gtin, ok, problems)


def _scaled_int(value: Decimal, factor: int) -> int:
    return int((value * factor).to_integral_value(ROUND_HALF_EVEN))


def _gs1(raw: str, aim: AimPrefix | None, data: str) -> Barcode:
    try:
        elements = parse_element_string(data)
    except Gs1SyntaxError as exc:
        raise InvalidBarcode(raw, f"GS1 element string: {exc}") from exc
    problems = [f"AI {e.ai} check digit wrong" for e in elements if not e.check_ok]
    by_ai = {e.ai: e for e in elements}
    gtin = by_ai["01"].raw if "01" in by_ai else (by_ai["02"].raw if "02" in by_ai else None)
    weight_g = price = count = None
    for e in elements:
        if e.ai.startswith("310"):
            weight_g = _scaled_int(decimal_value(e.ai, e.raw), 1000)
        elif e.ai.startswith("392"):
            price = _scaled_int(decimal_value(e.ai, e.raw), 100)
        elif e.ai.startswith("393") and e.raw.startswith("978"):
            # Only euro amounts (ISO 4217 numeric 978) become price_cents; others stay in ais.
            price = _scaled_int(decimal_value(e.ai, e.raw[3:]), 100)
    if "30" in by_ai:
        count = int(by_ai["30"].raw)
    elif "37" in by_ai:
        count = int(by_ai["37"].raw)
    sym = aim.symbology if aim else "GS1"
    return Barcode(
        raw=raw,
        data=data,
        kind="gs1",
        symbology=sym,
        aim_id=aim.aim_id if aim else None,
        gtin=gtin,
        check_digits_valid=not problems,
        problems=tuple(problems),
        price_cents=price,
        weight_g=weight_g,
        count=count,
        elements=tuple(elements),
    )


def parse(code: str, *, rules: Mapping[str, RcnRule] = GERMAN_RULES, upce: bool = False) -> Barcode:
    """Parse scanner text into a :class:`Barcode`; raise :class:`InvalidBarcode` when unreadable.

    A wrong check digit does not raise: the result says ``check_digits_valid=False`` and names
    the problem, so the caller decides (the CLI exits non-zero). ``rules`` maps in-store
    prefixes to layouts; ``upce=True`` reads a bare 8-digit code as UPC-E instead of EAN-8
    (an AIM ``]E0`` identifier on 8 digits means UPC-E anyway).
    """
    if not code:
        raise InvalidBarcode(code, "empty code")
    if len(code) > MAX_LENGTH:
        raise InvalidBarcode(code[:40], f"longer than {MAX_LENGTH} characters")
    aim, data = split_aim(code)
    if any((c < " " and c != GS) or c == "\x7f" for c in data):
        raise InvalidBarcode(code, "control character in data")
    if not data:
        raise InvalidBarcode(code, "no data after the symbology identifier")
    if (aim is not None and aim.is_gs1) or data.startswith(GS) or (aim is None and data.startswith("(")):
        return _gs1(code, aim, data)
    if aim is not None and aim.aim_id.startswith("]E"):
        return _ean_with_aim(code, aim, data, rules)
    plain = aim is None or aim.aim_id.startswith("]I")
    if plain and data.isascii() and data.isdigit() and len(data) in (8, 12, 13, 14):
        if len(data) == 8 and not upce and not gs1_check_digit_ok(data) and data[0] in "01":
            # A bare 8-digit code that fails as EAN-8 but passes as UPC-E is UPC-E.
            upce = gs1_check_digit_ok(expand_upce(data))
        return _ean(code, aim, data, rules, upce)
    if aim is None and data.isascii() and data.isdigit():
        # Without an identifier a digit string is read as EAN/UPC/GTIN; other lengths are
        # usually a misread or a truncated scan. Code 128 digit codes arrive with ]C0.
        raise InvalidBarcode(code, f"{len(data)} digits is no EAN/UPC/GTIN length (8, 12, 13, 14)")
    return Barcode(code, data, "text", aim.symbology if aim else "unknown", aim.aim_id if aim else None)


def make_gtin(payload: str) -> str:
    """Append the mod-10 check digit to ``payload`` (handy for simulators and tests)."""
    return payload + str(gs1_check_digit(payload))
