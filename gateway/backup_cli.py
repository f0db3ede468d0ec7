"""The ``storegw backup`` and ``storegw restore`` sub-commands.

``add_parser(subparsers)`` registers both on the ``storegw`` argument parser; each sets
``args.handler`` to a function taking the parsed namespace (with the global ``--data-dir``)
and returning the process exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from gateway.backup import (
    BackupError,
    BackupInfo,
    BackupSourceMissing,
    Verifier,
    backup_ledger,
    list_backups,
    restore_ledger,
)

DEFAULT_DEST = Path("/srv/storegw-backup")
DEFAULT_DATA_DIR = Path("/var/lib/storegw")
EXIT_OK, EXIT_FAILED, EXIT_UPLOAD_FAILED = 0, 1, 3


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def ledger_path(args: argparse.Namespace) -> Path:
    """The ledger file under the global ``--data-dir``."""
    return Path(getattr(args, "data_dir", None) or DEFAULT_DATA_DIR) / "ledger.db"


def _print(args: argparse.Namespace, doc: Mapping[str, object], text: str) -> None:
    print(json.dumps(doc, indent=2) if args.json else text)


def run_backup(
    args: argparse.Namespace,
    verify: Verifier | None = None,
    upload: Callable[[BackupInfo], None] | None = None,
) -> int:
    """Handle ``storegw backup``: take, verify and prune, or ``--list`` existing backups."""
    dest: Path = args.dest
    if args.list:
        backups = list_backups(dest)
        _print(args, {"backups": [str(p) for p in backups]}, "\n".join(str(p) for p in backups) or "no backups")
        return EXIT_OK
    try:
        if args.require_mount and not os.path.ismount(dest):
            # Without the stick the backup would silently land on the SD card it should protect.
            raise BackupSourceMissing(f"{dest} is not a mount point: is the backup medium plugged in?")
        info = backup_ledger(ledger_path(args), dest, keep=args.keep, verify=verify, upload=upload)
    except (BackupError, OSError) as err:
        print(f"storegw backup: {err}", file=sys.stderr)
        return EXIT_FAILED
    _print(args, info.as_json(), f"backup {info.path} ({info.size} bytes, sha256 {info.sha256}) verified")
    if info.upload_error:
        print(f"storegw backup: upload failed: {info.upload_error}", file=sys.stderr)
        return EXIT_UPLOAD_FAILED
    return EXIT_OK


def run_restore(args: argparse.Namespace, verify: Verifier | None = None) -> int:
    """Handle ``storegw restore BACKUP``: verify the backup and replace the ledger with it."""
    try:
        info = restore_ledger(args.backup_file, ledger_path(args), verify=verify, force=args.force)
    except (BackupError, OSError) as err:
        print(f"storegw restore: {err}", file=sys.stderr)
        return EXIT_FAILED
    doc = {"db_path": str(info.db_path), "source": str(info.source),
           "replaced": str(info.replaced) if info.replaced else None, "row_counts": info.row_counts}
    kept = f"; previous ledger kept as {info.replaced}" if info.replaced else ""
    _print(args, doc, f"restored {info.source} to {info.db_path}{kept}")
    return EXIT_OK


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    verify: Verifier | None = None,
    upload: Callable[[BackupInfo], None] | None = None,
) -> None:
    """Register ``backup`` and ``restore``; ``verify``/``upload`` are the optional hooks."""
    backup = subparsers.add_parser("backup", help="take a verified online backup of the ledger")
    backup.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"backup directory (default {DEFAULT_DEST})")
    backup.add_argument("--keep", type=_at_least_one, default=14, help="how many backups to keep (default 14)")
    backup.add_argument("--require-mount", action="store_true", help="fail unless --dest is a mount point")
    backup.add_argument("--list", action="store_true", help="list the backups in --dest and exit")
    backup.add_argument("--json", action="store_true", help="print the result as JSON")
    backup.set_defaults(handler=partial(run_backup, verify=verify, upload=upload))

    restore = subparsers.add_parser("restore", help="verify a backup and restore the ledger from it")
    restore.add_argument("backup_file", type=Path, help="a ledger-*.db file from a backup directory")
    restore.add_argument("--force", action="store_true", help="restore even if a process has the ledger open")
    restore.add_argument("--json", action="store_true", help="print the result as JSON")
    restore.set_defaults(handler=partial(run_restore, verify=verify))
