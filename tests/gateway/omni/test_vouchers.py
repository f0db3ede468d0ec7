"""Vouchers: VAT treatment of multi- and single-purpose vouchers, partial redemption, no double spend online or offline."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.errors import BadRequest, Conflict
from gateway.omni.inbound import OmniInbound
from tests.gateway.omni.conftest import CHOC, PEN, Omni

CASH_20 = [{"method": "cash", "amount": 2000}]


async def _issue_at_hq(om: Omni, code: str, amount: int) -> None:
    om.hq.vouchers[code] = amount
    await om.hq_push(OmniInbound(om.omni).apply_voucher, {"code": code, "action": "issue", "amount": amount})


async def test_multi_purpose_sale_is_not_revenue_single_purpose_is(om: Omni) -> None:
    r = await om.omni.vouchers.sell("multi", 2000, CASH_20, cashier="c")
    assert r["totals"]["by_vat"] == [{"vat_id": 5, "rate_bp": 0, "gross": 2000, "net": 2000, "vat": 0}]
    code = r["lines"][0]["voucher"]["code"]
    issued = json.loads(om.gw.ledger.query_one("SELECT payload FROM journal WHERE type='voucher.issued'"))
    assert issued["code"] == code and issued["kind"] == "multi" and issued["receipt_no"] == r["receipt_no"]
    r2 = await om.omni.vouchers.sell("single", 2000, CASH_20, cashier="c", vat_id=1)
    assert r2["totals"]["vat"] == 319 and r2["totals"]["by_vat"][0]["vat_id"] == 1
    with pytest.raises(BadRequest):
        await om.omni.vouchers.sell("single", 2000, CASH_20, cashier="c")


async def test_partial_redemption_online_and_second_spend_refused(om: Omni) -> None:
    await _issue_at_hq(om, "GIFT1", 500)
    sale = [{"code": PEN, "qty": 2}]  # 3.98
    r = await om.gw.sales.finish(cashier="c", lines=sale, payments=[{"method": "voucher", "amount": 398, "ref": "GIFT1"}])
    assert r["payments"][0]["details"]["online"] is True and om.hq.vouchers["GIFT1"] == 102
    bal = await om.omni.vouchers.balance("GIFT1")
    assert bal["balance"] == 102 and bal["online"]
    with pytest.raises(Conflict):  # HQ (or another till, or the webshop) has only 1.02 left
        await om.gw.sales.finish(cashier="c", lines=sale, payments=[{"method": "voucher", "amount": 398, "ref": "GIFT1"}])
    assert om.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='voucher.redeemed'") == 1


async def test_offline_two_tills_cannot_spend_the_same_euro_twice(om: Omni) -> None:
    await _issue_at_hq(om, "GIFT2", 3000)
    om.hq.online = False

    async def pay() -> bool:
        try:
            await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 10}],
                                     payments=[{"method": "voucher", "amount": 1990, "ref": "GIFT2"}])
            return True
        except Conflict:
            return False

    async with asyncio.timeout(10):
        results = await asyncio.gather(pay(), pay())
    assert sorted(results) == [False, True]
    v = (await om.omni.vouchers.balance("GIFT2"))
    assert v["balance"] == 1010 and v["offline_pending"] == 1990 and not v["online"]


async def test_offline_limit_per_card(om: Omni) -> None:
    await _issue_at_hq(om, "GIFT3", 20000)
    om.hq.online = False
    with pytest.raises(Conflict) as exc:  # default offline limit 50.00
        await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 30}],
                                 payments=[{"method": "voucher", "amount": 5970, "ref": "GIFT3"}])
    assert exc.value.extra["offline_left"] == 5000
    await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 20}], payments=[{"method": "voucher", "amount": 3980, "ref": "GIFT3"}])
    with pytest.raises(Conflict):
        await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 10}], payments=[{"method": "voucher", "amount": 1990, "ref": "GIFT3"}])
    with pytest.raises(Conflict):  # unknown card offline
        await om.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "voucher", "amount": 199, "ref": "NOPE"}])


async def test_reconcile_after_reconnect_detects_double_spend_across_channels(om: Omni) -> None:
    await _issue_at_hq(om, "GIFT4", 1000)
    om.hq.online = False
    await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 4}], payments=[{"method": "voucher", "amount": 796, "ref": "GIFT4"}])
    om.hq.vouchers["GIFT4"] = 300  # meanwhile the webshop spent 7.00
    om.hq.online = True
    await _issue_at_hq(om, "GIFT5", 1000)
    om.hq.online = False
    await om.gw.sales.finish(cashier="c", lines=[{"code": CHOC}], payments=[{"method": "voucher", "amount": 119, "ref": "GIFT5"}])
    om.hq.online = True
    out = await om.omni.vouchers.reconcile()
    assert out == {"confirmed": 1, "refused": 1, "pending": 0}
    rec = {json.loads(p)["code"]: json.loads(p) for (p,) in om.gw.ledger.query("SELECT payload FROM journal WHERE type='voucher.reconciled'")}
    assert rec["GIFT4"]["accepted"] is False and rec["GIFT4"]["balance"] == 300
    assert rec["GIFT5"]["accepted"] is True and om.hq.vouchers["GIFT5"] == 881
    assert (await om.omni.vouchers.balance("GIFT5"))["balance"] == 881
    assert await om.omni.vouchers.reconcile() == {"confirmed": 0, "refused": 0, "pending": 0}


async def test_void_gives_value_back_and_return_to_voucher_issues_one(om: Omni) -> None:
    await _issue_at_hq(om, "GIFT6", 1000)
    r = await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 2}], payments=[{"method": "voucher", "amount": 398, "ref": "GIFT6"}])
    await om.gw.sales.void(r["receipt_no"], cashier="m")
    assert om.hq.vouchers["GIFT6"] == 1000 and (await om.omni.vouchers.balance("GIFT6"))["balance"] == 1000
    r = await om.gw.sales.finish(cashier="c", lines=[{"code": CHOC, "qty": 2}], payments=[{"method": "cash", "amount": 238}])
    ret = await om.gw.sales.return_items(r["receipt_no"], [{"line": 1, "qty": 1}], cashier="c", refund_method="voucher")
    code = ret["payments"][0]["details"]["code"]
    om.hq.online = False
    v = await om.omni.vouchers.balance(code)
    assert v["balance"] == 119 and v["kind"] == "multi"


async def test_voucher_sale_rolls_back_with_a_failed_sale(om: Omni) -> None:
    await _issue_at_hq(om, "GIFT7", 1000)
    await om.receive(PEN, 1)
    await om.hq_push(OmniInbound(om.omni).apply_reservation, {"reservation_id": "R", "lines": [{"code": PEN, "qty": 1}],
                                                               "expires_at": "2099-01-01T00:00:00+00:00"})
    with pytest.raises(Conflict):  # held stock: the sale fails after HQ already redeemed
        await om.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "voucher", "amount": 199, "ref": "GIFT7"}])
    assert om.hq.vouchers["GIFT7"] == 1000  # the redemption was reversed at HQ
    assert om.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type LIKE 'voucher.redeemed'") == 0


async def test_silent_hq_counts_as_offline_after_the_timeout(tmp_path: object) -> None:
    from pathlib import Path

    from gateway.omni.hq import CallableHq, HqUnavailable
    from tests.conftest import load_products
    from tests.gateway.omni.conftest import FakeHq, build

    async def silent(op: str, body: dict[str, object]) -> dict[str, object]:
        await asyncio.sleep(30)
        return {}

    with pytest.raises(HqUnavailable):
        await CallableHq(silent, 0.1).request("voucher.balance", {"code": "X"})
    gw, omni = build(Path(str(tmp_path)) / "s", FakeHq(), hq_timeout_s=0.2)
    gw.open()
    load_products(gw)
    try:
        await gw.ledger.write(lambda txn: omni.vouchers.apply_hq(txn, {"code": "G", "action": "issue", "amount": 1000}))
        omni.bind_hq(silent)
        async with asyncio.timeout(5):
            r = await gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "voucher", "amount": 199, "ref": "G"}])
        assert r["payments"][0]["details"]["online"] is False
        assert (await omni.vouchers.balance("G"))["offline_pending"] == 199
    finally:
        gw.ledger.close()


async def test_voucher_cancelled_by_hq_is_refused_offline(om: Omni) -> None:
    await _issue_at_hq(om, "GIFT8", 1000)
    await om.hq_push(OmniInbound(om.omni).apply_voucher, {"code": "GIFT8", "action": "cancel"})
    om.hq.online = False
    with pytest.raises(Conflict):
        await om.gw.sales.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "voucher", "amount": 199, "ref": "GIFT8"}])
    v = await om.omni.vouchers.balance("GIFT8")
    assert v["state"] == "cancelled" and v["offline_left"] == 0
