"""Barcode scanners: USB HID keyboard wedges via evdev, serial/CDC scanners via pyserial.

Both deliver :class:`Scan` objects to an ``on_scan`` callback; ``Scan.barcode()`` parses the
code with :mod:`drivers.barcode`. See docs/devices-input.md.
"""

from drivers.scanner.classify import Classification, classify_input_device, typing_looks_scanned, usb_id
from drivers.scanner.errors import ScanDecodeError, ScannerError
from drivers.scanner.hid import HidDecoder, HidScanner, InputDeviceLike
from drivers.scanner.keymaps import DE, US, get_layout
from drivers.scanner.model import Scan, make_scan
from drivers.scanner.serial_scanner import SerialDecoder, SerialScanner

__all__ = [
    "DE",
    "US",
    "Classification",
    "HidDecoder",
    "HidScanner",
    "InputDeviceLike",
    "Scan",
    "ScanDecodeError",
    "ScannerError",
    "SerialDecoder",
    "SerialScanner",
    "classify_input_device",
    "get_layout",
    "make_scan",
    "typing_looks_scanned",
    "usb_id",
]
