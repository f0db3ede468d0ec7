"""GS1 element strings (GS1-128, GS1 DataMatrix, GS1 QR): split into application identifiers.

Implements the element-string rules of the GS1 General Specifications section 7.8: AIs are a
prefix-free code; a fixed-length field is followed directly by the next AI, a variable-length
field ends at the FNC1 separator (transmitted as GS, 0x1D) or at the end of the data. The
human-readable form with AIs in parentheses, ``(01)04006381333931(10)LOT42``, is accepted too.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from decimal import Decimal

from drivers.barcode.ai_table import AiDef, lookup_ai
from drivers.barcode.checksums import gs1_check_digit_ok

GS = "\x1d"
_HRI = re.compile(r"\(([0-9]{2,4})\)([^()]*)")
# GS1 character set 82 (GenSpec figure 7.11-1) for X fields.
_CSET82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*$")


class Gs1SyntaxError(ValueError):
    """The element string breaks the AI syntax; the parser converts it to ``InvalidBarcode``."""


@dataclass(frozen=True, slots=True)
class Element:
    """One AI with its raw data and, where the AI defines one, a decoded value.

    ``value`` is a string so it stays exact: dates ISO 8601, decimals with a point
    (``"1.234"``), money as ``"29.90"`` or ``"EUR 29.90"`` form ``"978 29.90"``.
    """

    ai: str
    title: str
    raw: str
    value: str
    check_ok: bool = True


def _date(raw: str) -> str:
    yy, mm, dd = int(raw[0:2]), int(raw[2:4]), int(raw[4:6])
    # GenSpec 7.12: the century is chosen so the year lies within -49..+50 of the current
    # year; for a store gateway 2000-2099 gives the same answer until 2050.
    year = 2000 + yy
    if not 1 <= mm <= 12:
        raise Gs1SyntaxError(f"month {mm:02d} out of range")
    last = calendar.monthrange(year, mm)[1]
    if dd == 0:  # day 00 means the last day of the month
        dd = last
    if dd > last:
        raise Gs1SyntaxError(f"day {dd:02d} out of range")
    return f"{year:04d}-{mm:02d}-{dd:02d}"


def decimal_value(ai: str, raw: str) -> Decimal:
    """The number in ``raw`` with the implied decimal places given by the AI's last digit."""
    return Decimal(int(raw)).scaleb(-int(ai[3]))


def _decode(d: AiDef, raw: str) -> tuple[str, bool]:
    if d.numeric and not (raw.isascii() and raw.isdigit()):  # "²" is a digit to str.isdigit, not to int()
        raise Gs1SyntaxError(f"AI {d.ai} needs digits, got {raw!r}")
    if not d.numeric and not _CSET82.match(raw):
        raise Gs1SyntaxError(f"AI {d.ai} has characters outside the GS1 set: {raw!r}")
    if d.kind == "gtin":
        return raw, gs1_check_digit_ok(raw)
    if d.kind == "date":
        return _date(raw), True
    if d.kind == "date_range":
        if len(raw) not in (6, 12):
            raise Gs1SyntaxError(f"AI {d.ai} needs one or two dates, got {raw!r}")
        return "/".join(_date(raw[i : i + 6]) for i in range(0, len(raw), 6)), True
    if d.kind in ("decimal", "money"):
        return str(decimal_value(d.ai, raw)), True
    if d.kind == "money_iso":
        return f"{raw[:3]} {decimal_value(d.ai, raw[3:])}", True
    if d.ai == "00":
        return raw, gs1_check_digit_ok(raw)
    return raw, True


def _element(ai: str, raw: str) -> Element:
    d = lookup_ai(ai)
    if d is None or d.ai != ai:
        raise Gs1SyntaxError(f"unknown application identifier {ai}")
    if not d.min_len <= len(raw) <= d.max_len:
        raise Gs1SyntaxError(f"AI {ai} needs {d.fmt}, got {len(raw)} characters")
    value, ok = _decode(d, raw)
    return Element(ai, d.title, raw, value, ok)


def _parse_hri(data: str) -> list[Element]:
    pos = 0
    out: list[Element] = []
    for m in _HRI.finditer(data):
        if m.start() != pos:
            raise Gs1SyntaxError(f"unexpected text at position {pos}")
        out.append(_element(m.group(1), m.group(2)))
        pos = m.end()
    if pos != len(data) or not out:
        raise Gs1SyntaxError(f"unexpected text at position {pos}")
    return out


def _parse_raw(data: str) -> list[Element]:
    out: list[Element] = []
    pos = 0
    n = len(data)
    while pos < n:
        if data[pos] == GS:  # a separator after a fixed field or a doubled one is harmless
            pos += 1
            continue
        d = lookup_ai(data[pos : pos + 4])
        if d is None:
            raise Gs1SyntaxError(f"unknown application identifier at position {pos}: {data[pos:pos + 4]!r}")
        start = pos + len(d.ai)
        if d.fixed:
            end = start + d.max_len
            if end > n or GS in data[start:end]:
                raise Gs1SyntaxError(f"AI {d.ai} needs {d.max_len} characters")
        else:
            sep = data.find(GS, start)
            end = n if sep < 0 else sep
            if end - start > d.max_len:
                raise Gs1SyntaxError(f"AI {d.ai} longer than {d.max_len} characters (missing GS?)")
        out.append(_element(d.ai, data[start:end]))
        pos = end
    if not out:
        raise Gs1SyntaxError("no application identifiers")
    return out


def parse_element_string(data: str) -> list[Element]:
    """Split a GS1 element string (raw with GS separators, or with parenthesised AIs).

    Raises :class:`Gs1SyntaxError` on unknown AIs, wrong lengths, bad characters or repeats.
    """
    if data.startswith(GS):  # FNC1 in first position, as some scanners transmit it
        data = data[1:]
    elements = _parse_hri(data) if data.startswith("(") else _parse_raw(data)
    seen: dict[str, str] = {}
    unique: list[Element] = []
    for e in elements:
        # GenSpec 4.14: an AI may repeat only with identical data; keep it once.
        if e.ai in seen:
            if seen[e.ai] != e.raw:
                raise Gs1SyntaxError(f"AI {e.ai} occurs twice with different data")
            continue
        seen[e.ai] = e.raw
        unique.append(e)
    return unique
