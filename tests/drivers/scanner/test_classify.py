"""Scanner vs keyboard classification."""

from __future__ import annotations

from drivers.scanner import classify_input_device, typing_looks_scanned


def test_override_wins_over_everything() -> None:
    c = classify_input_device("Honeywell Scanner", 0x0C2E, 0x0B81, overrides={"0c2e:0b81": "keyboard"})
    assert (c.kind, c.reason) == ("keyboard", "configuration entry for 0c2e:0b81")


def test_catalogue_by_usb_id() -> None:
    c = classify_input_device("USB Keyboard", 0x1A86, 0xE026, catalogue={"1a86:e026": "scanner"})
    assert c.kind == "scanner" and "catalogue" in c.reason


def test_scanner_vendor_and_name() -> None:
    assert classify_input_device("Generic", 0x05E0, 0x1200).kind == "scanner"
    assert classify_input_device("SM SM-2D PRODUCT HID KBW Barcode Reader", 0x1234, 0x5678).kind == "scanner"


def test_unknown_is_keyboard() -> None:
    c = classify_input_device("Logitech USB Keyboard", 0x046D, 0xC31C)
    assert c.kind == "keyboard"


def test_timing_hint() -> None:
    assert typing_looks_scanned([i * 0.002 for i in range(13)])
    assert not typing_looks_scanned([i * 0.15 for i in range(13)])
    assert not typing_looks_scanned([0.0, 0.001])
