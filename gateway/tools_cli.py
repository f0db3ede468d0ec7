"""Technician sub-commands that front the driver libraries: ``storegw barcode``, ``zvt`` and ``escpos``."""

from __future__ import annotations

import argparse
from typing import Any


def _barcode(args: argparse.Namespace) -> int:
    from drivers.barcode.cli import main

    return main(list(args.rest))


def _zvt(args: argparse.Namespace) -> int:
    from drivers.zvt.cli import run

    return run(args)


def _escpos(args: argparse.Namespace) -> int:
    from drivers.printer.render import main

    return main(list(args.rest))


def add_parser(sub: Any) -> None:
    """Register ``barcode``, ``zvt`` and ``escpos``."""
    from drivers.zvt.cli import build_parser

    b = sub.add_parser("barcode", help="decode barcodes: storegw barcode parse CODE", add_help=False)
    b.add_argument("rest", nargs=argparse.REMAINDER)
    b.set_defaults(func=_barcode)
    z = sub.add_parser("zvt", help="ZVT card terminal tools: decode, encode, frame, unframe, trace, diag")
    build_parser(z)
    z.set_defaults(func=_zvt)
    e = sub.add_parser("escpos", help="render ESC/POS bytes: storegw escpos render FILE [--png OUT]", add_help=False)
    e.add_argument("rest", nargs=argparse.REMAINDER)
    e.set_defaults(func=_escpos)
