"""Exception types of the scanner drivers: one root, subclasses carry data and match builtins."""

from __future__ import annotations


class ScannerError(Exception):
    """Root of every error raised by :mod:`drivers.scanner`."""


class ScanDecodeError(ScannerError, ValueError):
    """Input that cannot become a scan (unknown key, overlong code); ``detail`` says which."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
