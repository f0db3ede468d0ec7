"""The python-escpos capabilities cache under concurrent starts and after a reinstall."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.printer._escpos import _bundled_capabilities

IMPORT = "import drivers.printer._escpos as e; print(len(e.capabilities.CAPABILITIES['profiles']))"


def _start(home: Path, inherited: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCPOS_")}
    env["XDG_CACHE_HOME"] = str(home)
    if inherited:  # as set by a parent that imported the module (the pytest controller, the CLI)
        env["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(home / "storegw" / "escpos")
    return subprocess.Popen(
        [sys.executable, "-c", IMPORT],
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("stale", "inherited"), [(False, False), (True, False), (True, True)],
                         ids=["missing", "stale", "stale-inherited"])
def test_concurrent_starts_all_load_the_capabilities(tmp_path: Path, stale: bool, inherited: bool) -> None:
    """A missing or stale pickle is rebuilt privately; no process ever reads a half-written one."""
    cache = tmp_path / "storegw" / "escpos"
    pickle = cache / f"{platform.python_version()}.capabilities.pickle"
    if stale:
        # A pickle from an earlier install: older than the installed capabilities file, so
        # python-escpos on its own would rewrite it in place while the others read it.
        cache.mkdir(parents=True)
        pickle.write_bytes(b"stale")
        old = os.stat(_bundled_capabilities()).st_mtime - 3600
        os.utime(pickle, (old, old))
    procs = [_start(tmp_path, inherited) for _ in range(6)]
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert int(out) > 10
    assert pickle.stat().st_mtime >= os.stat(_bundled_capabilities()).st_mtime
    assert pickle.read_bytes() != b"stale"
    assert not list(cache.glob(".build-*"))
