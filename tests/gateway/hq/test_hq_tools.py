"""HQ tools against a real nats-server: provision settings, push, tail, report, dead letters; mirror status."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.config import StoreConfig
from gateway.hq import cli as hq_cli
from gateway.hq.provision import ProvisionSpec, provision
from gateway.hq.tools import sales_report
from gateway.ledger import Txn
from gateway.mirror import cli as mirror_cli
from gateway.mirror.subjects import HQ_TO_STORE, STORE_EVENTS
from tests.gateway.mirror.conftest import Store, provision_hq, wait_until
from tests.gateway.mirror.harness import NatsServer, client


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="storegw")
    p.add_argument("--data-dir", default="/nonexistent")
    sub = p.add_subparsers(dest="command", required=True)
    hq_cli.add_parser(sub)
    mirror_cli.add_parser(sub)
    return p


async def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run one ``storegw`` command (it owns its own event loop, so in a thread)."""
    args = parser().parse_args(argv)
    rc = await asyncio.wait_for(asyncio.to_thread(args.func, args), 20)
    return rc, capsys.readouterr().out


async def test_provision_durable_settings_and_is_idempotent(nats_server: NatsServer) -> None:
    nc = await client(nats_server.url)
    try:
        js = nc.jetstream()
        spec = ProvisionSpec(replicas=1, duplicate_window_s=3 * 3600, stores=[("s1", "north")])
        first = await provision(js, spec)
        assert "stream STORE_EVENTS: created" in first and "stream HQ_TO_STORE: created" in first
        assert "stream STORE_EVENTS: updated" in await provision(js, spec)
        si = await js.stream_info(STORE_EVENTS)
        c = si.config
        assert c.subjects == ["store.*.evt.>"] and c.storage == "file"
        assert c.duplicate_window == 3 * 3600 and c.num_replicas == 1 and c.deny_delete
        assert c.max_age == 400 * 86400
        h = (await js.stream_info(HQ_TO_STORE)).config
        assert h.subjects == ["hq.>"] and h.storage == "file"
        ci = await js.consumer_info(HQ_TO_STORE, "store-s1")
        assert ci.config.filter_subjects == ["hq.store.s1.>", "hq.zone.north.>", "hq.all.>"]
        assert ci.config.durable_name == "store-s1"
        kv = await js.key_value("store_config")
        st = await kv.status()
        assert st.history == 10
    finally:
        await nc.close()


SALE_LINES = [{"line": 1, "code": "4001", "qty_milli": 2000, "amount": 398}, {"line": 2, "code": "4002", "qty_milli": 1000, "amount": 129, "voided": True}]


async def sell(store: Store, sales: list[dict[str, Any]]) -> None:
    def fn(txn: Txn) -> None:
        for s in sales:
            txn.append(s.pop("type", "sale.finished"), f"sale:{s['receipt_no']}", s)

    await store.ledger.write(fn)


async def test_push_tail_report_dead_letters_and_status(tmp_path: Path, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    await provision_hq(nats_server.url)
    url = ["--hq-url", nats_server.url]
    s1 = Store(tmp_path / "s1.db", nats_server.url)
    s2 = Store(tmp_path / "s2.db", nats_server.url, store=StoreConfig(id="s2", zone="z1"))
    try:
        await sell(s1, [
            {"receipt_no": 1, "totals": {"gross": 398}, "lines": SALE_LINES},
            {"receipt_no": 2, "totals": {"gross": 1000}, "lines": []},
            {"receipt_no": 3, "totals": {"gross": 500}, "training": True},
            {"type": "sale.voided", "receipt_no": 4, "original": 2, "totals": {"gross": -1000}, "lines": []},
        ])
        await sell(s2, [{"receipt_no": 1, "totals": {"gross": 250}, "channel": "click_collect"}])

        # push: a file with two messages for s1 and one malformed message straight onto the stream
        f = tmp_path / "msgs.json"
        f.write_text(json.dumps([
            {"type": "price_list", "version": 1, "mode": "delta", "items": [{"code": "4001", "price": 189}]},
            {"type": "order", "version": 1, "order_id": "w1", "lines": [{"code": "4001", "qty": 1, "price": 189}], "total": 189, "paid": True},
        ]))
        rc, out = await run_cli(["hq", "push", str(f), "--store", "s1", *url], capsys)
        assert rc == 0 and "hq.store.s1.price_list stream_seq=1" in out and "hq.store.s1.order stream_seq=2" in out
        rc, out = await run_cli(["hq", "push", str(f), "--store", "s1", *url], capsys)
        assert out.count("(duplicate, already stored)") == 2
        bad = tmp_path / "bad.json"
        bad.write_text('{"type": "order", "version": 1, "order_id": "x"}')
        rc, out = await run_cli(["hq", "push", str(bad), "--store", "s1", *url], capsys)
        assert rc == 2
        nc = await client(nats_server.url)
        try:
            await nc.jetstream().publish("hq.store.s1.order", b"garbage")
        finally:
            await nc.close()

        await s1.link.start()
        await s2.link.start()
        assert s1.link.relay is not None and s2.link.relay is not None
        r1, r2 = s1.link.relay, s2.link.relay
        await wait_until(lambda: s1.link.inbox.applied == 2 and s1.link.inbox.dead == 1, 10)
        await wait_until(lambda: r1.acked == s1.ledger.last_seq == 7 and r2.acked == 1, 10)

        report = await _report(nats_server.url)
        rows = {(r["store"], r["channel"]): r for r in report.table()}
        assert rows[("s1", "store")]["sales"] == 2 and rows[("s1", "store")]["voids_returns"] == 1
        assert rows[("s1", "store")]["gross_cents"] == 398 + 1000 - 1000
        assert rows[("s2", "click_collect")]["gross_cents"] == 250
        products = {k[2]: v for k, v in report.products.items()}
        assert products == {"4001": {"qty_milli": 2000, "gross_cents": 398}}

        rc, out = await run_cli(["hq", "report", "--json", *url], capsys)
        assert rc == 0 and json.loads(out)["events"] == 4
        rc, out = await run_cli(["hq", "tail", "--store", "s1", "--count", "3", *url], capsys)
        lines = out.strip().splitlines()
        assert len(lines) == 3 and " s1 " in lines[0] and "sale.finished" in lines[0]
        rc, out = await run_cli(["hq", "dead-letters", *url], capsys)
        assert "s1" in out and "hq_seq=3" in out and "not valid JSON" in out

        await s1.link.stop()
        rc, out = await run_cli(["mirror", "status", "--db", str(tmp_path / "s1.db"), "--json"], capsys)
        st = json.loads(out)
        assert st["backlog"] == 0 and st["acked_seq"] == 7 and st["inbound_applied"] == 2 and st["dead_letters"] == 1
        assert st["recent_dead_letters"][0]["stream_seq"] == 3
    finally:
        await s1.close()
        await s2.close()


async def _report(url: str) -> Any:
    nc = await client(url)
    try:
        return await sales_report(nc.jetstream(), tz="UTC")
    finally:
        await nc.close()
