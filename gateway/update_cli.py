"""The ``storegw update`` sub-commands: install, switch, rollback, status, prune.

``add_parser(subparsers)`` registers ``update`` on the ``storegw`` argument parser and sets
``args.handler`` to a function taking the parsed namespace (with the global ``--config``) and
returning the exit code. The health URL defaults to ``/healthz`` on the ``[http]`` port of the
gateway's config file.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tomllib
from dataclasses import asdict
from pathlib import Path

from gateway.update import (
    DEFAULT_RESTART,
    DEFAULT_ROOT,
    HealthPolicy,
    Releases,
    UpdateError,
    run_command,
)

DEFAULT_CONFIG = Path("/etc/storegw/gateway.toml")
EXIT_OK, EXIT_FAILED, EXIT_ROLLED_BACK = 0, 1, 2


def health_url(config_file: Path) -> str:
    """``/healthz`` on loopback at the ``[http] port`` of the config file (8080 when unset)."""
    port = 8080
    try:
        http = tomllib.loads(config_file.read_text()).get("http", {})
        port = int(http.get("port", port))
    except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError):
        pass  # a broken config is reported by the gateway itself; probe the default port
    return f"http://127.0.0.1:{port}/healthz"


def releases_from_args(args: argparse.Namespace) -> Releases:
    """The release root and health policy the command line asks for."""
    config = Path(getattr(args, "config", None) or DEFAULT_CONFIG)
    policy = HealthPolicy(url=args.health_url or health_url(config), timeout_s=args.health_timeout)
    return Releases(args.root, restart=run_command(tuple(shlex.split(args.restart_command))), health=policy)


def run_update(args: argparse.Namespace) -> int:
    """Dispatch ``storegw update <action>``."""
    releases = releases_from_args(args)
    try:
        if args.action == "status":
            status = releases.status()
            if args.json:
                print(json.dumps(asdict(status), indent=2))
            else:
                print(f"current:   {status.current or '-'}\nprevious:  {status.previous or '-'}\n"
                      f"installed: {' '.join(status.installed) or '-'}")
        elif args.action == "install":
            version = releases.install(args.source, version=args.version)
            print(f"installed {version} under {releases.releases / version}")
            if args.activate:
                releases.switch(version)
                print(f"switched to {version}; healthy")
        elif args.action == "switch":
            before = releases.switch(args.version)
            print(f"switched from {before or '-'} to {args.version}; healthy")
        elif args.action == "rollback":
            print(f"rolled back to {releases.rollback()}; healthy")
        elif args.action == "prune":
            print("removed: " + (" ".join(releases.prune(args.keep)) or "-"))
    except UpdateError as err:
        print(f"storegw update: {err}", file=sys.stderr)
        return EXIT_ROLLED_BACK if getattr(err, "rolled_back_to", None) else EXIT_FAILED
    except OSError as err:
        print(f"storegw update: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``update`` with its actions."""
    update = subparsers.add_parser("update", help="install, switch and roll back gateway releases")
    update.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"release root (default {DEFAULT_ROOT})")
    update.add_argument("--health-url", help="health endpoint (default: /healthz on the configured HTTP port)")
    update.add_argument("--health-timeout", type=float, default=90.0, help="seconds to become healthy (default 90)")
    update.add_argument("--restart-command", default=shlex.join(DEFAULT_RESTART),
                        help="command that restarts the gateway (default: %(default)s)")
    update.set_defaults(handler=run_update)
    actions = update.add_subparsers(dest="action", required=True)
    install = actions.add_parser("install", help="install a release beside the running one")
    install.add_argument("source", type=Path, help="storegw wheel, wheelhouse directory or built release tree")
    install.add_argument("--version", help="release version (default: from the wheel name or directory)")
    install.add_argument("--activate", action="store_true", help="switch to it right after installing")
    switch = actions.add_parser("switch", help="switch to an installed release, roll back if unhealthy")
    switch.add_argument("version")
    actions.add_parser("rollback", help="switch back to the previous release")
    status = actions.add_parser("status", help="show current, previous and installed releases")
    status.add_argument("--json", action="store_true")
    prune = actions.add_parser("prune", help="delete old releases, keeping current and previous")
    prune.add_argument("--keep", type=int, default=3)
