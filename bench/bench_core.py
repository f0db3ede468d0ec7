"""Core throughput and latency: sales/s (service layer, HTTP) against raw SQLite inserts; product lookups at 1M products.

Figures printed:

- raw SQLite: one ``INSERT`` of a journal-sized row per transaction, WAL, ``synchronous=FULL`` (the
  ledger's pragmas) - the upper bound a durable one-commit-per-sale design can reach on this disk;
- service layer: ``SaleService.finish`` with one-shot lines and cash, each sale one durable commit;
- HTTP: ``POST /api/v1/sales`` with an ``Idempotency-Key`` against the real daemon, one client and
  8 concurrent clients;
- lookups over HTTP with 1,000,000 products: ``GET /api/v1/products?q=WORD`` and ``/products/{code}``.

Environment: ``BENCH_SECONDS`` (per throughput phase, default 5), ``BENCH_PRODUCTS`` (default
1000000), ``BENCH_LOOKUPS`` (requests per lookup kind, default 2000).
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.daemon import Daemon, add_client, import_products, percentile
from gateway.app import Gateway
from gateway.config import Config
from gateway.demo import gtin13, sample_products
from gateway.ledger.store import now_iso

SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "1000000"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "2000"))
CONCURRENCY = 8
SLICE = 0.25
WORDS = ["milch", "butter", "käse", "brot", "apfel", "birne", "saft", "wasser", "kaffee", "tee", "zucker", "mehl", "reis",
         "nudeln", "wurst", "schinken", "joghurt", "quark", "sahne", "bier", "wein", "seife", "shampoo", "creme", "tomate",
         "gurke", "paprika", "zwiebel", "kartoffel", "banane", "orange", "zitrone", "honig", "senf", "ketchup", "öl"]
ADJECTIVES = ["bio", "frisch", "classic", "premium", "light", "regional", "xxl", "family", "mini", "extra", "vegan", "fein"]


def pieces() -> list[dict[str, Any]]:
    """The demo catalog's piece goods as API dicts."""
    return [p.to_dict() for p in sample_products() if p.unit == "piece"]


