"""``storegw barcode parse CODE``: print a barcode's decoded JSON; non-zero exit for a bad code.

Exit codes: 0 readable with valid check digits (or none to check), 1 readable but a check
digit is wrong (JSON still printed), 2 unreadable (reason on stderr) or usage error.
Because GS (0x1D) is hard to type, ``<GS>``, ``{GS}`` and the four characters ``\\x1d`` in
CODE are read as the separator.
"""

from __future__ import annotations

import argparse
import json
import sys

from drivers.barcode.errors import InvalidBarcode
from drivers.barcode.model import parse


def _unescape(code: str) -> str:
    for token in ("<GS>", "{GS}", "\\x1d", "\\x1D"):
        code = code.replace(token, "\x1d")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the barcode command line; ``argv`` excludes the program name (``["parse", CODE]``)."""
    ap = argparse.ArgumentParser(prog="storegw barcode", description="Decode barcodes as a scanner sends them.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parse", help="decode one code and print JSON")
    p.add_argument("code", help="scanner text, optionally with an AIM prefix like ]E0 or ]C1")
    p.add_argument("--upce", action="store_true", help="read a bare 8-digit code as UPC-E")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and 2
    try:
        bc = parse(_unescape(args.code), upce=args.upce)
    except InvalidBarcode as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return 2
    print(json.dumps(bc.to_json(), indent=2, ensure_ascii=False))
    if bc.check_digits_valid is False:
        print(f"error: {'; '.join(bc.problems)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
