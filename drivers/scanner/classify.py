"""Tell a barcode scanner from a real keyboard among evdev keyboard devices.

There is no reliable generic flag (fact sheet §3.2): many scanners report the HID boot
keyboard protocol like any keyboard. The decision therefore goes, first match wins:
1. explicit configuration (``overrides`` keyed ``"vvvv:pppp"`` or by device name);
2. the device catalogue (``"vvvv:pppp" -> "scanner" | "keyboard"``);
3. vendor IDs that only make scanners (usb.ids: Metrologic/Honeywell 0c2e, Hand Held
   Products 0536, Symbol/Zebra 05e0, PSC/Datalogic 05f9, Newland 1eab, Opticon 065a);
4. words in the device name (barcode, scanner, scan, reader, imager);
5. otherwise "keyboard": an unknown device is never grabbed, so a real keyboard keeps working.
:func:`typing_looks_scanned` adds a timing hint (a burst of keys a few ms apart) that a
technician UI may show; its thresholds are assumptions to be checked on hardware.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SCANNER_VENDORS: Mapping[int, str] = {
    0x0C2E: "Metrologic (Honeywell)",
    0x0536: "Hand Held Products (Honeywell)",
    0x05E0: "Symbol (Zebra)",
    0x05F9: "PSC Scanning (Datalogic)",
    0x1EAB: "Newland",
    0x065A: "Opticon",
}
_SCANNER_WORDS = re.compile(r"bar ?code|scanner|\bscan|reader|imager", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Classification:
    """``kind`` is ``scanner`` or ``keyboard``; ``reason`` says which rule decided."""

    kind: str
    reason: str


def usb_id(vendor: int, product: int) -> str:
    """The ``vvvv:pppp`` key used in config and catalogue."""
    return f"{vendor:04x}:{product:04x}"


def classify_input_device(
    name: str,
    vendor: int,
    product: int,
    *,
    catalogue: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Classification:
    """Decide scanner vs keyboard for one evdev device (``device.name``, ``device.info``)."""
    key = usb_id(vendor, product)
    for source, table in (("configuration", overrides), ("catalogue", catalogue)):
        if table:
            kind = table.get(key) or table.get(name)
            if kind in ("scanner", "keyboard"):
                return Classification(kind, f"{source} entry for {key if key in table else name}")
    if vendor in SCANNER_VENDORS:
        return Classification("scanner", f"vendor {vendor:04x} makes scanners ({SCANNER_VENDORS[vendor]})")
    if _SCANNER_WORDS.search(name):
        return Classification("scanner", f"device name {name!r}")
    return Classification("keyboard", "no scanner evidence; treated as keyboard and not grabbed")


def typing_looks_scanned(key_times: Sequence[float], *, min_keys: int = 6, max_median_gap: float = 0.01) -> bool:
    """True when key-down times form a fast burst (median gap below ``max_median_gap`` s)."""
    if len(key_times) < min_keys:
        return False
    gaps = [b - a for a, b in itertools.pairwise(key_times)]
    return statistics.median(gaps) < max_median_gap
