"""Card payments through the ZVT simulator over real TCP: approve, decline, reversal, recovery, retries."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drivers.zvt.simulator import ZvtSimulator
from gateway.app import Gateway
from gateway.config import Config
from gateway.errors import Conflict, GatewayError
from gateway.idempotency import IdemKey
from gateway.netutil import free_port
from gateway.payments.card import CardMethod, PaymentDeclined, ZvtConfig, install
from tests.conftest import load_products

LINES = [{"code": "4006381333931", "qty": 2}]  # 3.98 EUR


@pytest.fixture
async def card(tmp_path: Path) -> AsyncIterator[tuple[Gateway, ZvtSimulator, CardMethod]]:
    sim = ZvtSimulator()
    port = await sim.start_tcp("127.0.0.1", 0)
    gw = Gateway(Config({}), tmp_path)
    method = install(gw, ZvtConfig(enabled=True, port=port, t3_s=2, t4_s=20))
    gw.open()
    load_products(gw)
    yield gw, sim, method
    await sim.stop()
    gw.ledger.close()


def booked(sim: ZvtSimulator) -> list[Any]:
    return [e for e in sim.journal.entries.values() if e.kind == "payment" and e.state == "booked"]


async def test_card_sale_approved_with_progress(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    gw, sim, _ = card
    sim.push("slow:2")
    sub = gw.bus.subscribe("device.*.evt.progress")
    r = await asyncio.wait_for(gw.sales.finish(cashier="c", lines=LINES, payments=[{"method": "card", "amount": 398}]), 30)
    pay = r["payments"][0]
    assert pay["method"] == "card" and pay["amount"] == 398
    assert pay["details"]["receipt_number"] == 1 and pay["details"]["amount_cents"] == 398
    assert len(booked(sim)) == 1
    assert not sub.queue.empty()
    types = [row[0] for row in gw.ledger.query("SELECT type FROM journal ORDER BY seq")]
    assert types == ["payment.intent", "payment.authorized", "sale.finished"]


async def test_declined_card_commits_no_sale(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    gw, sim, _ = card
    sim.push("decline:05")
    with pytest.raises(PaymentDeclined) as info:
        await asyncio.wait_for(gw.sales.finish(cashier="c", lines=LINES, payments=[{"method": "card", "amount": 398}]), 30)
    assert info.value.status == 402
    assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.finished'") == 0
    assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='payment.declined'") == 1


async def test_split_payment_and_void_reverses_card(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    gw, sim, _ = card
    r = await asyncio.wait_for(gw.sales.finish(cashier="c", lines=LINES, payments=[{"method": "card", "amount": 200},
                                                                                    {"method": "cash", "amount": 500}]), 30)
    assert r["change"] == 302 and r["payments"][1]["amount"] == 198
    v = await asyncio.wait_for(gw.sales.void(r["receipt_no"], cashier="m"), 30)
    assert v["totals"]["gross"] == -398
    reversals = [e for e in sim.journal.entries.values() if e.kind == "reversal"]
    assert len(reversals) == 1
    assert gw.sales.cash_balance() == 0


async def test_retry_after_failed_commit_adopts_authorization(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    gw, sim, _ = card
    failures = [1]

    async def flaky_tse(kind: str, draft: dict[str, Any]) -> dict[str, Any] | None:
        if failures:
            failures.pop()
            raise GatewayError("signing unit crashed")
        return None

    gw.sales.sign_hooks.append(flaky_tse)
    body = {"lines": LINES, "payments": [{"method": "card", "amount": 398}]}
    key = IdemKey.make("sale-1", "till", "sale", body)
    with pytest.raises(GatewayError):
        await asyncio.wait_for(gw.sales.finish(cashier="c", idem=key, **body), 30)
    r = await asyncio.wait_for(gw.sales.finish(cashier="c", idem=key, **body), 30)
    assert len(booked(sim)) == 1
    assert r["payments"][0]["details"]["receipt_number"] == 1
    assert gw.ledger.query_one("SELECT used_by FROM card_payments") == r["receipt_no"]


async def test_retry_after_failed_commit_charges_again_once_reversed(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    """A commit that fails after the charge reverses it; the retry must not adopt the reversed one."""
    gw, sim, method = card
    failures = [1]

    def flaky_hook(txn: Any, type_: str, receipt: dict[str, Any]) -> None:
        if failures:
            failures.pop()
            raise Conflict("stock changed meanwhile")

    gw.sales.commit_hooks.append(flaky_hook)
    body = {"lines": LINES, "payments": [{"method": "card", "amount": 398}]}
    key = IdemKey.make("sale-2", "till", "sale", body)
    with pytest.raises(Conflict):
        await asyncio.wait_for(gw.sales.finish(cashier="c", idem=key, **body), 30)
    first = next(iter(sim.journal.entries.values()))
    assert first.kind == "payment" and first.state == "reversed"
    r = await asyncio.wait_for(gw.sales.finish(cashier="c", idem=key, **body), 30)
    assert len(booked(sim)) == 1
    assert r["payments"][0]["details"]["receipt_number"] != first.receipt_number
    assert gw.ledger.query("SELECT state, used_by FROM card_payments WHERE kind='charge' ORDER BY created") == [
        ("reversed", None), ("authorized", r["receipt_no"])]
    assert await method.reverse_orphans() == 0


async def test_disconnect_after_result_is_recovered_as_paid(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    gw, sim, _ = card
    sim.push("disconnect_after_result")
    r = await asyncio.wait_for(gw.sales.finish(cashier="c", lines=LINES, payments=[{"method": "card", "amount": 398}]), 60)
    assert len(booked(sim)) == 1
    assert r["payments"][0]["details"]["receipt_number"] == next(iter(sim.journal.entries))
    assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='payment.recovered'") == 1


async def test_disconnect_before_result_is_not_paid_then_retry(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    gw, sim, _ = card
    sim.push("disconnect_before_result")
    with pytest.raises(GatewayError) as info:
        await asyncio.wait_for(gw.sales.finish(cashier="c", lines=LINES, payments=[{"method": "card", "amount": 398}]), 60)
    assert info.value.status == 503
    assert booked(sim) == []
    r = await asyncio.wait_for(gw.sales.finish(cashier="c", lines=LINES, payments=[{"method": "card", "amount": 398}]), 30)
    assert len(booked(sim)) == 1 and r["receipt_no"] == 1


def _post(url: str, token: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except OSError:  # the gateway was killed while answering
        return 0, {}


def _wait_http(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gateway did not come up")


def test_gateway_sigkill_during_approved_payment_charges_once(tmp_path: Path) -> None:
    """Kill the gateway after the terminal approved but before the sale committed; the retry charges nothing new."""
    zport, hport = free_port(), free_port()
    sim_journal = tmp_path / "terminal.json"
    sim = subprocess.Popen([sys.executable, "-m", "drivers.zvt.simulator", "--port", str(zport), "--journal", str(sim_journal),
                            "--script", "hold:4,approve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f"[zvt]\nenabled = true\nport = {zport}\nt3_s = 2\nt4_s = 30\n")
    data = tmp_path / "data"
    base = [sys.executable, "-m", "gateway.cli", "--config", str(cfg), "--data-dir", str(data)]
    products = tmp_path / "p.csv"
    products.write_text("code,name,vat_id,price,unit\n4006381333931,Pen,1,199,piece\n")
    subprocess.run([*base, "catalog", "import", str(products)], check=True, capture_output=True, timeout=60)
    token = subprocess.run([*base, "clients", "add", "till", "--role", "cashier"], check=True, capture_output=True, text=True,
                           timeout=60).stdout.strip().splitlines()[-1]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    gw = subprocess.Popen([*base, "run", "--http-port", str(hport)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        _wait_http(hport)
        body = {"lines": LINES, "payments": [{"method": "card", "amount": 398}]}
        url = f"http://127.0.0.1:{hport}/api/v1/sales"
        import threading

        result: list[Any] = []
        t = threading.Thread(target=lambda: result.append(_post(url, token, body, "crash-1")), daemon=True)
        t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if sim_journal.exists() and json.loads(sim_journal.read_text())["entries"]:
                break
            time.sleep(0.05)
        assert sim_journal.exists(), "terminal never booked the payment"
        gw.send_signal(signal.SIGKILL)
        gw.wait(timeout=10)
        gw = subprocess.Popen([*base, "run", "--http-port", str(hport)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _wait_http(hport)
        status, receipt = _post(url, token, body, "crash-1")
        assert status == 201, receipt
        entries = json.loads(sim_journal.read_text())["entries"]
        payments = [e for e in entries.values() if e["kind"] == "payment"]
        assert len(payments) == 1, entries
        assert receipt["payments"][0]["details"]["receipt_number"] == payments[0]["receipt_number"]
        status2, again = _post(url, token, body, "crash-1")
        assert again == receipt
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(timeout=20)
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)
    verify = subprocess.run([*base, "ledger", "verify"], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0
    sales = subprocess.run([*base, "ledger", "stats"], capture_output=True, text=True, timeout=60)
    assert json.loads(sales.stdout)["by_type"]["sale.finished"] == 1


async def test_day_close_runs_the_terminal_end_of_day(tmp_path: Path) -> None:
    """Closing the day through the API journals the Z report and the terminal's end-of-day totals."""
    import argparse

    import aiohttp

    from gateway.components import add_components, demo_config, prepare_demo
    from gateway.mqtt.config import MqttConfig

    gw = Gateway(demo_config(Config({}).with_section(MqttConfig(url=""))), tmp_path / "d", demo=True)
    add_components(gw, argparse.Namespace())
    token = prepare_demo(gw)
    load_products(gw)
    await gw.start("127.0.0.1", 0)
    try:
        async with asyncio.timeout(10):
            while gw.components["devices"].get("printer-1").state != "online":  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
        await asyncio.wait_for(gw.sales.finish(cashier="c", lines=LINES, payments=[{"method": "card", "amount": 398}]), 30)
        # the receipt carries the terminal's customer copy; the merchant copy is printed on its own
        sims: Any = gw.components["simulators"]
        async with asyncio.timeout(10):
            while len(sims.printer.sim.jobs) < 2:
                await asyncio.sleep(0.05)
        printed = b"".join(sims.printer.sim.jobs)
        assert "Kundenbeleg".encode("cp858") in printed and "Händlerbeleg".encode("cp858") in printed
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            async with s.post(f"http://127.0.0.1:{gw.http_port}/api/v1/day/close", json={"counted_cash": 0}) as resp:
                body = await resp.json()
                assert resp.status == 201, body
        eod = body["terminal_end_of_day"]
        assert eod["approved"] is True and eod["total_cents"] == 398
        assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='payment.end_of_day'") == 1
        assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='day.closed'") == 1
    finally:
        await gw.stop()


async def test_abort_from_the_client_stops_a_slow_payment(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    gw, sim, method = card
    sim.push("slow:20")
    sale = asyncio.ensure_future(gw.sales.finish(cashier="c", lines=LINES, payments=[{"method": "card", "amount": 398}]))
    async with asyncio.timeout(10):
        while method._active is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert await method.abort() is True
        with pytest.raises(GatewayError):
            await sale
    assert booked(sim) == []
    assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.finished'") == 0
    assert gw.ledger.query_one("SELECT state FROM card_payments") in ("failed", "declined")


async def test_registration_keeps_the_terminal_id(card: tuple[Gateway, ZvtSimulator, CardMethod]) -> None:
    _, sim, method = card
    reg = await asyncio.wait_for(method.register(), 10)
    assert reg["terminal_id"] == sim.config.terminal_id
    assert method.status()["terminal_id"] == sim.config.terminal_id
