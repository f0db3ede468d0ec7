"""Legal-for-trade rules for weighed lines."""

from __future__ import annotations

from drivers.scale import (
    WeighingGuard,
    WeightReading,
    WeightState,
    manual_weight_allowed,
    weighed_line_allowed,
)


def _r(state: WeightState, grams: int | None) -> WeightReading:
    return WeightReading(state, grams)


def test_only_stable_positive_weights() -> None:
    assert weighed_line_allowed(_r(WeightState.STABLE, 1234)) == (True, "ok")
    assert weighed_line_allowed(_r(WeightState.MOVING, 1234)) == (False, "weight not stable (moving)")
    assert weighed_line_allowed(_r(WeightState.OVERLOAD, None))[0] is False
    assert weighed_line_allowed(_r(WeightState.UNDERLOAD, None))[0] is False
    assert weighed_line_allowed(_r(WeightState.STABLE, 0)) == (False, "weight must be positive")
    assert weighed_line_allowed(_r(WeightState.STABLE, -5)) == (False, "weight must be positive")
    assert weighed_line_allowed(_r(WeightState.STABLE, None)) == (False, "scale sent no weight")
    assert weighed_line_allowed(_r(WeightState.STABLE, 19), min_weight_g=20)[0] is False


def test_manual_entry_needs_configuration() -> None:
    assert manual_weight_allowed(False)[0] is False
    assert manual_weight_allowed(True)[0] is True


def test_guard_needs_motion_between_lines() -> None:
    g = WeighingGuard()
    stable = _r(WeightState.STABLE, 500)
    assert g.allow(stable) == (True, "ok")
    assert g.allow(stable) == (False, "no motion since the last weighed line")
    g.observe(_r(WeightState.MOVING, 480))
    assert g.allow(stable)[0] is True
    g.observe(_r(WeightState.STABLE, 0))
    assert g.allow(_r(WeightState.STABLE, 700))[0] is True
