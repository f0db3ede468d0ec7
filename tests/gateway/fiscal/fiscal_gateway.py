"""A gateway with the fiscal component (software TSE) and a non-cash payment method, for integration tests."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.tse.software import SoftwareTse
from gateway.app import Gateway
from gateway.config import Config
from gateway.fiscal.service import FiscalService, TseConfig, install
from tests.conftest import load_products

CLIENT = "KASSE-01"
PEN, CHOC, APPLES = "4006381333931", "4000417025005", "1001"  # 1.99 @19 %, 1.19 @7 %, 2.49/kg @7 %


class FakeCard:
    """A non-cash method that always approves (DSFinV-K type ECKarte)."""

    name = "card"
    is_cash = False
    dsfinvk_type = "ECKarte"

    async def charge(self, amount: int, ref: str) -> dict[str, Any]:
        """Approve."""
        return {"terminal": "fake", "amount": amount}

    async def refund(self, amount: int, ref: str, original: dict[str, Any] | None) -> dict[str, Any]:
        """Approve."""
        return {"terminal": "fake", "refund": amount}


@dataclass
class FiscalGateway:
    """The started gateway, its fiscal component and the software TSE."""

    gw: Gateway
    svc: FiscalService
    tse: SoftwareTse


def tse_config() -> TseConfig:
    """Software TSE in demo mode; recovery only when a test asks for it."""
    return TseConfig(enabled=True, mode="demo", type="software", client_id=CLIENT, recover_interval_s=3600)


async def start_gateway(data_dir: Path, products: bool = True) -> FiscalGateway:
    """Build, open and start a gateway with the fiscal component on a random port."""
    cfg = Config({}).with_section(tse_config())
    gw = Gateway(cfg, data_dir)
    tse = SoftwareTse(data_dir / "tse")
    svc = install(gw, cfg.get(TseConfig), tse)
    gw.payments.register(FakeCard())
    gw.open()
    if products:
        load_products(gw)
    await gw.start("127.0.0.1", 0)
    return FiscalGateway(gw, svc, tse)


async def wait_entry(gw: Gateway, type_: str, aggregate: str, timeout: float = 5.0) -> dict[str, Any]:
    """The first journal entry of ``type_`` on ``aggregate``, waiting for it to be written."""
    async with asyncio.timeout(timeout):
        while True:
            raw = gw.ledger.query_one("SELECT payload FROM journal WHERE type=? AND aggregate=? ORDER BY seq LIMIT 1",
                                      (type_, aggregate))
            if raw is not None:
                return dict(json.loads(raw))
            await asyncio.sleep(0.01)


def journal_types(gw: Gateway) -> list[str]:
    """Entry types in order."""
    return [r[0] for r in gw.ledger.query("SELECT type FROM journal ORDER BY seq")]
