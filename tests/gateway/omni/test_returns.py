"""Cross-channel returns (online orders in the store, offline rules) and exchanges committed as one transaction."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from drivers.zvt.client import ZvtClient
from drivers.zvt.simulator import ZvtSimulator
from drivers.zvt.transport import TcpTransport
from gateway.errors import Conflict, NotFound, Unavailable
from gateway.idempotency import IdemKey
from gateway.omni.inbound import OmniInbound
from tests.gateway.omni.conftest import CHOC, GUM, PEN, Omni, build

ONLINE = {"order_id": "W-9", "lines": [{"code": PEN, "qty": 3, "price": 150, "vat_id": 1}], "total": 450, "payment": "paypal"}


class ZvtCard:
    """A card method speaking ZVT to the terminal simulator over TCP (refund = ZVT 06 31)."""

    name = "card"
    is_cash = False
    dsfinvk_type = "ECKarte"

    def __init__(self, client: ZvtClient) -> None:
        self.client = client

    async def charge(self, amount: int, ref: str) -> dict[str, Any]:
        r = await self.client.authorize(amount)
        return {"receipt": r.receipt_number, "approved": r.approved}

    async def refund(self, amount: int, ref: str, original: dict[str, Any] | None) -> dict[str, Any]:
        r = await self.client.refund(amount)
        assert r.approved
        return {"receipt": r.receipt_number, "amount": r.amount_cents, "card": r.card_name}


async def test_online_order_return_with_card_refund_through_the_terminal_simulator(om: Omni) -> None:
    sim = ZvtSimulator()
    port = await sim.start_tcp()
    client = ZvtClient(TcpTransport("127.0.0.1", port), password="123456", t3=2.0)
    om.gw.payments.register(ZvtCard(client))
    om.hq.orders["W-9"] = ONLINE
    try:
        async with asyncio.timeout(20):
            r = await om.omni.returns.return_order("W-9", [{"code": PEN, "qty": 2}], cashier="c", refund_method="card")
    finally:
        await client.close()
        await sim.stop()
    assert r["totals"]["gross"] == -300 and r["payments"][0]["details"]["amount"] == 300
    assert r["order_id"] == "W-9" and r["channel"] == "online_return" and r["lines"][0]["unit_price"] == 150
    assert om.level(PEN)["on_hand_milli"] == 2000
    with pytest.raises(Conflict):
        await om.omni.returns.return_order("W-9", [{"code": PEN, "qty": 2}], cashier="c", refund_method="cash")
    with pytest.raises(NotFound):
        await om.omni.returns.return_order("W-404", [{"code": PEN, "qty": 1}], cashier="c")
    r2 = await om.omni.returns.return_order("W-9", [{"code": PEN, "qty": 1}], cashier="c", refund_method="original")
    assert r2["refund"] == "hq" and r2["amount"] == 150 and om.level(PEN)["on_hand_milli"] == 3000
    assert om.gw.sales.cash_balance() == 0


async def test_offline_rules_for_online_returns(om: Omni) -> None:
    om.hq.online = False
    with pytest.raises(Conflict):  # default rule 'local': unknown order
        await om.omni.returns.return_order("W-9", [{"code": PEN, "qty": 1}], cashier="c")
    await om.receive(PEN, 2)
    await om.hq_push(OmniInbound(om.omni).apply_order, {"order_id": "W-1", "lines": [{"code": PEN, "qty": 2, "price": 180}],
                                                         "total": 360, "paid": True, "pickup_code": "1"})
    await om.omni.orders.mark_picked("W-1")
    with pytest.raises(Conflict, match="not handed over"):  # picked but still on the shelf: nothing to refund
        await om.omni.returns.return_order("W-1", [{"code": PEN, "qty": 1}], cashier="c", refund_method="cash")
    await om.omni.orders.hand_over("1")
    r = await om.omni.returns.return_order("W-1", [{"code": PEN, "qty": 1}], cashier="c", refund_method="cash")
    assert r["totals"]["gross"] == -180 and r["hq_confirmed"] is False
    assert om.gw.sales.cash_balance() == -180


async def test_offline_rule_refuse_and_voucher(tmp_path: Any) -> None:
    from tests.conftest import load_products
    from tests.gateway.omni.conftest import FakeHq

    for rule in ("refuse", "voucher"):
        hq = FakeHq(online=False)
        gw, omni = build(tmp_path / rule, hq, online_returns_offline=rule)
        gw.open()
        load_products(gw)
        try:
            if rule == "refuse":
                with pytest.raises(Unavailable):
                    await omni.returns.return_order("W-9", [{"code": PEN, "qty": 1}], cashier="c")
            else:
                with pytest.raises(Conflict):
                    await omni.returns.return_order("W-9", [{"code": PEN, "qty": 1}], cashier="c", refund_method="cash")
                r = await omni.returns.return_order("W-9", [{"code": PEN, "qty": 1}], cashier="c", refund_method="voucher")
                code = r["payments"][0]["details"]["code"]
                assert gw.ledger.query_one("SELECT hq_balance FROM omni_vouchers WHERE code=?", (code,)) == 199
        finally:
            gw.ledger.close()


async def test_exchange_is_one_transaction(om: Omni) -> None:
    sale = await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 2}], payments=[{"method": "cash", "amount": 398}])
    commits = om.gw.ledger.commits
    key = IdemKey.make("x-1", "till", "exchange", {})
    out = await om.omni.returns.exchange(sale["receipt_no"], [{"line": 1, "qty": 1}], [{"code": CHOC, "qty": 2}],
                                         [{"method": "cash", "amount": 238}], cashier="c", idem=key)
    again = await om.omni.returns.exchange(sale["receipt_no"], [{"line": 1, "qty": 1}], [{"code": CHOC, "qty": 2}],
                                           [{"method": "cash", "amount": 238}], cashier="c", idem=key)
    assert again == out  # a retried exchange is done once
    ret, new = out["receipts"]
    assert ret["totals"]["gross"] == -199 and new["totals"]["gross"] == 238 and out["difference"] == 39
    assert om.gw.ledger.commits == commits + 1  # both receipts in one transaction
    assert new["receipt_no"] == ret["receipt_no"] + 1
    # The new goods are held for a reservation: the sale half fails, so the return half must not exist either.
    await om.receive(GUM, 1)
    await om.hq_push(OmniInbound(om.omni).apply_reservation, {"reservation_id": "R", "lines": [{"code": GUM, "qty": 1}],
                                                               "expires_at": "2099-01-01T00:00:00+00:00"})
    before = om.gw.ledger.last_seq
    with pytest.raises(Conflict):
        await om.omni.returns.exchange(sale["receipt_no"], [{"line": 1, "qty": 1}], [{"code": GUM, "qty": 1}],
                                       [{"method": "cash", "amount": 99}], cashier="c")
    assert om.gw.ledger.last_seq == before
    assert om.gw.ledger.query_one("SELECT qty_milli FROM returned_qty WHERE receipt_no=?", (sale["receipt_no"],)) == 1000
    types = [t for (t,) in om.gw.ledger.query("SELECT type FROM journal WHERE type LIKE 'sale.%' ORDER BY seq")]
    assert types == ["sale.finished", "sale.returned", "sale.finished"]
    assert json.loads(om.gw.ledger.query_one("SELECT payload FROM journal WHERE type='sale.returned'"))["exchange"] is True
