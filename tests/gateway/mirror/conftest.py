"""Fixtures for the HQ link tests: a real nats-server per test and helpers to build a store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.bus import Bus
from gateway.config import StoreConfig
from gateway.hq.provision import ProvisionSpec, provision
from gateway.hq.tools import read_stream
from gateway.ledger import Ledger, Txn
from gateway.mirror import HqConfig, HqLink, InboundHandlers
from gateway.mirror.subjects import H_MSG_ID, H_SEQ
from tests.gateway.mirror.harness import NatsServer, client


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A JetStream server on a random loopback port, file storage in tmp_path."""
    srv = NatsServer(tmp_path / "nats")
    srv.start()
    try:
        await srv.wait_ready()
        yield srv
    finally:
        srv.kill()


async def provision_hq(url: str, stores: list[tuple[str, str]] | None = None) -> None:
    """Create the link's streams on a single test server."""
    nc = await client(url)
    try:
        await provision(nc.jetstream(), ProvisionSpec(replicas=1, duplicate_window_s=600, stores=stores or []))
    finally:
        await nc.close()


STORE = StoreConfig(id="s1", zone="z1")


def hq_config(url: str, **kw: Any) -> HqConfig:
    """An enabled ``[hq]`` section for tests: fast pings, short timeouts."""
    base = HqConfig(enabled=True, urls=[url], connect_timeout_s=1, ping_interval_s=1, max_outstanding_pings=2, reconnect_wait_s=1, ack_timeout_s=2, fetch_wait_s=1, status_interval_s=1)
    return replace(base, **kw)


class Store:
    """A ledger plus its HQ link, as the gateway would wire them."""

    def __init__(
        self,
        path: Path,
        url: str,
        handlers: InboundHandlers | None = None,
        before_open: Callable[[Store], Any] | None = None,
        store: StoreConfig = STORE,
        **cfg: Any,
    ) -> None:
        self.bus = Bus()
        self.ledger = Ledger(path, self.bus)
        self.link = HqLink(hq_config(url, **cfg), store, self.ledger, self.bus, handlers)
        self.extra = before_open(self) if before_open else None
        self.ledger.open()

    async def sell(self, n: int, per_txn: int = 200) -> None:
        """Append ``n`` sale.finished entries."""
        done = 0
        while done < n:
            k = min(per_txn, n - done)
            start = self.ledger.last_seq

            def fn(txn: Txn, start: int = start, k: int = k) -> None:
                for i in range(start + 1, start + k + 1):
                    txn.append("sale.finished", f"sale:{i}", {"receipt_no": i, "totals": {"gross": 100 + i % 7}})

            await self.ledger.write(fn)
            done += k

    async def close(self) -> None:
        """Stop the link and close the ledger."""
        await self.link.stop()
        self.ledger.close()


async def hq_seqs(url: str, store_id: str = "s1") -> list[int]:
    """Ledger seqs of ``store_id`` in HQ's STORE_EVENTS, in stream order; checks the msg id too."""
    nc = await client(url)
    out = []
    try:
        async for m in read_stream(nc.jetstream(), f"store.{store_id}.evt.>"):
            h = m.headers or {}
            seq = int(h[H_SEQ])
            assert h[H_MSG_ID] == f"{store_id}:{seq}"
            out.append(seq)
    finally:
        await nc.close()
    return out


async def wait_until(pred: Callable[[], bool], within: float, step: float = 0.05) -> None:
    """Poll ``pred`` until true; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            if pred():
                return
            await asyncio.sleep(step)
