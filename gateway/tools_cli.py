"""Technician sub-commands that front the driver libraries: ``storegw barcode``, ``zvt`` and ``escpos``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _zvt(args: argparse.Namespace) -> int:
    from drivers.zvt.cli import run

    return run(args)


def _barcode_main(argv: list[str]) -> int:
    from drivers.barcode.cli import main

    return main(argv)


def _escpos_main(argv: list[str]) -> int:
    from drivers.printer.render import main

    if not argv or argv[0] != "render":
        if argv and argv[0] in ("-h", "--help"):
            argv = ["--help"]
        else:
            print("usage: storegw escpos render FILE [--png OUT] [--columns N] [--width PX]", file=sys.stderr)
            return 2
    else:
        argv = argv[1:]
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's --help and usage errors
        return int(exc.code or 0)


# Commands whose whole argument list belongs to a driver's own command line.
PASSTHROUGH = {"barcode": _barcode_main, "escpos": _escpos_main}


def add_parser(sub: Any) -> None:
    """Register ``barcode``, ``zvt`` and ``escpos``."""
    from drivers.zvt.cli import build_parser

    # barcode and escpos never reach this parser (gateway.cli hands them over first); they are
    # registered for the command list in ``storegw --help`` only.
    b = sub.add_parser("barcode", help="decode barcodes: storegw barcode parse CODE", add_help=False)
    b.add_argument("rest", nargs=argparse.REMAINDER)
    b.set_defaults(func=lambda a: PASSTHROUGH["barcode"](list(a.rest)))
    z = sub.add_parser("zvt", help="ZVT card terminal tools: decode, encode, frame, unframe, trace, diag")
    build_parser(z)
    z.set_defaults(func=_zvt)
    e = sub.add_parser("escpos", help="render ESC/POS bytes: storegw escpos render FILE [--png OUT]", add_help=False)
    e.add_argument("rest", nargs=argparse.REMAINDER)
    e.set_defaults(func=lambda a: PASSTHROUGH["escpos"](list(a.rest)))
