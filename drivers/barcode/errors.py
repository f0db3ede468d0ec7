"""Exception types of the barcode library: one root, subclasses carry the offending code."""

from __future__ import annotations


class BarcodeError(Exception):
    """Root of every error raised by :mod:`drivers.barcode`."""


class InvalidBarcode(BarcodeError, ValueError):
    """The text cannot be read as any supported barcode; ``reason`` says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{reason}: {code!r}")
        self.code = code
        self.reason = reason
