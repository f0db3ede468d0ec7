"""Scan path latency: driver input -> decoded barcode callback, against a raw baseline.

Three paths, each printed as p50/p99 in microseconds with the ratio to its baseline measured
in the same run:
1. HID decode: the evdev events of one EAN-13 scan fed to ``HidDecoder`` plus barcode parse,
   vs. iterating the same events with only a type check.
2. HID reader: events injected into a simulated device, read by ``HidScanner``'s async loop,
   decoded and parsed, vs. the same events through a bare ``asyncio.Queue``.
3. Serial: a code written to a real pty by the scanner simulator, read by ``SerialScanner``
   and parsed, vs. a raw pty write -> ``add_reader`` read of the same bytes.
Run: ``python bench/bench_scan.py [--n N]`` (default keeps the run well under 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import tty
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evdev import ecodes as e

from drivers.scanner import HidDecoder, HidScanner, Scan, SerialScanner
from drivers.scanner.simulator import SerialScannerSimulator, SimulatedInputDevice, key_events

CODE = "4006381333931"


def pct(samples: list[int], q: float) -> float:
    """Percentile ``q`` (0..100) in microseconds of samples given in integer nanoseconds."""
    s = sorted(samples)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))] / 1000


def row(name: str, samples: list[int], base: list[int]) -> None:
    """One result line."""
    p50, p99, b50, b99 = pct(samples, 50), pct(samples, 99), pct(base, 50), pct(base, 99)
    print(f"{name:<14} p50 {p50:9.1f} us  p99 {p99:9.1f} us | baseline p50 {b50:8.1f} us  p99 {b99:8.1f} us"
          f" | ratio p50 {p50 / b50:6.1f}x  p99 {p99 / b99:6.1f}x")


def bench_decode(n: int) -> tuple[list[int], list[int]]:
    """Path 1: synchronous decoder + parse vs. bare iteration."""
    events = key_events(CODE, "us", "enter", start=0.0)
    dec = HidDecoder("us", "enter")
    out, base = [], []
    sink: list[object] = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        for ev in events:
            scan = dec.feed(ev)
            if scan is not None:
                sink.append(scan.barcode())
        out.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        for ev in events:
            if ev.type == e.EV_KEY and ev.code == e.KEY_ENTER and ev.value == 1:
                sink.append(ev)
        base.append(time.perf_counter_ns() - t0)
        sink.clear()
    return out, base


async def bench_reader(n: int) -> tuple[list[int], list[int]]:
    """Path 2: async reader over a simulated device vs. a bare queue handoff."""
    events = key_events(CODE, "us", "enter", start=0.0)
    dev = SimulatedInputDevice()
    done = asyncio.Event()
    t_end: list[int] = []

    def on_scan(scan: Scan) -> None:
        scan.barcode()
        t_end.append(time.perf_counter_ns())
        done.set()

    up = asyncio.Event()
    scanner = HidScanner(dev.path, HidDecoder("us", "enter"), on_scan=on_scan, opener=lambda p: dev,
                         on_state=lambda online, _: up.set())
    await scanner.start()
    await up.wait()
    out = []
    for _ in range(n):
        done.clear()
        t0 = time.perf_counter_ns()
        dev.inject(events)
        await done.wait()
        out.append(t_end[-1] - t0)
    await scanner.close()

    q: asyncio.Queue[object] = asyncio.Queue()
    got = asyncio.Event()

    async def consume() -> None:
        while True:
            ev = await q.get()
            if ev is events[-1]:
                t_end.append(time.perf_counter_ns())
                got.set()

    task = asyncio.create_task(consume())
    base = []
    for _ in range(n):
        got.clear()
        t0 = time.perf_counter_ns()
        for ev in events:
            q.put_nowait(ev)
        await got.wait()
        base.append(t_end[-1] - t0)
    task.cancel()
    return out, base


async def bench_serial(n: int) -> tuple[list[int], list[int]]:
    """Path 3: SerialScanner over a pty vs. raw pty write -> read."""
    sim = SerialScannerSimulator()
    await sim.start()
    done = asyncio.Event()
    t_end: list[int] = []

    def on_scan(scan: Scan) -> None:
        scan.barcode()
        t_end.append(time.perf_counter_ns())
        done.set()

    scanner = SerialScanner(sim.path, on_scan=on_scan)
    await scanner.start()
    await asyncio.wait_for(scanner.line.wait_online(), 5)
    out = []
    for _ in range(n):
        done.clear()
        t0 = time.perf_counter_ns()
        sim.scan(CODE)
        await asyncio.wait_for(done.wait(), 5)
        out.append(t_end[-1] - t0)
    await scanner.close()
    sim.close()

    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    os.set_blocking(slave, False)
    loop = asyncio.get_running_loop()
    payload = CODE.encode() + b"\r\n"
    buf = bytearray()
    got = asyncio.Event()

    def readable() -> None:
        buf.extend(os.read(slave, 4096))
        if buf.endswith(b"\n"):
            t_end.append(time.perf_counter_ns())
            buf.clear()
            got.set()

    loop.add_reader(slave, readable)
    base = []
    for _ in range(n):
        got.clear()
        t0 = time.perf_counter_ns()
        os.write(master, payload)
        await asyncio.wait_for(got.wait(), 5)
        base.append(t_end[-1] - t0)
    loop.remove_reader(slave)
    os.close(master)
    os.close(slave)
    return out, base


def main(argv: list[str] | None = None) -> int:
    """Run all three paths and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=2000, help="scans per path")
    args = ap.parse_args(argv)
    started = time.monotonic()
    paths: list[tuple[str, Callable[[], tuple[list[int], list[int]]]]] = [
        ("hid decode", lambda: bench_decode(args.n)),
        ("hid reader", lambda: asyncio.run(bench_reader(args.n))),
        ("serial pty", lambda: asyncio.run(bench_serial(args.n))),
    ]
    print(f"scan path latency, EAN-13 {CODE}, {args.n} scans per path")
    for name, fn in paths:
        out, base = fn()
        row(name, out, base)
    print(f"total {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
