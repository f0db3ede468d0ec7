"""A/B release updates of the gateway: install beside, switch atomically, health-gate, roll back.

Layout under the release root (``/opt/storegw`` in the field)::

    releases/<version>/     one self-contained venv per release (bin/storegw inside), complete
                            once its ``.storegw-release`` marker exists
    current -> releases/<version>   what storegw.service's ExecStart runs through
    update-state.json       the previous release, for ``rollback``, and a short history
    .update.lock            held while an install or switch runs

A switch flips ``current`` with a rename of a fresh symlink over the old one (atomic on POSIX),
restarts the service and polls ``/healthz`` until it has answered 200 several times in a row. If
that does not happen within the timeout, ``current`` is flipped back, the service restarted
again, and the old release must pass the same check.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gateway.errors import Conflict, GatewayError, NotFound

VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]*$")
WHEEL_RE = re.compile(r"^storegw-(?P<version>[^-]+)-.*\.whl$")
DEFAULT_ROOT = Path("/opt/storegw")
# Written last by an install (and by the Ansible role): a release without it is incomplete.
MARKER = ".storegw-release"
DEFAULT_HEALTH_URL = "http://127.0.0.1:8080/healthz"
DEFAULT_RESTART = ("systemctl", "restart", "storegw.service")


class UpdateError(GatewayError):
    """Root of update failures."""

    type, status, title = "update-failed", 500, "Update failed"


class ReleaseNotFound(UpdateError, NotFound):
    """The named release is not installed, or the install source does not exist."""

    type, status, title = "release-not-found", 404, "Release not found"


class UpdateInProgress(UpdateError, Conflict):
    """Another install or switch holds the update lock."""

    type, status, title = "update-in-progress", 409, "Update in progress"


class HealthCheckFailed(UpdateError):
    """The new release did not become healthy; ``rolled_back_to`` names the restored release."""

    type, title = "health-check-failed", "Health check failed"

    def __init__(self, version: str, reason: str, rolled_back_to: str | None) -> None:
        back = f"; rolled back to {rolled_back_to}" if rolled_back_to else ""
        super().__init__(f"release {version} unhealthy: {reason}{back}", version=version,
                         reason=reason, rolled_back_to=rolled_back_to)
        self.version, self.reason, self.rolled_back_to = version, reason, rolled_back_to


class RollbackFailed(UpdateError):
    """After a failed switch, the previous release did not come back healthy either."""

    type, title = "rollback-failed", "Rollback failed"


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """How ``/healthz`` is polled after a restart."""

    url: str = DEFAULT_HEALTH_URL
    timeout_s: float = 90.0
    interval_s: float = 1.0
    required_successes: int = 3
    request_timeout_s: float = 2.0


@dataclass(frozen=True, slots=True)
class ReleaseStatus:
    """What is installed and what runs."""

    current: str | None
    previous: str | None
    installed: list[str]
    history: list[dict[str, str]] = field(default_factory=list)


def check_health(policy: HealthPolicy, expected_version: str | None = None) -> str | None:
    """Poll until ``required_successes`` consecutive 200s; return None when healthy, else why not.

    A JSON body with a ``version`` key must name ``expected_version``, which catches a restart
    that silently kept the old process running.
    """
    deadline = time.monotonic() + policy.timeout_s
    streak, last = 0, "no answer"
    while True:
        try:
            with urllib.request.urlopen(policy.url, timeout=policy.request_timeout_s) as resp:
                body = resp.read(65536)
            version = _reported_version(body)
            if expected_version is not None and version not in (None, expected_version):
                streak, last = 0, f"reports version {version}"
            else:
                streak += 1
        except urllib.error.HTTPError as err:
            streak, last = 0, f"HTTP {err.code}"
        except (OSError, ValueError) as err:
            streak, last = 0, f"{type(err).__name__}: {err}"
        if streak >= policy.required_successes:
            return None
        if time.monotonic() + policy.interval_s > deadline:
            return f"not healthy within {policy.timeout_s:g}s (last: {last})"
        time.sleep(policy.interval_s)


def _reported_version(body: bytes) -> str | None:
    with contextlib.suppress(ValueError):
        doc = json.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("version"), str):
            return str(doc["version"])
    return None


def run_command(argv: tuple[str, ...]) -> Callable[[], None]:
    """A restart action running ``argv``; a non-zero exit raises ``UpdateError``."""

    def restart() -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise UpdateError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")

    return restart


class Releases:
    """The release root: install, switch, roll back and report releases."""

    def __init__(self, root: Path = DEFAULT_ROOT, restart: Callable[[], None] | None = None,
                 health: HealthPolicy | None = None) -> None:
        self.root = root
        self.releases = root / "releases"
        self.current_link = root / "current"
        self.state_file = root / "update-state.json"
        self.restart = restart or run_command(DEFAULT_RESTART)
        self.health = health or HealthPolicy()

    # --- state -------------------------------------------------------------------------------

    def current(self) -> str | None:
        """The version ``current`` points to, if any."""
        if not self.current_link.is_symlink():
            return None
        return Path(os.readlink(self.current_link)).name

    def installed(self) -> list[str]:
        """Installed release versions, sorted by name."""
        if not self.releases.is_dir():
            return []
        return sorted(p.name for p in self.releases.iterdir() if (p / MARKER).is_file())

    def _state(self) -> dict[str, object]:
        if self.state_file.is_file():
            return dict(json.loads(self.state_file.read_text()))
        return {"previous": None, "history": []}

    def _save_state(self, state: dict[str, object]) -> None:
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_file)

    def status(self) -> ReleaseStatus:
        """Current, previous and installed releases plus recent switches."""
        state = self._state()
        history = state.get("history")
        prev = state.get("previous")
        return ReleaseStatus(self.current(), prev if isinstance(prev, str) else None, self.installed(),
                             list(history) if isinstance(history, list) else [])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".update.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                raise UpdateInProgress(f"another update holds {self.root / '.update.lock'}") from err
            yield

    # --- install -----------------------------------------------------------------------------

    def install(self, source: Path, version: str | None = None, python: str = sys.executable) -> str:
        """Install a release from ``source`` beside the running one and return its version.

        ``source`` is a built release tree (a directory with ``bin/storegw``, copied as is), a
        ``storegw-<version>-*.whl`` file, or a wheelhouse directory holding one (installed into
        a fresh venv with pip, offline). The running release is never touched.

        Raises:
            ReleaseNotFound: ``source`` does not exist or holds no storegw wheel.
            UpdateError: the version is invalid or already installed, or pip failed.
        """
        version = version or _version_of(source)
        if not VERSION_RE.match(version):
            raise UpdateError(f"invalid release version {version!r}")
        with self._locked():
            target = self.releases / version
            if (target / MARKER).is_file():
                raise UpdateError(f"release {version} is already installed at {target}")
            # Left over from an interrupted install: it never got its marker.
            shutil.rmtree(target, ignore_errors=True)
            self.releases.mkdir(parents=True, exist_ok=True)
            try:
                if (source / "bin" / "storegw").is_file():
                    shutil.copytree(source, target, symlinks=True)
                else:
                    # Built in place: a venv's scripts carry its absolute path in their #! line.
                    _pip_install(source, version, target, python)
                (target / MARKER).write_text(version + "\n")
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
        return version

    # --- switch and roll back ----------------------------------------------------------------

    def _point_current_at(self, version: str) -> None:
        tmp = self.root / ".current.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("releases") / version)
        os.replace(tmp, self.current_link)  # rename(2): the link is never missing

    def switch(self, version: str) -> str | None:
        """Make ``version`` current, restart and health-check; roll back on failure.

        Returns the release that was current before (``None`` on a first install).

        Raises:
            ReleaseNotFound: ``version`` is not installed.
            HealthCheckFailed: it did not become healthy; the previous release runs again.
            RollbackFailed: the previous release did not come back healthy either.
        """
        if version not in self.installed():
            raise ReleaseNotFound(f"release {version} is not installed under {self.releases}")
        with self._locked():
            before = self.current()
            self._point_current_at(version)
            problem = self._restart_and_check(version)
            if problem is None:
                self._record(before, version, "switched")
                return before
            if before is None or before == version:
                self._record(before, version, "failed")
                raise HealthCheckFailed(version, problem, None)
            self._point_current_at(before)
            back_problem = self._restart_and_check(before)
            self._record(before, version, "rolled-back")
            if back_problem is not None:
                raise RollbackFailed(f"{version} unhealthy ({problem}); {before} unhealthy too ({back_problem})")
            raise HealthCheckFailed(version, problem, before)

    def rollback(self) -> str:
        """Switch back to the previous release (health-checked like any switch)."""
        previous = self.status().previous
        if previous is None or previous == self.current():
            raise ReleaseNotFound("no previous release to roll back to")
        self.switch(previous)
        return previous

    def _restart_and_check(self, version: str) -> str | None:
        try:
            self.restart()
        except (UpdateError, OSError, subprocess.SubprocessError) as err:
            return f"restart failed: {err}"
        return check_health(self.health, expected_version=version)

    def _record(self, before: str | None, version: str, outcome: str) -> None:
        state = self._state()
        if outcome == "switched":
            state["previous"] = before
        history = state.get("history")
        entries = list(history) if isinstance(history, list) else []
        entries.append({"at": datetime.now(UTC).isoformat(timespec="seconds"), "from": before or "",
                        "to": version, "outcome": outcome})
        state["history"] = entries[-20:]
        self._save_state(state)

    def prune(self, keep: int = 3) -> list[str]:
        """Delete old releases beyond the newest ``keep``, never the current or previous one."""
        status = self.status()
        protected = {status.current, status.previous}
        by_age = sorted(self.installed(), key=lambda v: (self.releases / v).stat().st_mtime)
        doomed = [v for v in by_age[: max(0, len(by_age) - keep)] if v not in protected]
        with self._locked():
            for version in doomed:
                shutil.rmtree(self.releases / version)
        return doomed


def _version_of(source: Path) -> str:
    if not source.exists():
        raise ReleaseNotFound(f"install source {source} does not exist")
    return _wheel(source).group("version") if not (source / "bin" / "storegw").is_file() else source.name


def _wheel(source: Path) -> re.Match[str]:
    candidates = [source] if source.is_file() else sorted(source.glob("storegw-*.whl"))
    for path in reversed(candidates):
        if m := WHEEL_RE.match(path.name):
            return m
    raise ReleaseNotFound(f"no storegw-<version>-*.whl in {source}")


def _pip_install(source: Path, version: str, target: Path, python: str) -> None:
    """A fresh venv at ``target`` with storegw==version from the local wheel(s), no index."""
    wheelhouse = source.parent if source.is_file() else source
    steps = [
        [python, "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "--no-index", "--find-links",
         str(wheelhouse), f"storegw=={version}"],
    ]
    for argv in steps:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
        if result.returncode != 0:
            raise UpdateError(f"{' '.join(argv[:4])} failed: {result.stderr.strip()[-2000:]}")
