"""Tests for gateway.update: A/B install, health-gated switch and automatic rollback.

Releases are tiny fake gateways serving ``/healthz`` on a real loopback TCP port; a fake
service manager restarts whatever ``current/bin/storegw`` points to, as systemd would.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import update_cli
from gateway.netutil import free_port
from gateway.update import (
    MARKER,
    HealthCheckFailed,
    HealthPolicy,
    ReleaseNotFound,
    Releases,
    RollbackFailed,
    UpdateError,
    UpdateInProgress,
    check_health,
)

FAKE_GATEWAY = '''#!{python}
"""Fake storegw release {version} ({mode})."""
import http.server, json, os, sys
if "{mode}" == "crash":
    sys.exit(1)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"version": "{version}"}}).encode()
        self.send_response(200 if "{mode}" == "healthy" else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["FAKE_GW_PORT"])), Health).serve_forever()
'''




def build_release(where: Path, version: str, mode: str = "healthy") -> Path:
    tree = where / version
    (tree / "bin").mkdir(parents=True)
    script = tree / "bin" / "storegw"
    script.write_text(FAKE_GATEWAY.format(python=sys.executable, version=version, mode=mode))
    script.chmod(0o755)
    return tree


class FakeService:
    """Stands in for systemd: restart = stop the old process, exec current/bin/storegw."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        env = {**os.environ, "FAKE_GW_PORT": str(self.port)}
        self.proc = subprocess.Popen([str(self.root / "current" / "bin" / "storegw")], env=env)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def service(tmp_path: Path, port: int) -> Iterator[FakeService]:
    svc = FakeService(tmp_path / "opt", port)
    yield svc
    svc.stop()


@pytest.fixture
def releases(tmp_path: Path, service: FakeService, port: int) -> Releases:
    policy = HealthPolicy(url=f"http://127.0.0.1:{port}/healthz", timeout_s=3, interval_s=0.05,
                          required_successes=3, request_timeout_s=1)
    r = Releases(tmp_path / "opt", restart=service.restart, health=policy)
    for version, mode in [("1.0", "healthy"), ("2.0", "healthy"), ("3.0", "unhealthy"), ("3.1", "crash")]:
        r.install(build_release(tmp_path / "build", version, mode))
    return r


