"""``storegw mirror status``: the HQ relay's progress and dead letters, read from the ledger file."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from gateway.mirror.relay import CURSOR


def mirror_status(db: Path) -> dict[str, Any]:
    """Backlog, acked cursor, inbound counts and recent dead letters from a ledger database (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        last_seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]
        row = conn.execute("SELECT seq, updated FROM cursors WHERE name=?", (CURSOR,)).fetchone()
        acked, updated = (row[0], row[1]) if row else (0, None)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        applied = dead = 0
        recent: list[dict[str, Any]] = []
        if "hq_inbox" in tables:
            counts = dict(conn.execute("SELECT outcome, COUNT(*) FROM hq_inbox GROUP BY outcome").fetchall())
            applied, dead = counts.get("applied", 0), counts.get("dead", 0)
            recent = [
                {"stream_seq": s, "subject": subj, "reason": r, "received": t}
                for s, subj, r, t in conn.execute(
                    "SELECT stream_seq, subject, reason, received FROM hq_dead_letters ORDER BY stream_seq DESC LIMIT 10"
                )
            ]
    finally:
        conn.close()
    return {
        "last_seq": last_seq,
        "acked_seq": acked,
        "backlog": max(0, last_seq - acked),
        "cursor_updated": updated,
        "inbound_applied": applied,
        "dead_letters": dead,
        "recent_dead_letters": recent,
    }


def _status(args: argparse.Namespace) -> int:
    data_dir = getattr(args, "data_dir", None) or os.environ.get("STATE_DIRECTORY", "/var/lib/storegw").split(":")[0]
    db = Path(args.db) if args.db else Path(data_dir) / "ledger.db"
    if not db.exists():
        print(f"{db}: no ledger")
        return 1
    st = mirror_status(db)
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    print(f"journal last seq   {st['last_seq']}")
    print(f"acked by HQ        {st['acked_seq']} (cursor written {st['cursor_updated'] or 'never'})")
    print(f"backlog            {st['backlog']}")
    print(f"HQ messages        {st['inbound_applied']} applied, {st['dead_letters']} dead letters")
    for d in st["recent_dead_letters"]:
        print(f"  dead {d['stream_seq']} {d['subject']} {d['received']}: {d['reason']}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``mirror`` with ``status`` on the top-level sub-parser set (uses the global ``args.data_dir``)."""
    p = subparsers.add_parser("mirror", help="the store's HQ link")
    sub = p.add_subparsers(dest="mirror_command", required=True)
    s = sub.add_parser("status", help="backlog, acked seq and dead letters from the ledger")
    s.add_argument("--db", help="ledger database (default DATA_DIR/ledger.db)")
    s.add_argument("--json", action="store_true", help="JSON output")
    s.set_defaults(func=_status)
