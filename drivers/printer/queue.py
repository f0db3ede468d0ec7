"""Print-job queue per receipt printer: idempotent job ids, copies, bounded waiting, persistence.

Rules: a job id prints at most once — submitting a known id again returns the existing job;
a reprint is an explicit new job marked as a copy; a job for a printer that is offline or out
of paper waits up to ``wait_timeout`` seconds and then fails with the reason; a job is never
dropped — every state change is written to a ``JobStore`` before it takes effect, and jobs
still queued after a restart are printed then (jobs caught *while printing* are marked failed,
since part of the slip may already be out, and need an explicit retry).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from drivers.printer.connection import PrinterConnection
from drivers.printer.errors import (
    PrinterNotReady,
    PrinterOffline,
    PrinterStatusError,
    PrinterTimeout,
    PrintJobError,
    UnknownJob,
)

log = logging.getLogger(__name__)


class JobState(StrEnum):
    """Life cycle of a print job."""

    QUEUED = "queued"
    PRINTING = "printing"
    DONE = "done"
    FAILED = "failed"


@dataclass(slots=True)
class PrintJob:
    """One document for one printer. ``data`` are ESC/POS bytes; ``copy_data`` the copy variant."""

    job_id: str
    printer: str
    data: bytes
    copy_data: bytes | None = None
    state: JobState = JobState.QUEUED
    reason: str = ""
    attempts: int = 0
    copy_of: str | None = None
    copies: int = 0
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        """True once the job is done or failed."""
        return self.state in (JobState.DONE, JobState.FAILED)


class JobStore(Protocol):
    """Where print jobs are kept; implementations must persist ``put`` before returning."""

    def get(self, job_id: str) -> PrintJob | None:
        """The job with this id, or ``None``."""

    def put(self, job: PrintJob) -> None:
        """Insert or replace the job."""

    def unfinished(self, printer: str) -> list[PrintJob]:
        """Queued and printing jobs of ``printer``, oldest first."""

    def recent(self, printer: str, limit: int = 20) -> list[PrintJob]:
        """The newest jobs of ``printer``, newest first."""


class MemoryJobStore:
    """Job store in a dict (tests, demo): survives nothing, keeps the same rules."""

    def __init__(self) -> None:
        self._jobs: dict[str, PrintJob] = {}

    def get(self, job_id: str) -> PrintJob | None:
        """The job with this id, or ``None`` (a copy: callers cannot mutate the store)."""
        job = self._jobs.get(job_id)
        return replace(job) if job else None

    def put(self, job: PrintJob) -> None:
        """Insert or replace the job."""
        self._jobs[job.job_id] = replace(job)

    def unfinished(self, printer: str) -> list[PrintJob]:
        """Queued and printing jobs of ``printer``, oldest first."""
        # dict order is insertion order, i.e. submission order (updates keep their place).
        return [replace(j) for j in self._jobs.values() if j.printer == printer and not j.finished]

    def recent(self, printer: str, limit: int = 20) -> list[PrintJob]:
        """The newest jobs of ``printer``, newest first."""
        jobs = [j for j in reversed(self._jobs.values()) if j.printer == printer]
        return [replace(j) for j in jobs[:limit]]


_COLUMNS = (
    "job_id, printer, data, copy_data, state, reason, attempts, copy_of, copies, created_at, updated_at"
)


class SqliteJobStore:
    """Job store in a small SQLite file (WAL, synchronous=FULL: a stored job survives power loss)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS print_jobs ("
            " job_id TEXT PRIMARY KEY, printer TEXT NOT NULL, data BLOB NOT NULL, copy_data BLOB,"
            " state TEXT NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL,"
            " copy_of TEXT, copies INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS print_jobs_printer ON print_jobs (printer)")

    @staticmethod
    def _row(row: tuple[Any, ...]) -> PrintJob:
        (job_id, printer, data, copy_data, state, reason, attempts, copy_of, copies, created, updated) = row
        return PrintJob(
            job_id, printer, bytes(data), bytes(copy_data) if copy_data is not None else None,
            JobState(state), reason, attempts, copy_of, copies, created, updated,
        )

    def get(self, job_id: str) -> PrintJob | None:
        """The job with this id, or ``None``."""
        row = self._db.execute(f"SELECT {_COLUMNS} FROM print_jobs WHERE job_id = ?", (job_id,)).fetchone()
        return self._row(row) if row else None

    def put(self, job: PrintJob) -> None:
        """Insert or update the job (one committed statement)."""
        # An upsert keeps the rowid, so rowid order stays submission order.
        self._db.execute(
            f"INSERT INTO print_jobs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (job_id) DO UPDATE SET data = excluded.data, copy_data = excluded.copy_data,"
            " state = excluded.state, reason = excluded.reason, attempts = excluded.attempts,"
            " copy_of = excluded.copy_of, copies = excluded.copies, updated_at = excluded.updated_at",
            (job.job_id, job.printer, job.data, job.copy_data, str(job.state), job.reason, job.attempts,
             job.copy_of, job.copies, job.created_at, job.updated_at),
        )

    def unfinished(self, printer: str) -> list[PrintJob]:
        """Queued and printing jobs of ``printer``, oldest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM print_jobs WHERE printer = ? AND state IN ('queued', 'printing')"
            " ORDER BY rowid",
            (printer,),
        ).fetchall()
        return [self._row(r) for r in rows]

    def recent(self, printer: str, limit: int = 20) -> list[PrintJob]:
        """The newest jobs of ``printer``, newest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM print_jobs WHERE printer = ? ORDER BY rowid DESC LIMIT ?",
            (printer, limit),
        ).fetchall()
        return [self._row(r) for r in rows]

    def close(self) -> None:
        """Close the database."""
        self._db.close()


