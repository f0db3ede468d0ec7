"""Checks every unit and drop-in under systemd/ with systemd's own analyser, without PID 1.

``systemd-analyze verify`` exits 0 on unknown keys and unparsable values and only prints a
warning, so these tests fail on any output. Verification runs with ``--root`` on a staging
tree holding a copy of the host's unit directory (it needs ``sysinit.target`` and friends),
our units, and stub executables at the ``Exec*=`` paths, which must exist for verify.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS_DIR = REPO / "systemd"
HOST_UNITS = Path("/usr/lib/systemd/system")
ANALYZE = shutil.which("systemd-analyze")
UNITS = sorted(p.name for p in UNITS_DIR.iterdir() if p.suffix in {".service", ".timer"})
# Programs the units may start; a stub is placed at each one in the staging root.
KNOWN_PROGRAMS = {"/opt/storegw/current/bin/storegw", "/usr/sbin/mosquitto", "/bin/kill"}
# Units we only extend with a drop-in: Debian ships them.
DROPIN_TARGETS = {"mosquitto.service"}

pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (apt-get install systemd)")


def _exec_programs(text: str) -> set[str]:
    """Absolute program paths of every Exec*= line (ignoring prefixes like '-' and '@')."""
    programs = set()
    for m in re.finditer(r"^Exec\w+=[ \t]*([-@:+!]*)(/\S+)", text, re.MULTILINE):
        programs.add(m.group(2))
    return programs


@pytest.fixture(scope="module")
def staging_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with the distro unit tree, our units and drop-ins, and stub programs."""
    root = tmp_path_factory.mktemp("sysroot")
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    for name in ("bin", "sbin"):  # merged /usr, as on bookworm
        (root / "usr" / name).mkdir(exist_ok=True)
        (root / name).symlink_to(f"usr/{name}")
    etc_units = root / "etc/systemd/system"
    etc_units.mkdir(parents=True)
    texts = []
    for unit in UNITS:
        shutil.copy(UNITS_DIR / unit, etc_units / unit)
        texts.append((UNITS_DIR / unit).read_text())
    for dropin_dir in UNITS_DIR.glob("*.service.d"):
        shutil.copytree(dropin_dir, etc_units / dropin_dir.name)
        texts.extend(p.read_text() for p in dropin_dir.glob("*.conf"))
        target = dropin_dir.name.removesuffix(".d")
        if not (root / "usr/lib/systemd/system" / target).exists():
            # Stand-in for the Debian unit when the package is not installed on this host.
            (root / "usr/lib/systemd/system" / target).write_text(
                f"[Unit]\nDescription=stand-in\n[Service]\nExecStart=/usr/sbin/{target.split('.')[0]}\n"
            )
        texts.append((root / "usr/lib/systemd/system" / target).read_text())
    for program in set().union(*(_exec_programs(t) for t in texts)):
        stub = root / program.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        if not stub.exists():
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return root


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False)


def test_units_start_only_known_programs() -> None:
    texts = [(UNITS_DIR / u).read_text() for u in UNITS]
    texts += [p.read_text() for p in UNITS_DIR.glob("*.service.d/*.conf")]
    programs = set().union(*(_exec_programs(t) for t in texts))
    assert programs <= KNOWN_PROGRAMS


@pytest.mark.parametrize("unit", [*UNITS, *sorted(DROPIN_TARGETS)])
def test_unit_verifies_without_any_output(staging_root: Path, unit: str) -> None:
    result = _run("verify", "--man=no", f"--root={staging_root}", unit)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_would_catch_a_misspelt_key(staging_root: Path, tmp_path: Path) -> None:
    """Guards the guard: a typo gives exit 0 but prints, which the test above rejects."""
    unit = staging_root / "etc/systemd/system/storegw-typo.service"
    unit.write_text((UNITS_DIR / "storegw.service").read_text().replace("ProtectSystem=", "ProtectSytem="))
    try:
        result = _run("verify", "--man=no", f"--root={staging_root}", unit.name)
    finally:
        unit.unlink()
    assert result.returncode == 0
    assert "Unknown key 'ProtectSytem'" in result.stderr


def _exposure(staging_root: Path, unit: str) -> float:
    result = _run("security", "--offline=true", f"--root={staging_root}", "--no-pager", unit)
    assert result.returncode == 0, result.stderr
    m = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", result.stdout)
    assert m, result.stdout[-500:]
    return float(m.group(1))


def test_gateway_exposure_at_most_2_0(staging_root: Path) -> None:
    assert _exposure(staging_root, "storegw.service") <= 2.0
    # The threshold scale is ten times the displayed score.
    assert _run("security", "--offline=true", "--threshold=20", str(UNITS_DIR / "storegw.service")).returncode == 0


@pytest.mark.parametrize("unit", ["storegw-backup.service", "mosquitto.service"])
def test_helper_units_are_sandboxed(staging_root: Path, unit: str) -> None:
    assert _exposure(staging_root, unit) <= 2.0


def test_deny_syscall_groups_are_on_their_own_line() -> None:
    for path in [*(UNITS_DIR / u for u in UNITS), *UNITS_DIR.glob("*.service.d/*.conf")]:
        for line in path.read_text().splitlines():
            if line.startswith("SystemCallFilter="):
                value = line.split("=", 1)[1]
                assert value.startswith("~") or "~" not in value, f"{path.name}: {line}"


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def _seconds(value: str) -> int:
    units = {"s": 1, "min": 60, "h": 3600}
    m = re.fullmatch(r"(\d+)(s|min|h)", value)
    assert m, value
    return int(m.group(1)) * units[m.group(2)]


def test_hardware_watchdog_fits_bcm2835_limit() -> None:
    manager = _ini(UNITS_DIR / "system.conf.d/10-storegw-watchdog.conf")["Manager"]
    assert 0 < _seconds(manager["RuntimeWatchdogSec"]) <= 15
    assert _seconds(manager["RebootWatchdogSec"]) > 0


def test_journal_is_bounded() -> None:
    journal = _ini(UNITS_DIR / "journald.conf.d/10-storegw.conf")["Journal"]
    assert journal["SystemMaxUse"].endswith("M")
    assert int(journal["SystemMaxUse"][:-1]) <= 500


def test_restart_limits_allow_restarts_before_giving_up() -> None:
    unit = _ini(UNITS_DIR / "storegw.service")
    interval = _seconds(unit["Unit"]["StartLimitIntervalSec"])
    burst = int(unit["Unit"]["StartLimitBurst"])
    restart = _seconds(unit["Service"]["RestartSec"])
    assert unit["Service"]["Restart"] == "on-failure"
    assert burst >= 3
    # Otherwise the limit could never trip and a crash loop would run forever.
    assert restart * burst < interval
    assert _seconds(unit["Service"]["WatchdogSec"]) >= 10
