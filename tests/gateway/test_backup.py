"""Tests for gateway.backup: online backup under load, verification, retention and restore."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.backup import (
    BackupInfo,
    BackupSourceMissing,
    BackupVerificationError,
    LedgerInUse,
    backup_ledger,
    list_backups,
    manifest_path,
    restore_ledger,
    verify_backup,
)

GENESIS = "0" * 64


def make_ledger(path: Path, rows: int = 0) -> None:
    """A small ledger: a hash-chained journal plus a projection, in WAL mode like the gateway."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, prev_hash TEXT NOT NULL,"
        " hash TEXT NOT NULL);"
        "CREATE TABLE sales (id INTEGER PRIMARY KEY, total_cents INTEGER NOT NULL);"
    )
    for _ in range(rows):
        append_sale(conn)
    conn.close()


def append_sale(conn: sqlite3.Connection) -> None:
    """One sale: journal entry and projection row in the same transaction."""
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
    body = f"sale {seq} " + "x" * 200
    conn.execute("INSERT INTO journal VALUES (?, ?, ?, ?)",
                 (seq, body, prev, hashlib.sha256((prev + body).encode()).hexdigest()))
    conn.execute("INSERT INTO sales (id, total_cents) VALUES (?, ?)", (seq, 199 * seq))
    conn.execute("COMMIT")


def verify_chain(path: Path) -> bool:
    """Stand-in for the journal hash-chain verifier: every link and the projection agree."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        prev = GENESIS
        for seq, body, prev_hash, digest in conn.execute("SELECT * FROM journal ORDER BY seq"):
            if prev_hash != prev or hashlib.sha256((prev + body).encode()).hexdigest() != digest:
                raise ValueError(f"chain broken at seq {seq}")
            prev = digest
        journal, sales = conn.execute("SELECT (SELECT count(*) FROM journal), (SELECT count(*) FROM sales)").fetchone()
        return bool(journal == sales)
    finally:
        conn.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "ledger.db"
    path.parent.mkdir()
    make_ledger(path, rows=50)
    return path


def clock(start: datetime) -> Iterator[datetime]:
    t = start
    while True:
        yield t
        t += timedelta(minutes=1)


def test_backup_while_sales_are_written_restores_to_a_verifying_ledger(ledger: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        conn = sqlite3.connect(ledger, isolation_level=None, timeout=10)
        try:
            while not stop.is_set():
                append_sale(conn)
                written[0] += 1
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while written[0] < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        before = written[0]
        info = backup_ledger(ledger, tmp_path / "usb", keep=3, verify=verify_chain)
        deadline = time.monotonic() + 10
        while written[0] < before + 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert written[0] >= before + 20, "the writer was blocked by the backup"
    assert info.row_counts["journal"] == info.row_counts["sales"] >= 50 + before
    assert list_backups(tmp_path / "usb") == [info.path]
    assert not list((tmp_path / "usb").glob("*-wal"))

    target = tmp_path / "newbox" / "ledger.db"
    result = restore_ledger(info.path, target, verify=verify_chain)
    assert result.replaced is None
    assert result.row_counts == info.row_counts
    assert verify_chain(target)


def test_backup_of_missing_ledger_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(BackupSourceMissing):
        backup_ledger(tmp_path / "nope.db", tmp_path / "usb")
    assert not (tmp_path / "nope.db").exists()


def test_manifest_catches_a_bit_flip_on_the_medium(ledger: Path, tmp_path: Path) -> None:
    info = backup_ledger(ledger, tmp_path / "usb")
    assert verify_backup(info.path) == info.row_counts
    data = bytearray(info.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    info.path.write_bytes(bytes(data))
    with pytest.raises(BackupVerificationError, match="SHA-256"):
        verify_backup(info.path)


@pytest.mark.parametrize("manifest", ['{"sha256": "ab', "{}", "[1, 2]", '{"sha256": "x", "row_counts": {"journal": "many"}}'])
def test_damaged_manifest_is_a_verification_error(ledger: Path, tmp_path: Path, manifest: str) -> None:
    from gateway.backup import manifest_path

    info = backup_ledger(ledger, tmp_path / "usb")
    manifest_path(info.path).write_text(manifest)
    with pytest.raises(BackupVerificationError, match=r"manifest .* is unreadable"):
        verify_backup(info.path)


def test_integrity_check_catches_a_corrupt_page_without_manifest(ledger: Path, tmp_path: Path) -> None:
    info = backup_ledger(ledger, tmp_path / "usb")
    manifest_path(info.path).unlink()
    page = sqlite3.connect(info.path).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(info.path.read_bytes())
    assert len(data) >= 4 * page
    data[2 * page : 3 * page] = os.urandom(page)
    info.path.write_bytes(bytes(data))
    with pytest.raises(BackupVerificationError) as caught:
        verify_backup(info.path)
    assert caught.value.path == info.path


def test_verifier_rejection_leaves_no_backup_behind(ledger: Path, tmp_path: Path) -> None:
    def reject(path: Path) -> None:
        raise ValueError("chain broken at seq 7")

    with pytest.raises(BackupVerificationError, match="seq 7"):
        backup_ledger(ledger, tmp_path / "usb", verify=reject)
    assert list((tmp_path / "usb").iterdir()) == []


def test_retention_keeps_the_newest(ledger: Path, tmp_path: Path) -> None:
    ticks = clock(datetime(2026, 12, 4, 2, 30, tzinfo=UTC))
    infos = [backup_ledger(ledger, tmp_path / "usb", keep=3, now=lambda: next(ticks)) for _ in range(5)]
    assert list_backups(tmp_path / "usb") == [i.path for i in infos[2:]]
    assert infos[-1].removed == (infos[1].path,)
    assert sorted(p.name for p in (tmp_path / "usb").glob("*.json")) == [manifest_path(i.path).name for i in infos[2:]]
    with pytest.raises(ValueError):
        backup_ledger(ledger, tmp_path / "usb", keep=0)


def test_upload_hook_failure_keeps_the_local_backup(ledger: Path, tmp_path: Path) -> None:
    uploaded: list[BackupInfo] = []
    ok = backup_ledger(ledger, tmp_path / "usb", upload=uploaded.append)
    assert uploaded == [ok] and ok.upload_error is None

    def broken(info: BackupInfo) -> None:
        raise ConnectionError("hq unreachable")

    failed = backup_ledger(ledger, tmp_path / "usb2", upload=broken)
    assert failed.upload_error == "ConnectionError: hq unreachable"
    assert failed.path.exists()


HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT count(*) FROM journal").fetchone()
print("open", flush=True)
time.sleep(30)
"""


