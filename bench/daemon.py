"""Benchmark helper: run the real ``storegw run`` daemon on a data directory and measure request latency."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.netutil import free_port

ROOT = Path(__file__).resolve().parents[1]


def storegw(data_dir: Path, *args: str) -> str:
    """Run a ``storegw`` sub-command; its stdout (raises on failure)."""
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "--data-dir", str(data_dir), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"storegw {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def add_client(data_dir: Path, name: str, role: str = "admin") -> str:
    """Create a client and return its token (the last output line)."""
    return storegw(data_dir, "clients", "add", name, "--role", role).strip().splitlines()[-1]


def import_products(data_dir: Path, products: list[dict[str, Any]]) -> None:
    """Import products through ``storegw catalog import``."""
    f = data_dir / "bench-products.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(products))
    storegw(data_dir, "catalog", "import", str(f))




class Daemon:
    """``storegw run`` in a child process (so client and server do not share one core's GIL)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Daemon:
        log = open(self.data_dir / "daemon.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "--data-dir", str(self.data_dir), "run",
                                      "--host", "127.0.0.1", "--http-port", str(self.port)], cwd=ROOT,
                                     stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"daemon did not start; see {self.data_dir / 'daemon.log'}")

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def percentile(samples: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``samples``."""
    s = sorted(samples)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]
