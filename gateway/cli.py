"""``storegw`` command line: run the daemon or the demo, and the technician's and admin's sub-commands.

Global options (``--config``, ``--data-dir``) work with every sub-command. Components add their
sub-commands through an ``add_parser(subparsers)`` function listed in :data:`PLUGINS`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.config import DEFAULT_CONFIG_PATH, Config, LogConfig, load_config, render_docs
from gateway.errors import ConfigError, GatewayError

# Modules with an ``add_parser(subparsers)``; a module that is not installed is skipped.
PLUGINS: list[str] = [
    "gateway.devices.cli", "gateway.tools_cli", "gateway.hq.cli", "gateway.mirror.cli", "gateway.ops_cli", "gateway.fiscal.cli",
    "gateway.omni.customers",
]

log = logging.getLogger("storegw")


def default_data_dir() -> Path:
    """``$STATE_DIRECTORY`` under systemd, else /var/lib/storegw."""
    return Path(os.environ.get("STATE_DIRECTORY", "/var/lib/storegw").split(":")[0])


def load_args_config(args: argparse.Namespace) -> Config:
    """The config named by ``--config``; the default path may be absent (embedded defaults)."""
    from gateway.components import import_sections

    import_sections()
    path = args.config
    if path is None:
        if DEFAULT_CONFIG_PATH.exists():
            return load_config(DEFAULT_CONFIG_PATH)
        return Config({})
    return load_config(path)


def data_dir(args: argparse.Namespace, fallback: Path | None = None) -> Path:
    """``--data-dir`` or the command's default."""
    return Path(args.data_dir) if args.data_dir else (fallback or default_data_dir())


def open_gateway(args: argparse.Namespace, fallback: Path | None = None) -> Any:
    """A gateway with its ledger open, for offline sub-commands."""
    from gateway.app import Gateway

    gw = Gateway(load_args_config(args), data_dir(args, fallback))
    gw.open()
    return gw


