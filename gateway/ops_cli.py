"""Mounts the operations commands: ``storegw backup`` / ``restore`` (with the journal hash-chain check) and ``update``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from gateway.ledger.journal import verify_rows


def verify_journal(db: Path) -> bool:
    """Backup verifier: the copied journal's hash chain is intact."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT seq, ts, type, aggregate, payload, prev_hash, hash FROM journal ORDER BY seq")
        result = verify_rows(rows)
    finally:
        conn.close()
    if not result.ok:
        raise ValueError(f"journal hash chain broken at seq {result.first_bad_seq}: {result.reason}")
    return True


def add_parser(sub: Any) -> None:
    """Register ``backup``, ``restore`` and ``update``."""
    from gateway import backup_cli, update_cli

    backup_cli.add_parser(sub, verify=verify_journal)
    update_cli.add_parser(sub)
