"""A completed scan as plain data, shared by the HID and serial scanner drivers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from drivers.barcode import GERMAN_RULES, Barcode, RcnRule, parse, split_aim

GS = "\x1d"


@dataclass(frozen=True, slots=True)
class Scan:
    """One code as the scanner delivered it, with the AIM identifier split off.

    ``text`` is everything before the suffix (GS substitutes already replaced by GS);
    ``data`` is ``text`` without the AIM prefix; ``timestamp`` is the time of the last input
    (event time for evdev, loop time for serial).
    """

    text: str
    data: str
    aim_id: str | None
    symbology: str | None
    source: str
    timestamp: float

    def barcode(self, rules: Mapping[str, RcnRule] = GERMAN_RULES) -> Barcode:
        """Parse the scan (raises ``drivers.barcode.InvalidBarcode``)."""
        return parse(self.text, rules=rules)


def make_scan(text: str, source: str, timestamp: float, gs_substitute: str | None = None) -> Scan:
    """Build a :class:`Scan`, replacing the configured GS substitute and splitting the AIM id."""
    if gs_substitute:
        text = text.replace(gs_substitute, GS)
    aim, data = split_aim(text)
    return Scan(text, data, aim.aim_id if aim else None, aim.symbology if aim else None, source, timestamp)