def sale_lines(rng: random.Random, catalog: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Three lines of a typical small basket."""
    return [{"code": p["code"], "qty": rng.randint(1, 3)} for p in rng.sample(catalog, 3)]


CASH = [{"method": "cash", "amount": 100_000}]


# ---------------------------------------------------------------------------- service layer vs raw


class RawInserts:
    """Same-size rows inserted one transaction each, with the ledger's pragmas: the disk's durable-commit rate."""

    def __init__(self, path: Path, row_bytes: int) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, type TEXT NOT NULL,"
                          " aggregate TEXT NOT NULL, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)")
        fixed = len(now_iso()) + len("sale.finished") + len("receipt:12345") + 64 + 64
        self.payload = "x" * max(1, row_bytes - fixed)

    def insert(self) -> None:
        """One durable insert."""
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO journal(ts, type, aggregate, payload, prev_hash, hash) VALUES (?,?,?,?,?,?)",
                          (now_iso(), "sale.finished", "receipt:12345", self.payload, "0" * 64, "1" * 64))
        self.conn.execute("COMMIT")


async def service_vs_raw(root: Path, tills: int = 1) -> tuple[float, int, float, int, int, float]:
    """Sales/s through ``SaleService.finish`` and raw inserts/s, measured in alternating slices.

    The disk's fsync rate drifts with whatever else the machine does; alternating short slices of
    both loads exposes them to the same conditions, and the median of the per-slice ratios is
    robust against bursts of foreign I/O.
    Returns (service rate, service n, raw rate, raw n, journal row bytes, median slice ratio).
    """
    from gateway.pos.catalog import Catalog

    gw = Gateway(Config({}), root / f"svc{tills}")
    gw.open()
    try:
        gw.ledger.write_sync(lambda txn: Catalog.upsert(txn, sample_products()))
        catalog = pieces()
        rng = random.Random(1)
        for _ in range(20):  # warm-up: caches, first pages of the WAL
            await gw.sales.finish(cashier="bench", lines=sale_lines(rng, catalog), payments=CASH)
        size = int(gw.ledger.query_one(
            "SELECT AVG(LENGTH(ts) + LENGTH(type) + LENGTH(aggregate) + LENGTH(payload) + LENGTH(prev_hash) + LENGTH(hash))"
            " FROM journal WHERE type='sale.finished'"))
        raw = RawInserts(root / f"raw{tills}.db", size)
        for _ in range(20):
            raw.insert()
        svc_n = raw_n = 0
        svc_t = raw_t = 0.0
        ratios: list[float] = []
        for _ in range(max(1, int(SECONDS / (2 * SLICE)))):
            t0 = time.perf_counter()
            n = 0

            async def till(t0: float = t0) -> None:
                nonlocal n
                while time.perf_counter() - t0 < SLICE:
                    await gw.sales.finish(cashier="bench", lines=sale_lines(rng, catalog), payments=CASH)
                    n += 1

            # Several tills selling at once share fsyncs through the ledger's group commit.
            await asyncio.gather(*(till() for _ in range(tills)))
            t1 = time.perf_counter()
            m = 0
            while time.perf_counter() - t1 < SLICE:
                raw.insert()
                m += 1
            t2 = time.perf_counter()
            svc_n, svc_t, raw_n, raw_t = svc_n + n, svc_t + t1 - t0, raw_n + m, raw_t + t2 - t1
            ratios.append((n / (t1 - t0)) / (m / (t2 - t1)))
        raw.conn.close()
        return svc_n / svc_t, svc_n, raw_n / raw_t, raw_n, size, statistics.median(ratios)
    finally:
        gw.ledger.close()


# ---------------------------------------------------------------------------- HTTP


async def http_sales(base: str, token: str, clients: int) -> tuple[float, int, float]:
    """Sales/s over HTTP with ``clients`` concurrent sequential posters; also p99 latency in ms."""
    catalog = pieces()
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    count = 0

    async def poster(session: aiohttp.ClientSession, seed: int, end: float) -> None:
        nonlocal count
        rng = random.Random(seed)
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            async with session.post(f"{base}/api/v1/sales", json={"lines": sale_lines(rng, catalog), "payments": CASH},
                                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex}) as r:
                await r.read()
                if r.status != 201:
                    raise RuntimeError(f"sale failed: {r.status}")
            latencies.append(time.perf_counter() - t0)
            count += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(poster(session, i, time.perf_counter() + 1.0) for i in range(clients)))  # warm-up
        count, latencies = 0, []
        start = time.perf_counter()
        await asyncio.gather(*(poster(session, 100 + i, start + SECONDS) for i in range(clients)))
        elapsed = time.perf_counter() - start
    return count / elapsed, count, percentile(latencies, 99) * 1000


# ---------------------------------------------------------------------------- 1M products


def load_million(data_dir: Path, count: int) -> tuple[list[str], float]:
    """Insert ``count`` products in one transaction with raw SQL; returns a sample of their codes and the seconds.

    Rows go in with ``executemany``; the FTS index is rebuilt once at the end instead of row by row
    through the insert trigger (the trigger is dropped and re-created inside the same transaction,
    so the schema afterwards is exactly the catalog's).
    """
    gw = Gateway(Config({}), data_dir)
    gw.open()
    gw.ledger.close()
    rng = random.Random(7)
    sample: list[str] = []
    now = now_iso()

    def rows() -> Any:
        for i in range(count):
            code = gtin13(f"2{i:011d}")
            if i % max(1, count // 5000) == 0:
                sample.append(code)
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(WORDS)} {rng.choice(WORDS)} {rng.randint(1, 999)}g"
            yield code, name, 1 + (i & 1), 50 + i % 2000, "piece", WORDS[i % len(WORDS)], now

    started = time.perf_counter()
    conn = sqlite3.connect(data_dir / "ledger.db", isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        trig = conn.execute("SELECT sql FROM sqlite_master WHERE type='trigger' AND name='products_ai'").fetchone()[0]
        conn.execute("DROP TRIGGER products_ai")
        conn.executemany("INSERT INTO products(code, name, vat_id, price, unit, grp, updated) VALUES (?,?,?,?,?,?,?)", rows())
        conn.execute("INSERT INTO products_fts(products_fts) VALUES ('rebuild')")
        conn.execute(trig)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return sample, time.perf_counter() - started


async def lookups(base: str, token: str, codes: list[str]) -> dict[str, tuple[float, float, int]]:
    """p50/p99 (ms) and hit count of sequential lookups by name word, by code prefix and by exact code."""
    rng = random.Random(3)
    headers = {"Authorization": f"Bearer {token}"}
    kinds: dict[str, list[str]] = {
        "search ?q=word": [f"/api/v1/products?q={rng.choice(WORDS)}" for _ in range(LOOKUPS)],
        "search ?q=two words": [f"/api/v1/products?q={rng.choice(ADJECTIVES)}+{rng.choice(WORDS)[:3]}" for _ in range(LOOKUPS)],
        "search ?q=code prefix": [f"/api/v1/products?q={rng.choice(codes)[:8]}" for _ in range(LOOKUPS)],
        "exact /products/{code}": [f"/api/v1/products/{rng.choice(codes)}" for _ in range(LOOKUPS)],
    }
    out: dict[str, tuple[float, float, int]] = {}
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(200):  # warm-up: connection, page cache
            async with session.get(base + kinds["search ?q=word"][0]) as r:
                await r.read()
        for kind, urls in kinds.items():
            lat: list[float] = []
            hits = 0
            for url in urls:
                t0 = time.perf_counter()
                async with session.get(base + url) as r:
                    body = await r.json()
                lat.append(time.perf_counter() - t0)
                if r.status != 200:
                    raise RuntimeError(f"{url}: {r.status} {body}")
                hits += 1 if "code" in body else int(bool(body["products"]))
            out[kind] = (percentile(lat, 50) * 1000, percentile(lat, 99) * 1000, hits)
    return out


def main() -> None:
    """Run every phase and print the table."""
    with tempfile.TemporaryDirectory(prefix="storegw-bench-") as tmp:
        root = Path(tmp)
        print(f"bench_core: {SECONDS:g} s per throughput phase, {os.cpu_count()} CPUs, data in {root}", flush=True)
        svc_rate, svc_n, raw_rate, raw_n, row_bytes, ratio = asyncio.run(service_vs_raw(root))
        print(f"raw SQLite inserts ({row_bytes} B rows, WAL, synchronous=FULL, 1 txn each): {raw_rate:8.1f}/s  (n={raw_n})")
        print(f"service layer SaleService.finish (3 lines, cash), 1 till alone:  {svc_rate:8.1f}/s  (n={svc_n})")
        print(f"ratio service(1 till)/raw: {ratio:.0%} median of {SLICE:g} s slice pairs, {svc_rate / raw_rate:.0%} overall "
              f"({'>=' if ratio >= 0.5 else 'below'} 50 %: one sale at a time, bound by its latency, not the layer's capacity)",
              flush=True)
        svc4, svc4_n, raw4, _raw4_n, _, ratio4 = asyncio.run(service_vs_raw(root, tills=4))
        print(f"service layer, 4 tills selling at once (group commit):           {svc4:8.1f}/s  (n={svc4_n})")
        print(f"ratio service(4 tills)/raw: {ratio4:.0%} median, {svc4 / raw4:.0%} overall "
              f"(commit throughput target >= 50 %: {'met' if ratio4 >= 0.5 else 'MISSED'})", flush=True)

        http_dir = root / "http"
        import_products(http_dir, pieces())
        token = add_client(http_dir, "bench")
        with Daemon(http_dir) as d:
            seq_rate, seq_n, seq_p99 = asyncio.run(http_sales(d.base, token, 1))
            print(f"HTTP POST /api/v1/sales, 1 client:  {seq_rate:8.1f}/s  (n={seq_n}, p99 {seq_p99:.1f} ms, "
                  f"{seq_rate / raw_rate:.0%} of raw)", flush=True)
            con_rate, con_n, con_p99 = asyncio.run(http_sales(d.base, token, CONCURRENCY))
            print(f"HTTP POST /api/v1/sales, {CONCURRENCY} clients: {con_rate:8.1f}/s  (n={con_n}, p99 {con_p99:.1f} ms, "
                  f"{con_rate / raw_rate:.0%} of raw)", flush=True)

        big = root / "big"
        codes, load_s = load_million(big, PRODUCTS)
        print(f"loaded {PRODUCTS:,} products in {load_s:.1f} s (executemany + one FTS rebuild)", flush=True)
        token = add_client(big, "bench")
        with Daemon(big) as d:
            res = asyncio.run(lookups(d.base, token, codes))
        print(f"product lookups over HTTP, {PRODUCTS:,} products, {LOOKUPS} sequential requests each (target p99 <= 5 ms):")
        for kind, (p50, p99, hits) in res.items():
            print(f"  {kind:<24} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   {'met' if p99 <= 5 else 'MISSED'}  ({hits} with results)")


if __name__ == "__main__":
    main()