def served_version(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
        return str(json.loads(resp.read())["version"])


def test_install_is_beside_and_never_twice(releases: Releases, tmp_path: Path) -> None:
    assert releases.installed() == ["1.0", "2.0", "3.0", "3.1"]
    assert (releases.releases / "2.0" / MARKER).read_text() == "2.0\n"
    assert releases.current() is None
    with pytest.raises(UpdateError, match="already installed"):
        releases.install(tmp_path / "build" / "2.0")
    with pytest.raises(ReleaseNotFound):
        releases.install(tmp_path / "build" / "9.9")
    with pytest.raises(UpdateError, match="invalid release version"):
        releases.install(tmp_path / "build" / "2.0", version="../evil")


def test_switch_then_failed_update_rolls_back_and_old_serves_again(releases: Releases, port: int) -> None:
    assert releases.switch("1.0") is None
    assert served_version(port) == "1.0"
    assert releases.switch("2.0") == "1.0"
    assert served_version(port) == "2.0"

    with pytest.raises(HealthCheckFailed) as caught:
        releases.switch("3.0")
    assert caught.value.rolled_back_to == "2.0"
    assert "HTTP 503" in caught.value.reason
    assert releases.current() == "2.0"
    assert os.readlink(releases.current_link) == "releases/2.0"
    assert served_version(port) == "2.0"
    status = releases.status()
    assert status.previous == "1.0"
    assert [h["outcome"] for h in status.history] == ["switched", "switched", "rolled-back"]


def test_release_that_crashes_at_start_is_rolled_back(releases: Releases, port: int) -> None:
    releases.switch("2.0")
    with pytest.raises(HealthCheckFailed) as caught:
        releases.switch("3.1")
    assert caught.value.rolled_back_to == "2.0"
    assert served_version(port) == "2.0"


def test_rollback_returns_to_previous(releases: Releases, port: int) -> None:
    releases.switch("1.0")
    releases.switch("2.0")
    assert releases.rollback() == "1.0"
    assert served_version(port) == "1.0"
    assert releases.status().previous == "2.0"


def test_rollback_without_previous_is_refused(releases: Releases) -> None:
    with pytest.raises(ReleaseNotFound):
        releases.rollback()


def test_rollback_failure_is_reported(releases: Releases, tmp_path: Path) -> None:
    releases.switch("2.0")
    # The old release broke meanwhile (e.g. a damaged SD card): nothing healthy is left.
    (releases.releases / "2.0" / "bin" / "storegw").write_text("#!/bin/sh\nexit 1\n")
    with pytest.raises(RollbackFailed):
        releases.switch("3.0")


def test_a_restart_that_did_not_happen_is_caught_by_the_version(releases: Releases, service: FakeService) -> None:
    releases.switch("1.0")
    lazy = Releases(releases.root, restart=lambda: None, health=releases.health)
    with pytest.raises(HealthCheckFailed, match=r"reports version 1\.0"):
        lazy.switch("2.0")
    assert lazy.current() == "1.0"


def test_switch_to_unknown_release(releases: Releases) -> None:
    with pytest.raises(ReleaseNotFound):
        releases.switch("7.0")


def test_concurrent_update_is_refused(releases: Releases) -> None:
    with (releases.root / ".update.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(UpdateInProgress):
            releases.switch("1.0")


def test_interrupted_install_is_redone(releases: Releases, tmp_path: Path) -> None:
    half = releases.releases / "4.0"
    (half / "bin").mkdir(parents=True)
    assert "4.0" not in releases.installed()
    assert releases.install(build_release(tmp_path / "build", "4.0")) == "4.0"
    assert "4.0" in releases.installed()


def test_prune_keeps_current_and_previous(releases: Releases) -> None:
    releases.switch("1.0")
    releases.switch("2.0")
    removed = releases.prune(keep=1)
    # 3.1 is the newest install (perhaps staged for tonight); 3.0 is neither new nor in use.
    assert removed == ["3.0"]
    assert releases.installed() == ["1.0", "2.0", "3.1"]


def test_health_check_gives_up_on_a_closed_port() -> None:
    policy = HealthPolicy(url=f"http://127.0.0.1:{free_port()}/healthz", timeout_s=0.3, interval_s=0.05)
    problem = check_health(policy)
    assert problem is not None and "not healthy within 0.3s" in problem


def _wheel(where: Path, version: str) -> Path:
    """A minimal storegw wheel whose console script prints its version."""
    files = {
        "fakegw.py": f"def main():\n    print('fake {version}')\n",
        f"storegw-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: storegw\nVersion: {version}\n",
        f"storegw-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                              "Tag: py3-none-any\n",
        f"storegw-{version}.dist-info/entry_points.txt": "[console_scripts]\nstoregw = fakegw:main\n",
    }
    record = []
    path = where / f"storegw-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(text)}")
        record.append(f"storegw-{version}.dist-info/RECORD,,")
        zf.writestr(f"storegw-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def test_install_from_wheelhouse_builds_an_offline_venv(tmp_path: Path) -> None:
    house = tmp_path / "wheelhouse"
    house.mkdir()
    _wheel(house, "5.0")
    releases = Releases(tmp_path / "opt")
    assert releases.install(house) == "5.0"
    out = subprocess.run([str(tmp_path / "opt/releases/5.0/bin/storegw")], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert out == "fake 5.0\n"


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="storegw")
    parser.add_argument("--config", default="/etc/storegw/gateway.toml")
    update_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_cli_switch_rollback_and_status(tmp_path: Path, port: int, service: FakeService,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[store]\nid = "0042"\n\n[http]\nport = {port}\n')
    assert update_cli.health_url(config) == f"http://127.0.0.1:{port}/healthz"
    restart = f"{sys.executable} -c 'import sys; sys.exit(0)'"
    root = tmp_path / "opt"
    common = ["--config", str(config), "update", "--root", str(root), "--health-timeout", "3",
              "--restart-command", restart]
    good = build_release(tmp_path / "build", "1.0")
    assert cli([*common, "install", str(good)]) == 0
    service.restart = lambda: None  # type: ignore[method-assign]
    # No gateway answers on the port: the first switch cannot become healthy.
    assert cli([*common, "switch", "1.0"]) == 1
    assert "not healthy" in capsys.readouterr().err
    assert cli([*common, "status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["current"] == "1.0" and doc["installed"] == ["1.0"]
    assert cli([*common, "rollback"]) == 1


RESTART_SCRIPT = """#!/bin/sh
# Fake `systemctl restart storegw`: stop the running release, start whatever current points to.
if [ -f "{pidfile}" ]; then kill "$(cat "{pidfile}")" 2>/dev/null; sleep 0.2; fi
FAKE_GW_PORT={port} "{root}/current/bin/storegw" >/dev/null 2>&1 &
echo $! > "{pidfile}"
"""


def test_cli_rolls_back_a_bad_release_with_exit_code_2(tmp_path: Path, port: int,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    root, pidfile = tmp_path / "opt", tmp_path / "gw.pid"
    script = tmp_path / "restart.sh"
    script.write_text(RESTART_SCRIPT.format(pidfile=pidfile, port=port, root=root))
    script.chmod(0o755)
    common = ["update", "--root", str(root), "--health-url", f"http://127.0.0.1:{port}/healthz",
              "--health-timeout", "4", "--restart-command", str(script)]
    try:
        assert cli([*common, "install", str(build_release(tmp_path / "build", "1.0")), "--activate"]) == 0
        assert cli([*common, "install", str(build_release(tmp_path / "build", "2.0", "unhealthy"))]) == 0
        capsys.readouterr()
        assert cli([*common, "switch", "2.0"]) == 2
        assert "rolled back to 1.0" in capsys.readouterr().err
        assert served_version(port) == "1.0"
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
