"""End-to-end provisioning: site.yml applied to a debootstrap'ed Debian bookworm chroot.

Runs the real playbook through the chroot connection against a fresh copy of a bookworm tree,
then a second time (which must change nothing), then checks the installed units with the
chroot's own systemd-analyze and runs the installed gateway's ``check-config``.

Needs root, debootstrap (or a prepared tree in $STOREGW_CHROOT_BASE), network access to the
Debian mirror and PyPI, and a few minutes: marked ``slow`` and only run with
``STOREGW_PROVISION_TEST=1`` (`make provision-test`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

# The module fixture provisions twice (and may debootstrap first): far beyond the default test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
BIN = Path(sys.executable).parent
CACHE = Path(os.environ.get("STOREGW_PROVISION_CACHE", "/var/tmp/storegw-chroot"))
BASE = Path(os.environ.get("STOREGW_CHROOT_BASE", str(CACHE / "bookworm")))
MIRROR = "http://deb.debian.org/debian"
VERSION = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
HAS_CHECK_CONFIG = (REPO / "gateway" / "cli.py").exists() and "check-config" in (REPO / "gateway/cli.py").read_text()


def _run(argv: list[str], timeout: float = 900, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=env)


def _base_tree() -> Path:
    if os.environ.get("STOREGW_PROVISION_TEST") != "1":
        pytest.skip("takes minutes and needs the Debian mirror: run with STOREGW_PROVISION_TEST=1")
    if os.geteuid() != 0:
        pytest.skip("the chroot connection and debootstrap need root")
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("ansible not installed (pip install -e '.[test]')")
    if (BASE / "usr/bin/python3").exists():
        return BASE
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap not installed (apt-get install debootstrap) and no $STOREGW_CHROOT_BASE tree")
    BASE.parent.mkdir(parents=True, exist_ok=True)
    partial = BASE.with_name(BASE.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    result = _run(["debootstrap", "--variant=minbase",
                   "--include=python3,python3-venv,python3-packaging,python3-apt,systemd,udev",
                   "bookworm", str(partial), MIRROR], timeout=1800)
    if result.returncode != 0:
        pytest.skip(f"debootstrap failed (no mirror access?): {result.stderr[-500:]}")
    partial.rename(BASE)
    return BASE


def _wheelhouse() -> Path:
    """storegw's wheel plus its pinned dependencies, cached by the pyproject content."""
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:12]
    house = CACHE / f"wheelhouse-{key}"
    project = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(house / "project"), str(REPO)])
    assert project.returncode == 0, project.stderr[-2000:]
    if not (house / "deps.done").exists():
        deps = _run([sys.executable, "-m", "pip", "wheel", "-w", str(house / "deps"), str(REPO)], timeout=1800)
        assert deps.returncode == 0, deps.stderr[-2000:]
        (house / "deps.done").touch()
    flat = house / "all"
    shutil.rmtree(flat, ignore_errors=True)
    flat.mkdir()
    for wheel in [*(house / "deps").glob("*.whl"), *(house / "project").glob("*.whl")]:
        shutil.copy(wheel, flat / wheel.name)
    return flat


def _inventory(tmp: Path, root: Path, wheelhouse: Path) -> Path:
    box = {
        "ansible_connection": "community.general.chroot",
        "ansible_host": str(root),
        "ansible_become": False,
        "ansible_python_interpreter": "/usr/bin/python3",
        **{f"{role}_manage_services": False for role in ("base", "storegw", "mosquitto", "raspberry_pi")},
        "storegw_version": VERSION.group(1) if VERSION else "0.0.0",
        "storegw_wheelhouse_src": f"{wheelhouse}/",
        "storegw_store_id": "0042",
        "storegw_store_name": "Chroot Test",
        "storegw_validate_config": HAS_CHECK_CONFIG,
        "hq_link_creds": "-----BEGIN NATS USER JWT-----\nTEST\n------END NATS USER JWT------\n",
    }
    doc = {"all": {"children": {"stores": {"hosts": {"box": box}}, "raspberry_pi": {"hosts": {"box": None}}}}}
    path = tmp / "inventory.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    base = _base_tree()
    tmp = tmp_path_factory.mktemp("provision")
    root = tmp / "root"
    assert _run(["cp", "-a", "--reflink=auto", str(base), str(root)]).returncode == 0
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # A Pi boot partition, so the raspberry_pi role has files to edit.
    (root / "boot/firmware").mkdir(parents=True, exist_ok=True)
    (root / "boot/firmware/config.txt").write_text("[all]\narm_64bit=1\n")
    (root / "boot/firmware/cmdline.txt").write_text("console=serial0,115200 console=tty1 root=PARTUUID=1 rootwait\n")
    mounts = [root / "proc", root / "dev"]
    subprocess.run(["mount", "-t", "proc", "proc", str(mounts[0])], check=True, timeout=30)
    subprocess.run(["mount", "--bind", "/dev", str(mounts[1])], check=True, timeout=30)
    try:
        inventory = _inventory(tmp, root, _wheelhouse())
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
               "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
        outputs = []
        for _ in range(2):
            result = _run([str(BIN / "ansible-playbook"), "-i", str(inventory), "site.yml"], cwd=ANSIBLE, env=env,
                          timeout=1800)
            assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
            outputs.append(result.stdout)
        yield root, outputs
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", "-l", str(mount)], check=False, timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _recap(output: str) -> dict[str, int]:
    m = re.search(r"^box\s*:\s*(.+)$", output, re.MULTILINE)
    assert m, output[-2000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def test_first_run_converges_and_second_run_changes_nothing(provisioned: tuple[Path, list[str]]) -> None:
    root, (first, second) = provisioned
    assert _recap(first)["changed"] > 0
    assert _recap(first)["failed"] == 0
    assert _recap(second)["changed"] == 0, second[-4000:]
    release = root / "opt/storegw/current"
    assert release.is_symlink() and (release / "bin/storegw").exists()
    assert (root / "etc/systemd/system/multi-user.target.wants/storegw.service").is_symlink()
    assert (root / "etc/udev/rules.d/99-storegw.rules").read_text() == (
        REPO / "firmware-config/99-storegw.rules").read_text()
    assert "include storegw.txt" in (root / "boot/firmware/config.txt").read_text()
    assert "console=serial0" not in (root / "boot/firmware/cmdline.txt").read_text()
    creds = root / "etc/storegw/hq/store.creds"
    assert oct(creds.stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("unit", ["storegw.service", "storegw-backup.service", "storegw-backup.timer",
                                  "mosquitto.service"])
def test_installed_units_verify_inside_the_chroot(provisioned: tuple[Path, list[str]], unit: str) -> None:
    root, _ = provisioned
    result = _run(["chroot", str(root), "systemd-analyze", "verify", "--man=no", unit], timeout=120)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_installed_gateway_accepts_its_config(provisioned: tuple[Path, list[str]]) -> None:
    root, _ = provisioned
    if not HAS_CHECK_CONFIG:
        pytest.skip("this tree's gateway has no check-config sub-command yet")
    result = _run(["chroot", "--userspec=storegw:storegw", str(root), "/opt/storegw/current/bin/storegw",
                   "--config", "/etc/storegw/gateway.toml", "--data-dir", "/var/lib/storegw", "check-config"],
                  timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
