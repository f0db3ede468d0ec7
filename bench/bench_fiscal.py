"""Sale commit throughput with software-TSE signing vs without, through the real SaleService.

Each run builds a gateway in a temporary directory (ledger with ``synchronous=FULL``), loads a
small catalog and finishes one-shot cash sales of two lines for a fixed time. The signed run adds
the ``fiscal`` component with the software TSE (two signed, fsynced log messages per sale: Start
and Finish). Printed: sales per second of both runs and their ratio.
Run: ``python bench/bench_fiscal.py [--seconds S]`` (default 8 s per run, well under 60 s in all).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.tse.software import SoftwareTse
from gateway.app import Gateway
from gateway.config import Config
from gateway.fiscal.service import FiscalService, TseConfig
from gateway.pos.catalog import Catalog, Product

PRODUCTS = [Product("1001", "Kaffee", 1, 499, "piece"), Product("1002", "Milch", 2, 119, "piece")]
LINES = [{"code": "1001"}, {"code": "1002", "qty": 2}]
PAYMENTS = [{"method": "cash", "amount": 1000}]


async def run(data_dir: Path, signed: bool, seconds: float) -> tuple[int, float]:
    """Sales finished in ``seconds``; returns (count, elapsed)."""
    cfg = TseConfig(enabled=True, mode="demo", type="software", client_id="BENCH-1", recover_interval_s=3600)
    gw = Gateway(Config({}).with_section(cfg), data_dir)
    gw.open()

    def load(txn: Any) -> None:
        Catalog.upsert(txn, PRODUCTS)

    gw.ledger.write_sync(load)
    svc = None
    if signed:
        svc = FiscalService(gw, cfg, SoftwareTse(data_dir / "tse"))
        svc.install()
        await svc.start()
    try:
        count = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            receipt = await gw.sales.finish(cashier="bench", lines=LINES, payments=PAYMENTS)
            if signed and receipt["tse"].get("failed"):
                raise RuntimeError(f"TSE failed during the benchmark: {receipt['tse']['reason']}")
            count += 1
        return count, time.perf_counter() - t0
    finally:
        if svc is not None:
            await svc.stop()
        gw.ledger.close()


def main(argv: list[str] | None = None) -> int:
    """Run both variants and print sales/s and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="duration of each run")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        plain_n, plain_t = asyncio.run(run(Path(tmp) / "plain", False, args.seconds))
        signed_n, signed_t = asyncio.run(run(Path(tmp) / "signed", True, args.seconds))
    plain, signed = plain_n / plain_t, signed_n / signed_t
    print(f"sale commits without TSE      {plain:8.1f}/s  ({plain_n} in {plain_t:.1f} s)")
    print(f"sale commits with software TSE {signed:7.1f}/s  ({signed_n} in {signed_t:.1f} s)")
    print(f"ratio signed/unsigned          {signed / plain:8.2f}  (each signed sale: {1000 / signed:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