def setup_logging(level: str = "INFO") -> None:
    """Plain logging to stderr (journald adds time and unit)."""
    logging.basicConfig(level=getattr(logging, level, logging.INFO), format="%(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------------------- commands


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file."""
    from gateway.components import import_sections

    import_sections()
    path = args.file or args.config or str(DEFAULT_CONFIG_PATH)
    load_config(path)
    print(f"{path}: ok")
    return 0


def cmd_config_doc(args: argparse.Namespace) -> int:
    """Print the configuration reference."""
    from gateway.components import import_sections

    import_sections()
    print(render_docs())
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    """verify / stats / rebuild."""
    gw = open_gateway(args)
    try:
        if args.action == "verify":
            result = gw.ledger.verify()
            print(json.dumps(result.to_dict()))
            if not result.ok:
                print(f"ledger verification FAILED at seq {result.first_bad_seq}: {result.reason}", file=sys.stderr)
                return 1
            return 0
        if args.action == "stats":
            print(json.dumps(gw.ledger.stats(), indent=2))
            return 0
        n = gw.ledger.rebuild()
        print(json.dumps({"rebuilt": n}))
        return 0
    finally:
        gw.ledger.close()


def cmd_catalog_import(args: argparse.Namespace) -> int:
    """Import products from CSV or JSON."""
    gw = open_gateway(args)
    try:
        result = gw.catalog.import_file(Path(args.file), dry_run=args.dry_run)
    finally:
        gw.ledger.close()
    for line, err in result.errors:
        print(f"{args.file}:{line}: {err}", file=sys.stderr)
    print(json.dumps(result.to_dict() | {"errors": len(result.errors)}))
    return 2 if result.errors else 0


def cmd_clients(args: argparse.Namespace) -> int:
    """add / list / revoke API clients."""
    gw = open_gateway(args)
    try:
        if args.action == "add":
            token = gw.clients.add(args.name, args.role)
            for hook in CLIENT_HOOKS:
                hook(gw, args.name, args.role, token)
            print(f"client {args.name} ({args.role}) created; its token (shown only now, also its MQTT password):")
            print(token)
        elif args.action == "list":
            for c in gw.clients.list():
                print(f"{c['name']}\t{c['role']}\t{c['created']}\t{'revoked ' + c['revoked'] if c['revoked'] else 'active'}")
        else:
            gw.clients.revoke(args.name)
            for hook in CLIENT_HOOKS:
                hook(gw, args.name, None, None)
            print(f"client {args.name} revoked")
        return 0
    finally:
        gw.ledger.close()


def _mqtt_hook(gw: Any, name: str, role: str | None, token: str | None) -> None:
    from gateway.mqtt_clients import on_client_change

    on_client_change(gw, name, role, token)


CLIENT_HOOKS: list[Callable[[Any, str, str | None, str | None], None]] = [_mqtt_hook]


def cmd_report(args: argparse.Namespace) -> int:
    """Print the X report."""
    from gateway.pos.reports import x_report

    gw = open_gateway(args)
    try:
        print(json.dumps(x_report(gw.ledger), indent=2, ensure_ascii=False))
        return 0
    finally:
        gw.ledger.close()


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    from gateway.app import Gateway
    from gateway.components import add_components

    config = load_args_config(args)
    setup_logging(config.get(LogConfig).level)
    gw = Gateway(config, data_dir(args))
    add_components(gw, args)
    return asyncio.run(_serve(gw, args.host, args.http_port))


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the gateway on embedded defaults with the sample shop and simulated devices."""
    from gateway.app import Gateway
    from gateway.components import add_components, demo_config, prepare_demo

    setup_logging("INFO")
    config = demo_config(load_args_config(args) if args.config else Config({}, "<demo defaults>"))
    gw = Gateway(config, data_dir(args, Path.cwd() / "demo-data"), demo=True)
    add_components(gw, args)  # before the ledger opens: components register projections and migrations
    token = prepare_demo(gw)
    host = args.host or "127.0.0.1"

    async def banner() -> None:
        print(f"storegw demo running: status page http://{host}:{gw.http_port}/", flush=True)
        print(f"demo token (admin): {token}", flush=True)
        print(f"try: curl -H 'Authorization: Bearer {token}' 'http://{host}:{gw.http_port}/api/v1/products?q=milch'", flush=True)

    return asyncio.run(_serve(gw, host, args.http_port if args.http_port is not None else 8080, banner))


async def _serve(gw: Any, host: str | None, port: int | None, on_ready: Callable[[], Any] | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await gw.start(host, port)
    if on_ready:
        await on_ready()
    try:
        await stop.wait()
    finally:
        await gw.stop()
    return 0


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    p = argparse.ArgumentParser(prog="storegw", description="Store gateway: POS devices, ledger, HTTP/MQTT API, HQ link.")
    p.add_argument("--version", action="version", version=f"storegw {__version__}")
    p.add_argument("--config", metavar="FILE", help=f"config file (default {DEFAULT_CONFIG_PATH}, embedded defaults if absent)")
    p.add_argument("--data-dir", metavar="DIR", help="data directory; the ledger is DIR/ledger.db (default /var/lib/storegw)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run the gateway daemon")
    r.add_argument("--host", help="override [http] host")
    r.add_argument("--http-port", type=int, help="override [http] port")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="run on embedded defaults: sample shop, simulated devices, software TSE")
    d.add_argument("--http-port", type=int, default=None, help="HTTP port (default 8080)")
    d.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    d.add_argument("--mqtt-url", default=None, help="MQTT broker, mqtt://HOST:PORT (default: no broker)")
    d.add_argument("--hq-url", default=None, help="NATS server of HQ, nats://HOST:PORT (default: no HQ link)")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("check-config", help="validate a config file")
    c.add_argument("file", nargs="?", help="config file (default: --config or the default path)")
    c.set_defaults(func=cmd_check_config)

    cd = sub.add_parser("config-doc", help="print the configuration reference (Markdown)")
    cd.set_defaults(func=cmd_config_doc)

    lg = sub.add_parser("ledger", help="verify, inspect or rebuild the ledger")
    lg.add_argument("action", choices=["verify", "stats", "rebuild"])
    lg.set_defaults(func=cmd_ledger)

    cat = sub.add_parser("catalog", help="catalog maintenance")
    catsub = cat.add_subparsers(dest="catalog_cmd", required=True)
    imp = catsub.add_parser("import", help="import products from CSV or JSON")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="validate only")
    imp.set_defaults(func=cmd_catalog_import)

    cl = sub.add_parser("clients", help="API/MQTT client credentials")
    clsub = cl.add_subparsers(dest="action", required=True)
    add = clsub.add_parser("add", help="create a client; prints its token as the last line")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["cashier", "manager", "technician", "admin"])
    clsub.add_parser("list", help="list clients")
    rv = clsub.add_parser("revoke", help="revoke a client")
    rv.add_argument("name")
    cl.set_defaults(func=cmd_clients)

    rep = sub.add_parser("report", help="reports")
    rep.add_argument("kind", choices=["x"])
    rep.set_defaults(func=cmd_report)

    for mod in PLUGINS:
        try:
            module = importlib.import_module(mod)
        except ImportError as err:  # an optional component missing its library
            log.debug("CLI plugin %s unavailable: %s", mod, err)
            continue
        module.add_parser(sub)
    return p


def _passthrough(argv: list[str]) -> int | None:
    """``storegw barcode …`` / ``storegw escpos …`` go straight to the driver's own command line."""
    from gateway.tools_cli import PASSTHROUGH

    i = 0
    while i < len(argv):
        a = argv[i]
        if a in PASSTHROUGH:
            return int(PASSTHROUGH[a](argv[i + 1:]))
        if a in ("--config", "--data-dir"):
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``storegw`` console script."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    direct = _passthrough(args_list)
    if direct is not None:
        return direct
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        fn = getattr(args, "func", None) or args.handler
        return int(fn(args) or 0)
    except ConfigError as err:
        print(f"storegw: configuration error: {err.detail}", file=sys.stderr)
        return 78  # EX_CONFIG
    except GatewayError as err:
        print(f"storegw: {err.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
