"""``storegw hq …``: provision, tail, push, report and dead-letters against an HQ NATS server."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js.client import JetStreamContext

from gateway.hq.provision import SERVER_ADVICE, ProvisionSpec, provision
from gateway.hq.tools import (
    dead_letters,
    format_event,
    load_messages,
    push,
    read_stream,
    sales_report,
    to_event,
)
from gateway.mirror.errors import SchemaError


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hq-url", action="append", dest="hq_urls", help="NATS URL of HQ (repeatable; default $STOREGW_HQ_URL or nats://127.0.0.1:4222)")
    p.add_argument("--creds", help="NATS credentials file")
    p.add_argument("--nkey", help="NKey seed file")
    p.add_argument("--ca", help="CA bundle for TLS")


async def _connect(args: argparse.Namespace) -> NATS:
    urls = args.hq_urls or [os.environ.get("STOREGW_HQ_URL", "nats://127.0.0.1:4222")]
    opts: dict[str, Any] = {"servers": urls, "connect_timeout": 5, "allow_reconnect": False, "name": "storegw-hq"}
    if args.ca or any(u.startswith("tls://") for u in urls):
        opts["tls"] = ssl.create_default_context(cafile=args.ca or None)
    if args.creds:
        opts["user_credentials"] = args.creds
    elif args.nkey:
        opts["nkeys_seed"] = args.nkey
    return await nats.connect(**opts)


def _run(args: argparse.Namespace, fn: Callable[[JetStreamContext, argparse.Namespace], Awaitable[int]]) -> int:
    async def main() -> int:
        nc = await _connect(args)
        try:
            return await fn(nc.jetstream(), args)
        finally:
            await nc.close()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130


async def _provision(js: JetStreamContext, args: argparse.Namespace) -> int:
    stores = []
    for s in args.store or []:
        sid, _, zone = s.partition(":")
        stores.append((sid, zone or "default"))
    spec = ProvisionSpec(
        replicas=args.replicas,
        duplicate_window_s=args.duplicate_window_h * 3600,
        events_max_age_days=args.events_max_age_days,
        kv_bucket=args.kv_bucket,
        stores=stores,
    )
    for line in await provision(js, spec):
        print(line)
    if args.replicas == 1:
        print(f"note: replica-1 streams lose acknowledged data on power loss unless the server has {SERVER_ADVICE}")
    return 0


async def _tail(js: JetStreamContext, args: argparse.Namespace) -> int:
    subject = f"store.{args.store}.evt.>" if args.store else args.subject
    n = 0
    async for msg in read_stream(js, subject, start_seq=args.since, follow=args.follow):
        print(format_event(to_event(msg)), flush=True)
        n += 1
        if args.count and n >= args.count:
            break
    return 0


async def _push(js: JetStreamContext, args: argparse.Namespace) -> int:
    target = f"store:{args.store}" if args.store else f"zone:{args.zone}" if args.zone else "all"
    try:
        messages = load_messages(Path(args.file))
    except (SchemaError, ValueError, OSError) as err:
        print(f"{args.file}: {err}", file=sys.stderr)
        return 2
    for subject, seq, dup in await push(js, messages, target):
        print(f"{subject} stream_seq={seq}{' (duplicate, already stored)' if dup else ''}")
    return 0


async def _report(js: JetStreamContext, args: argparse.Namespace) -> int:
    report = await sales_report(js, tz=args.tz)
    if args.json:
        print(json.dumps({"rows": report.table(), "events": report.events, "duplicates": report.duplicates}, indent=2))
        return 0
    print(f"{'day':<10} {'store':<12} {'channel':<10} {'sales':>7} {'voids/ret':>9} {'gross':>14}")
    for r in report.table():
        print(
            f"{r['day']:<10} {r['store']:<12} {r['channel']:<10} {r['sales']:>7} {r['voids_returns']:>9} "
            f"{r['gross_cents'] / 100:>14.2f}"
        )
    if args.products:
        for (day, store, code), v in sorted(report.products.items()):
            print(f"{day:<10} {store:<12} {code:<14} qty={v['qty_milli'] / 1000:g} gross={v['gross_cents'] / 100:.2f}")
    return 0


async def _dead_letters(js: JetStreamContext, args: argparse.Namespace) -> int:
    rows = await dead_letters(js)
    for r in rows:
        print(f"{r['ts']} {r['store']:<10} hq_seq={r['hq_stream_seq']} {r['subject']} {r['type'] or '-'}: {r['reason']}")
    if not rows:
        print("no dead letters")
    return 0


async def _rpc(js: JetStreamContext, args: argparse.Namespace) -> int:
    from gateway.hq.rpc import run_forever

    return await run_forever(js._nc, Path(args.state))


def add_parser(subparsers: Any) -> None:
    """Register ``hq`` and its sub-commands on the top-level ``storegw`` sub-parser set."""
    hq = subparsers.add_parser("hq", help="HQ-side tools for the store link (NATS JetStream)")
    sub = hq.add_subparsers(dest="hq_command", required=True)

    def command(name: str, helptext: str, fn: Callable[[JetStreamContext, argparse.Namespace], Awaitable[int]]) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=helptext)
        _connection_args(p)
        p.set_defaults(func=lambda args: _run(args, fn))
        return p

    p = command("provision", "create/update streams STORE_EVENTS and HQ_TO_STORE, consumers and the config KV", _provision)
    p.add_argument("--replicas", type=int, default=3, help="stream replicas (3 in a cluster, 1 on a single server)")
    p.add_argument("--duplicate-window-h", type=float, default=6.0, help="duplicate window in hours")
    p.add_argument("--events-max-age-days", type=float, default=400.0, help="retention of STORE_EVENTS")
    p.add_argument("--kv-bucket", default="store_config", help="store configuration bucket ('' = none)")
    p.add_argument("--store", action="append", help="pre-create the consumer of store SID[:ZONE] (repeatable)")

    p = command("tail", "print store events from STORE_EVENTS", _tail)
    p.add_argument("--subject", default="store.*.evt.>", help="subject filter")
    p.add_argument("--store", help="only this store")
    p.add_argument("--since", type=int, help="start at this stream sequence")
    p.add_argument("--follow", "-f", action="store_true", help="keep waiting for new events")
    p.add_argument("--count", type=int, default=0, help="stop after this many events")

    p = command("push", "publish HQ messages (JSON object, list, or one per line) to stores", _push)
    p.add_argument("file", help="JSON file")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--store", help="to one store (hq.store.SID.TYPE)")
    target.add_argument("--zone", help="to a zone (hq.zone.ZONE.TYPE)")
    target.add_argument("--all", action="store_true", help="to every store (hq.all.TYPE), the default")

    p = command("report", "consolidated sales per day, store and channel from STORE_EVENTS", _report)
    p.add_argument("--tz", default="Europe/Berlin", help="time zone of the business day")
    p.add_argument("--products", action="store_true", help="also per product (when sales carry lines)")
    p.add_argument("--json", action="store_true", help="JSON output")

    command("dead-letters", "HQ messages that stores could not apply (from their hq.rejected events)", _dead_letters)

    p = command("rpc", "answer the stores' voucher, loyalty and order requests (reference HQ, state in a file)", _rpc)
    p.add_argument("--state", default="hq-state.json", help="JSON state file of vouchers, loyalty and orders")