def test_restore_refuses_over_a_running_ledger_unless_forced(ledger: Path, tmp_path: Path) -> None:
    info = backup_ledger(ledger, tmp_path / "usb")
    conn = sqlite3.connect(ledger, isolation_level=None)
    append_sale(conn)  # the live ledger moves on after the backup
    conn.close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(ledger)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        with pytest.raises(LedgerInUse) as caught:
            restore_ledger(info.path, ledger)
        assert caught.value.pids == [holder.pid]
        assert sqlite3.connect(ledger).execute("SELECT count(*) FROM journal").fetchone()[0] == 51
    finally:
        holder.kill()
        holder.wait(timeout=10)
    result = restore_ledger(info.path, ledger)
    assert result.replaced is not None
    assert sqlite3.connect(ledger).execute("SELECT count(*) FROM journal").fetchone()[0] == 50
    # The replaced ledger keeps the sale written after the backup.
    assert sqlite3.connect(result.replaced).execute("SELECT count(*) FROM journal").fetchone()[0] == 51


def test_forced_restore_ignores_the_holder(ledger: Path, tmp_path: Path) -> None:
    info = backup_ledger(ledger, tmp_path / "usb")
    result = restore_ledger(info.path, ledger, force=True, in_use=lambda p: [4242])
    assert result.replaced is not None and result.replaced.exists()


def test_restore_refuses_a_corrupt_backup_and_keeps_the_ledger(ledger: Path, tmp_path: Path) -> None:
    info = backup_ledger(ledger, tmp_path / "usb")
    info.path.write_bytes(b"not a database" * 100)
    before = ledger.read_bytes()
    with pytest.raises(BackupVerificationError):
        restore_ledger(info.path, ledger, in_use=lambda p: [])
    assert ledger.read_bytes() == before
    assert [p.name for p in ledger.parent.iterdir() if "restoring" in p.name] == []
