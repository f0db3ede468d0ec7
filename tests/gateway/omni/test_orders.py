"""Click & collect and reserve & collect: HQ push to handover, partial pickup, expiry (also across a restart), conversion."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.errors import Conflict, NotFound
from gateway.omni.inbound import OmniInbound
from tests.conftest import load_products
from tests.gateway.omni.conftest import CHOC, PEN, FakeHq, Omni, build


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


ORDER = {"order_id": "W-1001", "lines": [{"code": PEN, "qty": 3, "price": 189}, {"code": CHOC, "qty": 1, "price": 119}],
         "total": 686, "paid": True, "pickup_code": "48151623", "customer_ref": "c_0123456789abcdef"}


async def test_order_from_hq_to_partial_and_full_handover(om: Omni) -> None:
    await om.receive(PEN, 5)
    await om.receive(CHOC, 2)
    inbound = OmniInbound(om.omni)
    await om.hq_push(inbound.apply_order, ORDER)
    await om.hq_push(inbound.apply_order, ORDER)  # pushed twice: one order
    assert om.level(PEN)["reserved_milli"] == 3000 and om.level(PEN)["atp"]["online"] == 2000
    pick = om.omni.orders.pick_list()
    assert pick["products"] == [{"code": CHOC, "qty_milli": 1000}, {"code": PEN, "qty_milli": 3000}]
    with pytest.raises(NotFound):
        await om.omni.orders.hand_over("48151623")  # not picked yet
    await om.omni.orders.mark_picked("W-1001")
    with pytest.raises(NotFound):
        await om.omni.orders.hand_over("00000000")
    o = await om.omni.orders.hand_over("48151623", [{"code": PEN, "qty": 2}])
    assert o["state"] == "partially_collected"
    assert om.level(PEN)["on_hand_milli"] == 3000 and om.level(PEN)["reserved_milli"] == 1000
    with pytest.raises(Conflict):
        await om.omni.orders.hand_over("48151623", [{"code": PEN, "qty": 2}])
    o = await om.omni.orders.hand_over("48151623")
    assert o["state"] == "collected"
    assert om.level(PEN)["on_hand_milli"] == 2000 and om.level(PEN)["reserved_milli"] == 0
    assert om.level(CHOC)["on_hand_milli"] == 1000
    handovers = om.gw.ledger.query("SELECT payload FROM journal WHERE type='order.handed_over' ORDER BY seq")
    assert [json.loads(p)["complete"] for (p,) in handovers] == [False, True]


async def test_unpaid_or_unavailable_orders_are_rejected_for_hq(om: Omni) -> None:
    await om.receive(PEN, 1)
    inbound = OmniInbound(om.omni)
    await om.hq_push(inbound.apply_order, {**ORDER, "paid": False})
    await om.hq_push(inbound.apply_order, {**ORDER, "order_id": "W-2"})
    reasons = [json.loads(p)["reason"] for (p,) in om.gw.ledger.query("SELECT payload FROM journal WHERE type='order.rejected'")]
    assert reasons == ["not paid online", "not enough stock"]
    assert om.level(PEN)["reserved_milli"] == 0


async def test_uncollected_order_returns_to_stock_after_deadline(om: Omni) -> None:
    await om.receive(PEN, 5)
    await om.receive(CHOC, 1)
    inbound = OmniInbound(om.omni)
    await om.hq_push(inbound.apply_order, {**ORDER, "pickup_by": _at(3600)})
    await om.omni.orders.mark_picked("W-1001")
    await om.omni.orders.hand_over("48151623", [{"code": PEN, "qty": 1}])
    assert (await om.omni.orders.expire_due()) == {"reservations": 0, "orders": 0}
    om.omni.orders.clock = lambda: datetime.now(UTC) + timedelta(hours=2)
    assert (await om.omni.orders.expire_due()) == {"reservations": 0, "orders": 1}
    lvl = om.level(PEN)
    assert lvl["on_hand_milli"] == 4000 and lvl["reserved_milli"] == 0 and lvl["atp"]["online"] == 4000
    assert om.omni.orders.order("W-1001")["state"] == "expired"
    returned = json.loads(om.gw.ledger.query_one("SELECT payload FROM journal WHERE type='order.expired'"))["returned"]
    assert returned == [{"code": PEN, "qty_milli": 2000}, {"code": CHOC, "qty_milli": 1000}]


async def test_reservation_converted_to_sale_at_till(om: Omni) -> None:
    await om.receive(PEN, 2)
    inbound = OmniInbound(om.omni)
    await om.hq_push(inbound.apply_reservation, {"reservation_id": "R1", "lines": [{"code": PEN, "qty": 2}], "expires_at": _at(600)})
    with pytest.raises(Conflict):  # the goods are held: not for the till
        await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 1}], payments=[{"method": "cash", "amount": 199}])
    receipt = await om.omni.orders.convert("R1", [{"method": "cash", "amount": 500}], cashier="c")
    assert receipt["reservation_id"] == "R1" and receipt["totals"]["gross"] == 398
    assert om.omni.orders.reservations("converted")[0]["receipt_no"] == receipt["receipt_no"]
    lvl = om.level(PEN)
    assert lvl["on_hand_milli"] == 0 and lvl["reserved_milli"] == 0
    with pytest.raises(Conflict):
        await om.omni.orders.convert("R1", [{"method": "cash", "amount": 500}], cashier="c")
    assert om.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.finished'") == 1


async def test_reservation_release_from_hq_and_at_store(om: Omni) -> None:
    await om.receive(PEN, 3)
    inbound = OmniInbound(om.omni)
    await om.hq_push(inbound.apply_reservation, {"reservation_id": "R1", "lines": [{"code": PEN, "qty": 1}], "expires_at": _at(600)})
    await om.hq_push(inbound.apply_reservation, {"reservation_id": "R2", "lines": [{"code": PEN, "qty": 1}], "expires_at": _at(600)})
    await om.hq_push(inbound.apply_reservation, {"reservation_id": "R1", "action": "release", "lines": [{"code": PEN, "qty": 1}],
                                                 "expires_at": _at(600)})
    await om.omni.orders.release("R2")
    assert om.level(PEN)["reserved_milli"] == 0
    with pytest.raises(Conflict):
        await om.omni.orders.release("R2")


async def test_reservation_expires_across_a_restart(tmp_path: Path) -> None:
    hq = FakeHq()
    gw, omni = build(tmp_path / "d", hq, expiry_check_interval_s=3600)
    gw.open()
    load_products(gw)
    await gw.start("127.0.0.1", 0)
    try:
        await omni.stock.adjust([{"code": PEN, "qty": 1}], "receipt")
        await gw.ledger.write(lambda txn: OmniInbound(omni).apply_reservation(
            txn, {"reservation_id": "R1", "lines": [{"code": PEN, "qty": 1}], "expires_at": _at(1)}))
        assert omni.stock.levels([PEN])[0]["reserved_milli"] == 1000
    finally:
        await gw.stop()
    await asyncio.sleep(1.2)
    gw2, omni2 = build(tmp_path / "d", hq, expiry_check_interval_s=3600)
    await gw2.start("127.0.0.1", 0)  # catches up on start, long before the next timer round
    try:
        assert omni2.stock.levels([PEN])[0]["reserved_milli"] == 0
        assert omni2.orders.reservations("expired")[0]["reservation_id"] == "R1"
        assert gw2.ledger.verify().ok
    finally:
        await gw2.stop()


async def test_hq_cancels_an_order_and_the_goods_are_free_again(om: Omni) -> None:
    await om.receive(PEN, 3)
    await om.receive(CHOC, 1)
    inbound = OmniInbound(om.omni)
    await om.hq_push(inbound.apply_order, ORDER)
    await om.hq_push(inbound.apply_order, {**ORDER, "action": "cancel"})
    assert om.omni.orders.order("W-1001")["state"] == "cancelled"
    assert om.level(PEN)["reserved_milli"] == 0 and om.level(PEN)["atp"]["online"] == 3000
    with pytest.raises(NotFound):
        await om.omni.orders.hand_over("48151623")
