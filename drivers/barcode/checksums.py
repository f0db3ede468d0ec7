"""Check digits of GS1 numbers: the mod-10 GTIN digit and the inner price/weight digit.

Algorithms from the GS1 General Specifications: section 7.9.1 (standard check digit for
GTIN-8/12/13/14, SSCC, GLN) and sections 7.9.3 / 7.9.4 (check digit over a 4- or 5-digit
price or weight field in variable-measure codes). Test vectors are the worked examples there.
"""

from __future__ import annotations

# Digit -> product tables of GS1 GenSpec 7.9.2 ("weighting factors" 2-, 3, 5+, 5-).
_W2_MINUS = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)
_W3 = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)
_W5_PLUS = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)
_W5_MINUS = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)


def _digits(value: str) -> list[int]:
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"not a digit string: {value!r}")
    return [ord(c) - 48 for c in value]


def gs1_check_digit(payload: str) -> int:
    """Return the mod-10 check digit for ``payload`` (all digits except the check digit).

    Weights 3,1,3,1,... are applied from the rightmost payload digit leftwards.
    """
    total = 0
    for i, d in enumerate(reversed(_digits(payload))):
        total += d * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def gs1_check_digit_ok(number: str) -> bool:
    """True when the last digit of ``number`` is the correct mod-10 check digit."""
    if len(number) < 2 or not number.isascii() or not number.isdigit():
        return False
    return gs1_check_digit(number[:-1]) == int(number[-1])


def price_check_digit(value: str) -> int:
    """Return the inner check digit of a 4- or 5-digit price/weight field (GenSpec 7.9.3/7.9.4)."""
    d = _digits(value)
    if len(d) == 4:
        total = _W2_MINUS[d[0]] + _W2_MINUS[d[1]] + _W3[d[2]] + _W5_MINUS[d[3]]
        return (total * 3) % 10
    if len(d) == 5:
        total = _W5_PLUS[d[0]] + _W2_MINUS[d[1]] + _W5_MINUS[d[2]] + _W5_PLUS[d[3]] + _W2_MINUS[d[4]]
        target = (10 - total % 10) % 10
        # The check digit is the one whose 5- product equals the target.
        return _W5_MINUS.index(target)
    raise ValueError(f"price check digit needs 4 or 5 digits, got {value!r}")
