"""``storegw devices list``: devices pinned in config and USB devices found in sysfs, with catalogue matches."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cmd_devices_list(args: argparse.Namespace) -> int:
    """Print configured and discovered devices as JSON."""
    from gateway.cli import load_args_config
    from gateway.devices.discovery import catalogue_path, load_catalogue, match, scan_usb
    from gateway.devices.manager import DevicesConfig

    config = load_args_config(args)
    cfg = config.get(DevicesConfig)
    catalogue = load_catalogue(catalogue_path(cfg.catalogue, config.source))
    out: dict[str, Any] = {
        "configured": [{"id": k, **{kk: vv for kk, vv in v.items() if "password" not in kk and "secret" not in kk}}
                       for k, v in cfg.pinned.items()],
        "discovered": match(scan_usb(Path(args.sysfs)), catalogue),
    }
    print(json.dumps(out, indent=2))
    return 0


def add_parser(sub: Any) -> None:
    """Register ``devices``."""
    p = sub.add_parser("devices", help="list configured and discovered devices")
    ds = p.add_subparsers(dest="devices_cmd", required=True)
    ls = ds.add_parser("list", help="configured devices and USB devices present, matched against the catalogue")
    ls.add_argument("--sysfs", default="/sys/bus/usb/devices", help=argparse.SUPPRESS)
    ls.set_defaults(func=cmd_devices_list)
