"""Fixtures for the omnichannel services: a gateway with the omni component and an in-memory HQ that can go offline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import Config
from gateway.ledger import Txn
from gateway.omni.component import OmniComponent
from gateway.omni.hq import HqRejected
from tests.conftest import LiveGateway, load_products
from tests.gateway.mirror.conftest import nats_server  # noqa: F401 - the real NATS server fixture, shared

PEN = "4006381333931"  # 1.99, 19 %
CHOC = "4000417025005"  # 1.19, 7 %
GUM = "40084015"  # 0.99, 19 %
APPLES = "1001"  # 2.49/kg


@dataclass
class FakeHq:
    """HQ's side of request/reply: authoritative voucher and loyalty balances, online orders; idempotent on ``ref``."""

    online: bool = True
    vouchers: dict[str, int] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((op, body))
        if not self.online:
            raise ConnectionRefusedError("HQ down")
        if op == "order.lookup":
            if body["order_id"] not in self.orders:
                raise HqRejected("unknown order")
            return self.orders[body["order_id"]]
        if op == "customer.history":
            return {"purchases": [{"channel": "online", "order_id": "W-1", "gross": 1999}]}
        if op.startswith("voucher."):
            code = body["code"]
            if code not in self.vouchers:
                raise HqRejected("unknown voucher")
            if op == "voucher.balance":
                return {"balance": self.vouchers[code], "state": "active"}
            ref = body["ref"]
            if op == "voucher.redeem":
                if ref not in self.seen:
                    if body["amount"] > self.vouchers[code]:
                        raise HqRejected(f"balance {self.vouchers[code]} is too low")
                    self.vouchers[code] -= body["amount"]
                    self.seen[ref] = body["amount"]
            elif op == "voucher.refund" and self.seen.pop(ref, None) is not None:
                self.vouchers[code] += body["amount"]
            return {"balance": self.vouchers[code]}
        cust = body["customer"]
        bal = self.points.setdefault(cust, 0)
        if op == "loyalty.balance":
            return {"balance": bal}
        if body["ref"] not in self.seen:
            delta = body["points"] if op == "loyalty.earn" else -body["points"]
            if bal + delta < 0:
                raise HqRejected("not enough points")
            self.points[cust] = bal + delta
            self.seen[body["ref"]] = delta
        return {"balance": self.points[cust]}


@dataclass
class Omni:
    """A gateway with the omni component, not serving HTTP."""

    gw: Gateway
    omni: OmniComponent
    hq: FakeHq

    async def hq_push(self, fn: Callable[[Txn, dict[str, Any]], None], message: dict[str, Any]) -> None:
        """Apply an HQ message as the inbound consumer would: inside one ledger transaction."""

        def apply(txn: Txn) -> None:
            fn(txn, message)

        await self.gw.ledger.write(apply)

    def level(self, code: str) -> dict[str, Any]:
        """Stock level of a product."""
        return self.omni.stock.levels([code])[0]

    async def receive(self, code: str, qty: int) -> None:
        """Goods receipt."""
        await self.omni.stock.adjust([{"code": code, "qty": qty}], "receipt", "test")


def build(data: Path, hq: FakeHq, **omni_cfg: Any) -> tuple[Gateway, OmniComponent]:
    """A gateway on ``data`` with the omni component attached (ledger not yet opened)."""
    from gateway.omni.config import OmniConfig

    gw = Gateway(Config({}), data, demo=True)
    omni = OmniComponent(gw, OmniConfig(**omni_cfg), hq)
    gw.add_component(omni)
    return gw, omni


@pytest.fixture
async def om(tmp_path: Path) -> AsyncIterator[Omni]:
    """Gateway + omni component with the test catalog, HQ online."""
    hq = FakeHq()
    gw, omni = build(tmp_path / "data", hq)
    gw.open()
    load_products(gw)
    yield Omni(gw, omni, hq)
    gw.ledger.close()


@pytest.fixture
async def olive(tmp_path: Path) -> AsyncIterator[tuple[LiveGateway, Omni]]:
    """A started gateway with the omni API on a random port and tokens per role."""
    from gateway.omni import api as omni_api

    hq = FakeHq()
    gw, omni = build(tmp_path / "data", hq)
    gw.extra_apis.append(omni_api.api)
    gw.open()
    load_products(gw)
    tokens = {role: gw.clients.add(f"t-{role}", role) for role in ("cashier", "manager", "technician", "admin")}
    await gw.start("127.0.0.1", 0)
    async with aiohttp.ClientSession() as session:
        yield LiveGateway(gw, f"http://127.0.0.1:{gw.http_port}", tokens, session), Omni(gw, omni, hq)
    await gw.stop()
