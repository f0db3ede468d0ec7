"""Barcode parsing: EAN/UPC, German in-store codes, deposit vouchers and GS1 element strings.

Pure library, no I/O: ``parse(text) -> Barcode``. See docs/devices-input.md for the JSON form.
"""

from drivers.barcode.aim import AimPrefix, split_aim
from drivers.barcode.errors import BarcodeError, InvalidBarcode
from drivers.barcode.model import Barcode, expand_upce, make_gtin, parse
from drivers.barcode.rcn import GERMAN_RULES, RcnKind, RcnRule, rules_from_mapping

__all__ = [
    "GERMAN_RULES",
    "AimPrefix",
    "Barcode",
    "BarcodeError",
    "InvalidBarcode",
    "RcnKind",
    "RcnRule",
    "expand_upce",
    "make_gtin",
    "parse",
    "rules_from_mapping",
    "split_aim",
]
