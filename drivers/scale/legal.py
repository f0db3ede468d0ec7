"""Legal-for-trade rules on the POS side for weighed sales lines (Germany: MessEG/MessEV).

Sources (project fact sheet §4.6): Directive 2014/31/EU (non-automatic weighing instruments),
EN 45501 / OIML R76, WELMEC guide 2.2 (POS devices). The scale decides stability and range;
the POS may only use what the scale reported as stable and must never "fix" a reading. A
weighed line needs a stable, positive weight at or above the scale's minimum load; the same
item may not be sold twice without the load changing; manual weight entry is off unless the
store enables it (for instance a non-trade scale for internal use).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.scale.model import WeightReading, WeightState


def weighed_line_allowed(reading: WeightReading, min_weight_g: int = 1) -> tuple[bool, str]:
    """Decide whether ``reading`` may price a sales line; return (allowed, reason)."""
    if reading.state is not WeightState.STABLE:
        return False, f"weight not stable ({reading.state.value})"
    if reading.weight_g is None:
        return False, "scale sent no weight"
    if reading.weight_g <= 0:
        return False, "weight must be positive"
    if reading.weight_g < min_weight_g:
        return False, f"weight below the minimum load of {min_weight_g} g"
    return True, "ok"


def manual_weight_allowed(enabled: bool) -> tuple[bool, str]:
    """Manual weight entry is refused unless the store configuration enables it."""
    if enabled:
        return True, "manual weight entry enabled by configuration"
    return False, "manual weight entry is disabled (legal-for-trade)"


@dataclass
class WeighingGuard:
    """Refuses a second weighed line from the same resting load (Dialog 06 status 21 rule).

    Call :meth:`observe` with every reading the POS sees and :meth:`allow` before booking.
    After a booked line, a new line needs the load to have moved or returned to zero first.
    """

    min_weight_g: int = 1
    _armed: bool = True

    def observe(self, reading: WeightReading) -> None:
        """Re-arm when the load moves or is taken off."""
        if reading.state is not WeightState.STABLE or (reading.weight_g is not None and reading.weight_g <= 0):
            self._armed = True

    def allow(self, reading: WeightReading) -> tuple[bool, str]:
        """Check the legal rules and the no-motion rule; a True result books the reading."""
        self.observe(reading)
        ok, reason = weighed_line_allowed(reading, self.min_weight_g)
        if not ok:
            return ok, reason
        if not self._armed:
            return False, "no motion since the last weighed line"
        self._armed = False
        return True, "ok"
