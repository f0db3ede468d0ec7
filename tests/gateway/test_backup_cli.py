"""Tests for the ``storegw backup`` / ``storegw restore`` sub-commands via ``add_parser``."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway import backup_cli
from gateway.backup import BackupInfo


def run(argv: list[str], **hooks: Any) -> int:
    """Parse like ``storegw`` does (global --data-dir, then the sub-command) and dispatch."""
    parser = argparse.ArgumentParser(prog="storegw")
    parser.add_argument("--data-dir", default="/var/lib/storegw")
    backup_cli.add_parser(parser.add_subparsers(dest="command", required=True), **hooks)
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    conn = sqlite3.connect(tmp_path / "ledger.db")
    conn.executescript("CREATE TABLE journal (seq INTEGER PRIMARY KEY); INSERT INTO journal VALUES (1), (2);")
    conn.commit()
    conn.close()
    return tmp_path


def test_backup_list_and_restore(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "usb"
    assert run(["--data-dir", str(data_dir), "backup", "--dest", str(dest), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["row_counts"] == {"journal": 2}
    assert run(["--data-dir", str(data_dir), "backup", "--dest", str(dest), "--list"]) == 0
    assert capsys.readouterr().out.strip() == doc["path"]

    new_box = tmp_path / "newbox"
    assert run(["--data-dir", str(new_box), "restore", doc["path"]]) == 0
    assert "restored" in capsys.readouterr().out
    assert sqlite3.connect(new_box / "ledger.db").execute("SELECT count(*) FROM journal").fetchone() == (2,)


def test_require_mount_refuses_a_plain_directory(data_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "not-a-stick"
    dest.mkdir()
    assert run(["--data-dir", str(data_dir), "backup", "--dest", str(dest), "--require-mount"]) == 1
    assert "not a mount point" in capsys.readouterr().err
    assert list(dest.iterdir()) == []


def test_hooks_reach_the_library(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def reject(path: Path) -> bool:
        return False

    assert run(["--data-dir", str(data_dir), "backup", "--dest", str(tmp_path / "a")], verify=reject) == 1
    assert "verifier rejected" in capsys.readouterr().err

    def broken_upload(info: BackupInfo) -> None:
        raise TimeoutError("no route to HQ")

    assert run(["--data-dir", str(data_dir), "backup", "--dest", str(tmp_path / "b")], upload=broken_upload) == 3
    assert "no route to HQ" in capsys.readouterr().err


def test_keep_must_be_positive(data_dir: Path) -> None:
    with pytest.raises(SystemExit):
        run(["--data-dir", str(data_dir), "backup", "--keep", "0"])


def test_restore_of_missing_file_fails_cleanly(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--data-dir", str(data_dir), "restore", str(data_dir / "ledger-x.db")]) == 1
    assert "does not exist" in capsys.readouterr().err
