"""``storegw day``, ``storegw export`` and ``storegw archive``: closings, fiscal exports and the GoBD archive.

These run on the ledger directly (like ``storegw ledger``); while the daemon runs, close the day
through ``POST /api/v1/day/close`` instead, so that only one process writes the journal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from drivers.tse import Tse
from gateway.errors import BadRequest


def _open_tse(gw: Any) -> Tse | None:
    from .service import TseConfig
    from .tse_factory import open_tse

    cfg = gw.config.get(TseConfig)
    if not cfg.enabled:
        return None
    return open_tse(cfg.settings(gw.data_dir), gw.config.source)


def _client_id(gw: Any) -> str:
    from .service import TseConfig

    cfg = gw.config.get(TseConfig)
    return cfg.client_id if cfg.enabled else ""


def _with_gateway(args: argparse.Namespace, fn: Any) -> int:
    from gateway.cli import open_gateway

    gw = open_gateway(args)
    try:
        return int(fn(gw))
    finally:
        gw.ledger.close()


async def _with_tse(gw: Any, fn: Any) -> Any:
    tse = _open_tse(gw)
    try:
        return await fn(tse)
    finally:
        if tse is not None:
            await tse.close()


def cmd_day(args: argparse.Namespace) -> int:
    """close / closings."""
    from .closing import close_day, list_closings

    def run(gw: Any) -> int:
        if args.day_cmd == "closings":
            print(json.dumps(list_closings(gw.ledger), indent=2, ensure_ascii=False))
            return 0
        result = asyncio.run(_with_tse(gw, lambda tse: close_day(gw.ledger, gw.config, gw.data_dir, tse=tse,
                                                                  client_id=_client_id(gw), cashier="cli",
                                                                  counted_cash=args.counted_cash)))
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0

    return _with_gateway(args, run)


def _resolve_out(args: argparse.Namespace) -> None:
    args.out = getattr(args, "out_opt", None) or args.out
    if not args.out:
        raise BadRequest("give the output path (positional or --out)")


def cmd_export(args: argparse.Namespace) -> int:
    """dsfinvk / datev / tse."""
    from .closing import export_datev, export_dsfinvk, month_range

    _resolve_out(args)

    def run(gw: Any) -> int:
        if args.export_cmd == "dsfinvk":
            files = export_dsfinvk(gw.ledger, gw.config, date.fromisoformat(args.day_from), date.fromisoformat(args.day_to),
                                   Path(args.out))
            print(json.dumps({"out": args.out, "files": len(files)}))
            return 0
        if args.export_cmd == "datev":
            if args.month:
                day_from, day_to = month_range(args.month)
            elif args.day_from and args.day_to:
                day_from, day_to = date.fromisoformat(args.day_from), date.fromisoformat(args.day_to)
            else:
                print("storegw: give --month or --from and --to", file=sys.stderr)
                return 2
            Path(args.out).write_bytes(export_datev(gw.ledger, gw.config, day_from, day_to))
            print(json.dumps({"out": args.out}))
            return 0

        async def tar(tse: Tse | None) -> bytes | None:
            return None if tse is None else await tse.export_tar()

        data = asyncio.run(_with_tse(gw, tar))
        if data is None:
            print("storegw: no TSE configured ([tse] enabled = false)", file=sys.stderr)
            return 1
        Path(args.out).write_bytes(data)
        print(json.dumps({"out": args.out, "bytes": len(data)}))
        return 0

    return _with_gateway(args, run)


def cmd_archive(args: argparse.Namespace) -> int:
    """verify / export."""
    from .archive import export_archive, verify_bundle, verify_ledger

    if args.archive_cmd == "export":
        _resolve_out(args)

    if args.archive_cmd == "verify" and args.bundle:
        result = verify_bundle(Path(args.bundle))
        print(json.dumps(result, indent=2))
        return _report(result)

    def run(gw: Any) -> int:
        if args.archive_cmd == "verify":
            result = verify_ledger(gw.ledger, gw.data_dir)
            print(json.dumps(result, indent=2))
            return _report(result)
        files = asyncio.run(_with_tse(gw, lambda tse: export_archive(gw.ledger, gw.config, tse, Path(args.out))))
        print(json.dumps({"out": args.out, "files": len(files)}))
        return 0

    return _with_gateway(args, run)


def _report(result: dict[str, Any]) -> int:
    for p in result["problems"]:
        where = f"seq {p['seq']}" if p["seq"] is not None else "archive"
        print(f"{where}: {p['kind']}: {p['detail']}", file=sys.stderr)
    return 0 if result["ok"] else 1


def add_parser(sub: Any) -> None:
    """Register ``day``, ``export`` and ``archive``."""
    d = sub.add_parser("day", help="day closing (Z report)")
    dsub = d.add_subparsers(dest="day_cmd", required=True)
    close = dsub.add_parser("close", help="close the business day: journal the Z report and export the TSE")
    close.add_argument("--counted-cash", type=int, metavar="CENTS", help="cash counted in the drawer (Kassensturz)")
    dsub.add_parser("closings", help="list the day closings")
    d.set_defaults(func=cmd_day)
    cd = sub.add_parser("close-day", help="close the business day (same as `day close`)")
    cd.add_argument("--counted-cash", type=int, metavar="CENTS", help="cash counted in the drawer (Kassensturz)")
    cd.set_defaults(func=cmd_day, day_cmd="close")

    e = sub.add_parser("export", help="fiscal exports (DSFinV-K, DATEV, TSE)")
    esub = e.add_subparsers(dest="export_cmd", required=True)
    ds = esub.add_parser("dsfinvk", help="DSFinV-K export of the closed days in a date range")
    ds.add_argument("--from", dest="day_from", required=True, metavar="DATE")
    ds.add_argument("--to", dest="day_to", required=True, metavar="DATE")
    ds.add_argument("out", nargs="?", metavar="OUT_DIR")
    ds.add_argument("--out", dest="out_opt", metavar="PATH", help="output directory (same as OUT_DIR)")
    dv = esub.add_parser("datev", help="DATEV EXTF Buchungsstapel of the closed days")
    dv.add_argument("--month", metavar="YYYY-MM")
    dv.add_argument("--from", dest="day_from", metavar="DATE")
    dv.add_argument("--to", dest="day_to", metavar="DATE")
    dv.add_argument("out", nargs="?", metavar="OUT_FILE")
    dv.add_argument("--out", dest="out_opt", metavar="FILE", help="output file (same as OUT_FILE)")
    ts = esub.add_parser("tse", help="TAR export of the TSE's log messages")
    ts.add_argument("out", nargs="?", metavar="OUT.tar")
    ts.add_argument("--out", dest="out_opt", metavar="FILE", help="output file (same as OUT.tar)")
    e.set_defaults(func=cmd_export)

    a = sub.add_parser("archive", help="GoBD archive: verify the journal and TSE signatures, export the bundle")
    asub = a.add_subparsers(dest="archive_cmd", required=True)
    v = asub.add_parser("verify", help="verify the hash chain and every TSE signature (or a bundle with --bundle)")
    v.add_argument("--bundle", metavar="DIR", help="verify an exported bundle instead of the ledger")
    x = asub.add_parser("export", help="write the retention bundle")
    x.add_argument("out", nargs="?", metavar="OUT_DIR")
    x.add_argument("--out", dest="out_opt", metavar="DIR", help="output directory (same as OUT_DIR)")
    a.set_defaults(func=cmd_archive)
