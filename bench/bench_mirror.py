"""Benchmark of the HQ relay: journal catch-up rate vs raw nats-py JetStream publishing, same server, same run.

Prints raw synchronous (one acked publish at a time) and raw windowed ``publish_async`` rates
for the same messages the relay sends (same subjects, headers and bodies, other store id), then
the relay's drain rate of an N-entry backlog from the ledger, and the ratio relay / raw windowed.
Usage: ``python bench/bench_mirror.py [N] [--sync-always]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.hq.provision import ProvisionSpec, provision
from gateway.ledger import JournalEntry, Ledger, Txn
from gateway.mirror.relay import Relay
from gateway.mirror.subjects import event_body, event_headers, event_subject
from tests.gateway.mirror.harness import NatsServer, client


def fill(ledger: Ledger, n: int) -> None:
    """Append ``n`` sale-like entries."""
    done = 0
    while done < n:
        k = min(5000, n - done)

        def fn(txn: Txn, base: int = done, k: int = k) -> None:
            for i in range(base, base + k):
                txn.append(
                    "sale.finished",
                    f"sale:{i}",
                    {"receipt_no": i, "totals": {"gross": 1299, "net": 1092}, "lines": [{"sku": "4001", "qty": 1, "gross": 1299}]},
                )

        ledger.write_sync(fn)
        done += k


async def raw_sync(url: str, entries: list[JournalEntry]) -> float:
    """Messages per second, one acked publish at a time."""
    nc = await client(url)
    js = nc.jetstream()
    t0 = time.perf_counter()
    for e in entries:
        await js.publish(event_subject("rawsync", e.type), event_body(e), headers=event_headers("rawsync", e))
    dt = time.perf_counter() - t0
    await nc.close()
    return len(entries) / dt


async def raw_async(url: str, entries: list[JournalEntry], window: int) -> float:
    """Messages per second with ``publish_async`` and at most ``window`` outstanding."""
    nc = await client(url)
    js = nc.jetstream(publish_async_max_pending=window)
    t0 = time.perf_counter()
    futs = [
        await js.publish_async(event_subject("rawasync", e.type), event_body(e), headers=event_headers("rawasync", e))
        for e in entries
    ]
    await asyncio.gather(*futs)
    dt = time.perf_counter() - t0
    await nc.close()
    return len(entries) / dt


async def relay_rate(url: str, ledger: Ledger, n: int, window: int) -> float:
    """Entries per second drained by the relay from the ledger (cursor persisted as in production)."""
    nc = await client(url)
    relay = Relay(ledger, "bench", window=window)
    t0 = time.perf_counter()
    task = asyncio.create_task(relay.drain(nc.jetstream()))
    while True:
        if relay.acked >= n:
            break
        await asyncio.sleep(0.005)
    dt = time.perf_counter() - t0
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    relay.close()
    await nc.close()
    return n / dt


async def amain() -> None:
    """Run all three measurements and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("n", type=int, nargs="?", default=50_000)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--sync-always", action="store_true", help="server fsyncs before every ack")
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp) / "nats", sync_always=args.sync_always)
        server.start()
        try:
            await server.wait_ready()
            nc = await client(server.url)
            await provision(nc.jetstream(), ProvisionSpec(replicas=1, duplicate_window_s=600, kv_bucket=""))
            await nc.close()
            ledger = Ledger(Path(tmp) / "ledger.db").open()
            fill(ledger, args.n)
            entries = ledger.entries_since(0, args.n)
            sync = await raw_sync(server.url, entries[: min(2000, args.n)])
            windowed = await raw_async(server.url, entries, args.window)
            relay = await relay_rate(server.url, ledger, args.n, args.window)
            ledger.close()
        finally:
            server.kill()
    print(f"nats-server {'sync_interval=always' if args.sync_always else 'default sync'}, {args.n} entries, window {args.window}")
    print(f"{'raw js.publish (sync, acked each)':<40} {sync:>10.0f} msg/s")
    print(f"{'raw js.publish_async (windowed)':<40} {windowed:>10.0f} msg/s")
    print(f"{'relay catch-up from the ledger':<40} {relay:>10.0f} msg/s")
    print(f"{'ratio relay / raw windowed':<40} {relay / windowed:>10.2f}x")


def main() -> None:
    """Entry point for ``python -m bench`` and direct runs."""
    asyncio.run(amain())


if __name__ == "__main__":
    main()
