"""Shared fixtures: a gateway running in-process on a random port, with tokens per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import Config
from gateway.pos.catalog import Catalog, Product

PRODUCTS = [
    Product("4006381333931", "Kugelschreiber blau", 1, 199, "piece", "Büro"),
    Product("4000417025005", "Vollmilchschokolade 100g", 2, 119, "piece", "Süßwaren"),
    Product("40084015", "Kaugummi", 1, 99, "piece", "Süßwaren"),
    Product("1001", "Äpfel Elstar", 2, 249, "kg", "Obst"),
    Product("4311501490086", "Mineralwasser 1,5l", 1, 49, "piece", "Getränke"),
]


def load_products(gw: Gateway, products: list[Product] = PRODUCTS) -> None:
    """Put products into the catalog directly."""

    def fn(txn: Any) -> None:
        Catalog.upsert(txn, products)

    gw.ledger.write_sync(fn)


@dataclass
class LiveGateway:
    """A started gateway plus an HTTP session and tokens per role."""

    gw: Gateway
    url: str
    tokens: dict[str, str]
    session: aiohttp.ClientSession

    def auth(self, role: str = "cashier") -> dict[str, str]:
        """Authorization header for a role."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def call(self, method: str, path: str, role: str | None = "cashier", json: Any = None,
                   headers: dict[str, str] | None = None, data: Any = None) -> tuple[int, Any, str]:
        """``(status, body, content_type)`` of one request."""
        h = dict(self.auth(role) if role else {})
        h.update(headers or {})
        async with self.session.request(method, self.url + path, json=json, data=data, headers=h) as resp:
            ctype = resp.content_type
            body = await resp.json(content_type=None) if "json" in ctype else await resp.text()
            return resp.status, body, ctype


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveGateway]:
    """A gateway on a random port with the test catalog and a token for every role."""
    gw = Gateway(Config({}), tmp_path / "data", demo=True)
    gw.open()
    load_products(gw)
    tokens = {role: gw.clients.add(f"t-{role}", role) for role in ("cashier", "manager", "technician", "admin")}
    await gw.start("127.0.0.1", 0)
    async with aiohttp.ClientSession() as session:
        yield LiveGateway(gw, f"http://127.0.0.1:{gw.http_port}", tokens, session)
    await gw.stop()
