"""Online backup, verification, retention and restore of the store's SQLite ledger file.

A backup is taken with SQLite's backup API inside one read transaction on the live ledger, so
sales keep being written (WAL mode) while it runs and the copy is a consistent snapshot. Each
backup ``ledger-<UTC time>.db`` gets a manifest ``ledger-<UTC time>.json`` beside it with the
file's SHA-256 and the row count of every table at the snapshot, so a copy that rotted on the
USB stick is caught before it is restored.

Verification of a backup file: ``PRAGMA integrity_check`` is ``ok``, the row counts equal the
manifest (or the source snapshot), and an optional caller-supplied verifier (for example the
journal hash-chain check) accepts the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.errors import Conflict, GatewayError, NotFound

# A verifier gets the path of a finished backup (or of a file about to be restored) and raises,
# or returns False, when the file is not acceptable.
Verifier = Callable[[Path], object]
PREFIX = "ledger-"
STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


class BackupError(GatewayError):
    """Root of backup and restore failures."""

    type, status, title = "backup-failed", 500, "Backup failed"


class BackupVerificationError(BackupError, ValueError):
    """A backup file failed verification; ``path`` names it and ``reason`` says why."""

    type, title = "backup-verification-failed", "Backup verification failed"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}", path=str(path), reason=reason)
        self.path, self.reason = path, reason


class BackupSourceMissing(BackupError, NotFound):
    """The ledger to back up, the backup to restore, or the backup medium does not exist."""

    type, status, title = "backup-source-missing", 404, "Not found"


class LedgerInUse(BackupError, Conflict):
    """Refused to restore over a ledger that a running process holds open."""

    type, status, title = "ledger-in-use", 409, "Ledger in use"

    def __init__(self, db_path: Path, pids: list[int]) -> None:
        super().__init__(
            f"{db_path} is open in process(es) {', '.join(map(str, pids))}; stop storegw first "
            "or pass force", db_path=str(db_path), pids=pids,
        )
        self.db_path, self.pids = db_path, pids


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """One finished, verified backup."""

    path: Path
    created: datetime
    size: int
    sha256: str
    row_counts: dict[str, int]
    removed: tuple[Path, ...] = ()
    upload_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-able summary for the CLI and the status page."""
        doc = asdict(self)
        doc.update(path=str(self.path), created=self.created.isoformat(), removed=[str(p) for p in self.removed])
        return doc


@dataclass(frozen=True, slots=True)
class RestoreInfo:
    """The outcome of a restore: where the ledger went and where the replaced file was kept."""

    db_path: Path
    source: Path
    replaced: Path | None
    row_counts: dict[str, int] = field(default_factory=dict)


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    """Open without ever creating a file; autocommit so transactions are explicit."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None)


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per user table, in the connection's current snapshot."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )]
    return {n: conn.execute(f'SELECT count(*) FROM "{n.replace(chr(34), chr(34) * 2)}"').fetchone()[0] for n in names}


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def manifest_path(backup_file: Path) -> Path:
    """Where the manifest of a backup file lives."""
    return backup_file.with_suffix(".json")


def verify_backup(
    backup_file: Path, expected_counts: dict[str, int] | None = None, verify: Verifier | None = None
) -> dict[str, int]:
    """Check a backup file and return its row counts.

    Without ``expected_counts`` the counts and checksum come from the manifest, if there is one.

    Raises:
        BackupSourceMissing: the file does not exist.
        BackupVerificationError: checksum, integrity check, row counts or ``verify`` failed.
    """
    if not backup_file.is_file():
        raise BackupSourceMissing(f"backup {backup_file} does not exist")
    if expected_counts is None and manifest_path(backup_file).is_file():
        try:
            manifest = json.loads(manifest_path(backup_file).read_text())
            sha256, expected_counts = str(manifest["sha256"]), {str(k): int(v) for k, v in manifest["row_counts"].items()}
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise BackupVerificationError(backup_file, f"manifest {manifest_path(backup_file).name} is unreadable: "
                                                       f"{type(err).__name__}: {err}") from None
        if file_sha256(backup_file) != sha256:
            raise BackupVerificationError(backup_file, "SHA-256 differs from the manifest")
    try:
        conn = _connect(backup_file, "ro")
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            counts = row_counts(conn) if problems == ["ok"] else {}
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        raise BackupVerificationError(backup_file, f"not a readable SQLite database: {err}") from err
    if problems != ["ok"]:
        raise BackupVerificationError(backup_file, "integrity_check: " + "; ".join(problems[:5]))
    if expected_counts is not None and counts != expected_counts:
        raise BackupVerificationError(backup_file, f"row counts {counts} differ from {expected_counts}")
    if verify is not None:
        try:
            accepted = verify(backup_file)
        except Exception as err:
            raise BackupVerificationError(backup_file, f"verifier rejected it: {err}") from err
        if accepted is False:
            raise BackupVerificationError(backup_file, "verifier rejected it")
    return counts


def list_backups(dest_dir: Path) -> list[Path]:
    """Finished backups in ``dest_dir``, oldest first (names sort by time)."""
    if not dest_dir.is_dir():
        return []
    return sorted(p for p in dest_dir.glob(f"{PREFIX}*.db") if p.is_file())


def prune_backups(dest_dir: Path, keep: int) -> tuple[Path, ...]:
    """Delete all but the newest ``keep`` backups (and leftovers of interrupted runs)."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    for partial in dest_dir.glob(f".{PREFIX}*.partial"):
        partial.unlink(missing_ok=True)
    old = list_backups(dest_dir)[:-keep]
    for path in old:
        path.unlink()
        manifest_path(path).unlink(missing_ok=True)
    return tuple(old)


