"""Run every benchmark module in this package (``bench/bench_*.py``), each in its own process with a time limit.

Usage: ``python -m bench [NAME ...] [--timeout SECONDS]``; NAME is a module name with or without
the ``bench_`` prefix. Each module's ``main()`` prints its own figures; a module that fails or
overruns its limit is reported and makes the exit status non-zero.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Names of the benchmark modules, sorted."""
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def run_one(name: str, timeout_s: float) -> tuple[str, float]:
    """Run ``bench.<name>.main()`` in a child process; returns an outcome word and the elapsed seconds."""
    started = time.monotonic()
    # The child inherits stdout/stderr so figures appear as they are measured.
    proc = subprocess.Popen([sys.executable, "-c", f"import bench.{name} as m; m.main()"], cwd=HERE.parent)
    try:
        rc = proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "timeout", time.monotonic() - started
    return ("ok" if rc == 0 else f"exit {rc}"), time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench``."""
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("names", nargs="*", help="modules to run (default: all)")
    ap.add_argument("--timeout", type=float, default=300.0, help="limit per module in seconds (default 300)")
    args = ap.parse_args(argv)
    available = discover()
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in args.names] or available
    unknown = [n for n in wanted if n not in available]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
    outcomes: list[tuple[str, str, float]] = []
    for name in wanted:
        print(f"=== {name} ===", flush=True)
        outcome, elapsed = run_one(name, args.timeout)
        outcomes.append((name, outcome, elapsed))
        print(f"--- {name}: {outcome} in {elapsed:.1f} s", flush=True)
    print("\n=== summary ===")
    for name, outcome, elapsed in outcomes:
        print(f"{name:<30} {outcome:<10} {elapsed:7.1f} s")
    return 0 if all(o == "ok" for _, o, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
