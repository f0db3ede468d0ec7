"""Technician sub-commands that front the driver libraries: ``storegw barcode …`` and ``storegw zvt …``."""

from __future__ import annotations

import argparse
from typing import Any


def _barcode(args: argparse.Namespace) -> int:
    from drivers.barcode.cli import main

    return main(list(args.rest))


def _zvt(args: argparse.Namespace) -> int:
    from drivers.zvt.cli import run

    return run(args)


def add_parser(sub: Any) -> None:
    """Register ``barcode`` and ``zvt``."""
    from drivers.zvt.cli import build_parser

    b = sub.add_parser("barcode", help="decode barcodes: storegw barcode parse CODE", add_help=False)
    b.add_argument("rest", nargs=argparse.REMAINDER)
    b.set_defaults(func=_barcode)
    z = sub.add_parser("zvt", help="ZVT card terminal tools: decode, encode, frame, unframe, trace, diag")
    build_parser(z)
    z.set_defaults(func=_zvt)