_TRANSIENT = (PrinterNotReady, PrinterOffline, PrinterTimeout, PrinterStatusError)


def _reason(err: Exception) -> str:
    """A short job reason: ``paper out``, ``offline: <cause>``, ``no answer within 3 s``."""
    if isinstance(err, PrinterNotReady):
        return err.reason
    if isinstance(err, PrinterOffline):
        return f"offline: {err.reason}"
    if isinstance(err, PrinterTimeout):
        return f"no answer within {err.seconds:g} s"
    return str(err)


class PrintQueue:
    """Prints jobs for one printer in submission order, one at a time.

    ``wait_timeout`` bounds how long a job waits for an offline or paper-less printer before
    it fails (0 = fail at once); ``retry_interval`` is the pause between checks. With
    ``check_status`` (default) the printer's DLE EOT status is read before and after each job,
    so paper running out mid-receipt is noticed and the job printed again once paper is back.
    ``on_update(job)`` sees every state change.
    """

    def __init__(
        self,
        printer: PrinterConnection,
        store: JobStore,
        name: str = "",
        wait_timeout: float = 60.0,
        retry_interval: float = 1.0,
        check_status: bool = True,
        on_update: Callable[[PrintJob], None] | None = None,
    ) -> None:
        self.printer = printer
        self.store = store
        self.name = name or printer.name
        self.wait_timeout = wait_timeout
        self.retry_interval = retry_interval
        self.check_status = check_status
        self.on_update = on_update
        self._pending: asyncio.Queue[str] = asyncio.Queue()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover unfinished jobs from the store and start the worker."""
        for job in self.store.unfinished(self.name):
            if job.state is JobState.PRINTING:
                await self._save(job, JobState.FAILED, "interrupted while printing; retry to print again")
            else:
                self._pending.put_nowait(job.job_id)
        self._task = asyncio.create_task(self._worker(), name=f"print-queue-{self.name}")

    async def stop(self) -> None:
        """Stop the worker; queued jobs stay in the store."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # -- API ----------------------------------------------------------------------------------

    async def submit(self, job_id: str, data: bytes, copy_data: bytes | None = None) -> PrintJob:
        """Queue ``data`` under ``job_id``; a known id is not printed again (its job is returned)."""
        if not job_id:
            raise PrintJobError(job_id, "empty job id")
        existing = self.store.get(job_id)
        if existing is not None:
            log.info("print job %s already known (%s); not printing again", job_id, existing.state)
            return existing
        job = PrintJob(job_id, self.name, bytes(data), bytes(copy_data) if copy_data is not None else None)
        await self._save(job, JobState.QUEUED, "")
        self._pending.put_nowait(job_id)
        return job

    async def reprint(self, job_id: str, copy_id: str | None = None) -> PrintJob:
        """Print a printed job again as a copy (its ``copy_data``); ``copy_id`` makes this idempotent."""
        original = self.get(job_id)
        if original.state is not JobState.DONE:
            raise PrintJobError(job_id, f"cannot reprint a job that is {original.state}; retry it instead")
        copy_id = copy_id or f"{job_id}#copy{original.copies + 1}"
        existing = self.store.get(copy_id)
        if existing is not None:
            return existing
        original.copies += 1
        await self._save(original, original.state, original.reason)
        job = PrintJob(copy_id, self.name, original.copy_data or original.data, None, copy_of=job_id)
        await self._save(job, JobState.QUEUED, "")
        self._pending.put_nowait(copy_id)
        return job

    async def retry(self, job_id: str) -> PrintJob:
        """Queue a failed job again (same id, printed as the original)."""
        job = self.get(job_id)
        if job.state is not JobState.FAILED:
            raise PrintJobError(job_id, f"only failed jobs can be retried, this one is {job.state}")
        await self._save(job, JobState.QUEUED, "retry requested")
        self._pending.put_nowait(job_id)
        return job

    def get(self, job_id: str) -> PrintJob:
        """The current record of a job; raises ``UnknownJob``."""
        job = self.store.get(job_id)
        if job is None:
            raise UnknownJob(job_id)
        return job

    def recent(self, limit: int = 20) -> list[PrintJob]:
        """The newest jobs of this printer, newest first (``recent(1)[0].data`` = last slip)."""
        return self.store.recent(self.name, limit)

    def last_printed(self) -> PrintJob | None:
        """The newest job that printed completely (for a receipt preview), if any."""
        return next((j for j in self.store.recent(self.name, 50) if j.state is JobState.DONE), None)

    async def wait(self, job_id: str) -> PrintJob:
        """Wait until the job is done or failed (bound it with ``asyncio.timeout``)."""
        async with self._changed:
            while not (job := self.get(job_id)).finished:
                await self._changed.wait()
            return job

    # -- worker -------------------------------------------------------------------------------

    async def _save(self, job: PrintJob, state: JobState, reason: str) -> None:
        job.state, job.reason, job.updated_at = state, reason, time.time()
        self.store.put(job)
        if self.on_update is not None:
            try:
                self.on_update(replace(job))
            except Exception:
                log.exception("print queue %s: update callback failed", self.name)
        async with self._changed:
            self._changed.notify_all()

    async def _ensure_ready(self, during: str = "") -> None:
        if not self.check_status:
            return
        status = await self.printer.read_status()
        if not status.ready:
            raise PrinterNotReady(self.printer.name, f"{status.problem}{during}")

    async def _worker(self) -> None:
        while True:
            job_id = await self._pending.get()
            job = self.store.get(job_id)
            if job is None or job.state is not JobState.QUEUED:
                continue
            try:
                await self._print(job)
            except Exception as err:  # the worker must survive anything; the job records why
                log.exception("print queue %s: job %s", self.name, job_id)
                await self._save(job, JobState.FAILED, f"internal error: {err}")

    async def _print(self, job: PrintJob) -> None:
        deadline = time.monotonic() + self.wait_timeout
        while True:
            try:
                await self._ensure_ready()
                job.attempts += 1
                await self._save(job, JobState.PRINTING, "")
                await self.printer.write(job.data)
                await self._ensure_ready(" during printing")
            except _TRANSIENT as err:
                reason = _reason(err)
                if time.monotonic() >= deadline:
                    log.warning("print job %s failed: %s", job.job_id, reason)
                    await self._save(job, JobState.FAILED, reason)
                    return
                if job.state is not JobState.QUEUED or job.reason != f"waiting: {reason}":
                    # Only a change is stored and announced: waiting for paper must not rewrite
                    # (and fsync) the job every retry interval.
                    log.info("print job %s waiting: %s", job.job_id, reason)
                    await self._save(job, JobState.QUEUED, f"waiting: {reason}")
                await asyncio.sleep(self.retry_interval)
                continue
            await self._save(job, JobState.DONE, "")
            return