def backup_ledger(
    db_path: Path,
    dest_dir: Path,
    keep: int = 14,
    verify: Verifier | None = None,
    upload: Callable[[BackupInfo], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupInfo:
    """Take a verified online backup of ``db_path`` into ``dest_dir`` and prune old ones.

    ``upload``, when given, is called with the verified backup (for example to send it to HQ);
    its failure is recorded in ``BackupInfo.upload_error`` and never loses the local copy.

    Raises:
        BackupSourceMissing: ``db_path`` does not exist.
        BackupVerificationError: the fresh copy failed verification (it is deleted).
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    if not db_path.is_file():
        raise BackupSourceMissing(f"ledger {db_path} does not exist")
    dest_dir.mkdir(parents=True, exist_ok=True)
    created = now()
    name = f"{PREFIX}{created.strftime(STAMP_FORMAT)}.db"
    final, partial = dest_dir / name, dest_dir / f".{name}.partial"
    src = _connect(db_path, "rw")
    try:
        src.execute("PRAGMA busy_timeout = 10000")
        # One read transaction: the counts and the copied pages belong to the same snapshot,
        # and in WAL mode writers carry on meanwhile. Copy all pages in one step, because a
        # stepwise copy restarts whenever another connection writes.
        src.execute("BEGIN")
        counts = row_counts(src)
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.backup(dst)
            # A single self-contained file: no -wal/-shm beside it on the stick.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        src.execute("ROLLBACK")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    try:
        verify_backup(partial, expected_counts=counts, verify=verify)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_file(partial)
    digest = file_sha256(partial)
    os.replace(partial, final)
    info = BackupInfo(final, created, final.stat().st_size, digest, counts)
    manifest = manifest_path(final)
    manifest.write_text(json.dumps({
        "sha256": digest, "row_counts": counts, "created": created.isoformat(),
        "source": str(db_path), "size": info.size,
    }, indent=2) + "\n")
    _fsync_file(manifest)
    _fsync_dir(dest_dir)
    info = BackupInfo(final, created, info.size, digest, counts, removed=prune_backups(dest_dir, keep))
    if upload is not None:
        try:
            upload(info)
        except Exception as err:
            info = BackupInfo(info.path, created, info.size, digest, counts, info.removed, f"{type(err).__name__}: {err}")
    return info


def _sidecars(db_path: Path) -> Iterator[tuple[str, Path]]:
    for suffix in ("", "-wal", "-shm", "-journal"):
        yield suffix, db_path.with_name(db_path.name + suffix)


def ledger_users(db_path: Path) -> list[int]:
    """PIDs of other processes holding the ledger or its WAL/SHM open (Linux /proc scan).

    Processes of other users are only visible to root; restore runs as root in the field.
    """
    targets = {str(p.resolve()) for _, p in _sidecars(db_path)}
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in targets for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
    return sorted(pids)


def restore_ledger(
    backup_file: Path,
    db_path: Path,
    verify: Verifier | None = None,
    force: bool = False,
    in_use: Callable[[Path], list[int]] = ledger_users,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RestoreInfo:
    """Verify ``backup_file`` and put it in place as ``db_path``, keeping the replaced file.

    The replaced ledger and its WAL are renamed to ``<name>.replaced-<time>`` (+``-wal``),
    so SQLite still recovers their committed data if they are ever needed.

    Raises:
        LedgerInUse: another process has ``db_path`` open and ``force`` is false.
        BackupVerificationError: the backup or the restored copy failed verification.
        BackupSourceMissing: ``backup_file`` does not exist.
    """
    counts = verify_backup(backup_file, verify=verify)
    pids = in_use(db_path)
    if pids and not force:
        raise LedgerInUse(db_path, pids)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staged = db_path.with_name(f".{db_path.name}.restoring")
    staged.write_bytes(backup_file.read_bytes())
    try:
        verify_backup(staged, expected_counts=counts)
        _fsync_file(staged)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    replaced = None
    if db_path.exists():
        st = db_path.stat()
        replaced = db_path.with_name(f"{db_path.name}.replaced-{now().strftime(STAMP_FORMAT)}")
        for suffix, path in _sidecars(db_path):
            if suffix == "-shm":
                path.unlink(missing_ok=True)  # rebuilt from the WAL on open
            elif path.exists():
                os.replace(path, replaced.with_name(replaced.name + suffix))
        uid, gid, mode = st.st_uid, st.st_gid, st.st_mode & 0o777
    else:
        parent = db_path.parent.stat()
        uid, gid, mode = parent.st_uid, parent.st_gid, 0o640
    staged.chmod(mode)
    if os.geteuid() == 0:
        os.chown(staged, uid, gid)
    os.replace(staged, db_path)
    _fsync_dir(db_path.parent)
    return RestoreInfo(db_path, backup_file, replaced, counts)
