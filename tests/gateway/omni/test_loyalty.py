"""Loyalty: earning always works, redeeming offline is capped per customer, reconciliation with HQ is exact."""

from __future__ import annotations

import pytest

from gateway.errors import Conflict
from gateway.omni.inbound import OmniInbound
from tests.gateway.omni.conftest import PEN, Omni

CUST = "c_00000000000000aa"


async def test_earn_offline_redeem_capped_reconcile_exact(om: Omni) -> None:
    om.hq.points[CUST] = 1000
    await om.hq_push(OmniInbound(om.omni).apply_loyalty, {"account_ref": CUST, "balance": 1000, "tier": "gold"})
    om.hq.online = False
    r = await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 10}], payments=[{"method": "cash", "amount": 2000}],
                                 extra={"customer": CUST})
    assert r["totals"]["gross"] == 1990
    acc = om.omni.loyalty.account(CUST)
    assert acc["pending_earned"] == 19 and acc["balance"] == 1019
    got = await om.omni.loyalty.redeem(CUST, 300)
    assert got["online"] is False and got["value_cents"] == 300
    with pytest.raises(Conflict) as exc:  # default offline cap: 500 points per customer
        await om.omni.loyalty.redeem(CUST, 201)
    assert exc.value.extra["offline_left"] == 200
    await om.omni.loyalty.redeem(CUST, 200)
    assert om.omni.loyalty.account(CUST)["balance"] == 1000 + 19 - 500
    om.hq.online = True
    om.hq.points[CUST] -= 100  # redeemed in the webshop meanwhile
    out = await om.omni.loyalty.reconcile()
    assert out == {"confirmed": 3, "refused": 0, "pending": 0}
    assert om.hq.points[CUST] == 1000 + 19 - 500 - 100
    acc = om.omni.loyalty.account(CUST)
    assert acc["balance"] == om.hq.points[CUST] and acc["pending_earned"] == acc["pending_redeemed"] == 0
    assert (await om.omni.loyalty.reconcile())["confirmed"] == 0  # nothing twice


async def test_online_redeem_is_decided_by_hq(om: Omni) -> None:
    om.hq.points[CUST] = 50
    with pytest.raises(Conflict):
        await om.omni.loyalty.redeem(CUST, 51)
    got = await om.omni.loyalty.redeem(CUST, 50, ref="r-1")
    assert got["online"] and got["balance"] == 0 and om.hq.points[CUST] == 0
    again = await om.omni.loyalty.redeem(CUST, 50, ref="r-1")  # retried request: HQ and store apply it once
    assert again["balance"] == 0
    assert om.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='loyalty.redeemed'") == 1


async def test_void_and_return_take_points_back(om: Omni) -> None:
    om.hq.online = False
    r = await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 10}], payments=[{"method": "cash", "amount": 1990}],
                                 extra={"customer": CUST})
    await om.gw.sales.return_items(r["receipt_no"], [{"line": 1, "qty": 6}], cashier="c")
    assert om.omni.loyalty.account(CUST)["balance"] == 19 - 11
    r2 = await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 5}], payments=[{"method": "cash", "amount": 995}],
                                  extra={"customer": CUST})
    await om.gw.sales.void(r2["receipt_no"], cashier="m")
    assert om.omni.loyalty.account(CUST)["balance"] == 8
    om.hq.online = True
    om.hq.points[CUST] = 0
    assert (await om.omni.loyalty.reconcile())["refused"] == 0
    assert om.hq.points[CUST] == 8 == om.omni.loyalty.account(CUST)["balance"]
