"""AIM symbology identifiers (ISO/IEC 15424): the ``]Cm`` prefix a scanner may put before data.

The table names the symbologies a store meets; the code character decides the family and the
modifier refines it (for example ``]C1`` = GS1-128, ``]E4`` = EAN-8). Sources: ISO/IEC 15424
and GS1 General Specifications figure 5.1.2-2 (GS1 identifiers), as summarised in the project's
peripherals fact sheet, section 3.5.
"""

from __future__ import annotations

from dataclasses import dataclass

# Exact (code char + modifier) names first; family names are the fallback for other modifiers.
_EXACT: dict[str, str] = {
    "E0": "EAN-13/UPC",
    "E1": "EAN/UPC add-on 2",
    "E2": "EAN/UPC add-on 5",
    "E3": "EAN/UPC with add-on",
    "E4": "EAN-8",
    "C0": "Code 128",
    "C1": "GS1-128",
    "C2": "Code 128 (AIM)",
    "d1": "Data Matrix",
    "d2": "GS1 DataMatrix",
    "Q1": "QR Code",
    "Q3": "GS1 QR Code",
    "e0": "GS1 DataBar",
    "I0": "ITF",
    "I1": "ITF-14",
    "J1": "GS1 DotCode",
}
_FAMILY: dict[str, str] = {
    "A": "Code 39",
    "C": "Code 128",
    "d": "Data Matrix",
    "E": "EAN/UPC",
    "e": "GS1 DataBar",
    "F": "Codabar",
    "G": "Code 93",
    "I": "ITF",
    "J": "DotCode",
    "L": "PDF417",
    "Q": "QR Code",
    "X": "Other",
    "z": "Aztec",
}
# Identifiers whose data is a GS1 element string (FNC1 in first position).
GS1_AIM_IDS = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})


@dataclass(frozen=True, slots=True)
class AimPrefix:
    """A recognised symbology identifier: ``aim_id`` like ``]E0`` and a readable ``symbology``."""

    aim_id: str
    symbology: str

    @property
    def is_gs1(self) -> bool:
        """True when the data after the identifier is a GS1 element string."""
        return self.aim_id in GS1_AIM_IDS


def split_aim(text: str) -> tuple[AimPrefix | None, str]:
    """Split a leading AIM identifier off ``text``; return (prefix or None, remaining data)."""
    if len(text) >= 3 and text[0] == "]" and text[1].isalpha() and text[2].isalnum():
        key = text[1:3]
        name = _EXACT.get(key) or _FAMILY.get(key[0])
        if name is not None:
            return AimPrefix("]" + key, name), text[3:]
    return None, text
