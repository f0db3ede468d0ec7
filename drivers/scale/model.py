"""Scale results as plain data: the weight reading, its state, and unit conversion to grams."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from drivers.scale.errors import ScaleProtocolError

# Exact factors to grams; pound and ounce by their international definitions (1959).
_TO_GRAMS = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "mg": Decimal("0.001"),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}


class WeightState(StrEnum):
    """What the scale said about the load."""

    STABLE = "stable"
    MOVING = "moving"
    OVERLOAD = "overload"
    UNDERLOAD = "underload"


@dataclass(frozen=True, slots=True)
class WeightReading:
    """One reading. ``weight_g`` is the net weight in integer grams (None when the scale sent
    none, e.g. overload); ``net`` is True when a tare is active; ``raw`` is the reply frame."""

    state: WeightState
    weight_g: int | None
    unit: str | None = None
    net: bool = False
    at_zero: bool = False
    raw: bytes = b""

    @property
    def stable(self) -> bool:
        """True for a stable reading with a weight."""
        return self.state is WeightState.STABLE and self.weight_g is not None


_DECIMAL = re.compile(r"[+-]?[0-9]{1,9}(\.[0-9]{1,6})?")


def to_grams(value: str, unit: str, frame: bytes = b"") -> int:
    """Convert a decimal weight string in ``unit`` to integer grams (half-even rounding)."""
    factor = _TO_GRAMS.get(unit.lower())
    if factor is None:
        raise ScaleProtocolError(f"unknown weight unit {unit!r}", frame)
    # Plain decimals only: Decimal() would also take "1E999999" (overflow), "1_0" or "Infinity".
    if not _DECIMAL.fullmatch(value):
        raise ScaleProtocolError(f"bad weight value {value!r}", frame)
    grams = Decimal(value) * factor
    return int(grams.to_integral_value(ROUND_HALF_EVEN))
