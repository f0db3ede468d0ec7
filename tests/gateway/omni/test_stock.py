"""Stock and availability: receipts, counts, buffers, ATP events, reorder requests, transfers, no overselling, rebuild."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateway.errors import BadRequest, Conflict
from gateway.omni.inbound import OmniInbound
from tests.gateway.omni.conftest import CHOC, GUM, PEN, Omni


def _later(seconds: int = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_receipt_count_correction_and_atp_events(om: Omni) -> None:
    await om.receive(PEN, 10)
    assert om.level(PEN)["on_hand_milli"] == 10_000
    out = await om.omni.stock.adjust([{"code": PEN, "qty": 7}], "count", "inventur-1", counted=True)
    assert out["adjusted"][0]["delta_milli"] == -3000 and out["adjusted"][0]["counted_milli"] == 7000
    await om.omni.stock.adjust([{"code": PEN, "qty_milli": -1000}], "damage", "broken")
    assert om.level(PEN)["on_hand_milli"] == 6000
    atp = om.gw.ledger.query("SELECT payload FROM journal WHERE type='stock.atp'")
    assert len(atp) == 3  # one per transaction
    with pytest.raises(BadRequest):
        await om.omni.stock.adjust([{"code": PEN, "qty": -1}], "receipt")


async def test_buffers_product_over_group_over_store(om: Omni) -> None:
    await om.receive(CHOC, 10)
    await om.receive(GUM, 10)
    await om.omni.stock.set_buffer("all", "", "online", 1000)
    assert om.level(CHOC)["atp"] == {"store": 10_000, "online": 9000}
    await om.omni.stock.set_buffer("group", "Süßwaren", "online", 2000)
    assert om.level(GUM)["atp"]["online"] == 8000
    await om.omni.stock.set_buffer("product", CHOC, "*", 4000)
    assert om.level(CHOC)["atp"] == {"store": 6000, "online": 6000}
    assert om.level(GUM)["atp"]["online"] == 8000


async def test_online_buffer_blocks_reservation_but_not_till(om: Omni) -> None:
    await om.receive(PEN, 2)
    await om.omni.stock.set_buffer("product", PEN, "online", 1000)
    inbound = OmniInbound(om.omni)
    await om.hq_push(inbound.apply_reservation, {"reservation_id": "r1", "lines": [{"code": PEN, "qty": 2}], "expires_at": _later()})
    rejected = om.gw.ledger.query("SELECT payload FROM journal WHERE type='reservation.rejected'")
    assert len(rejected) == 1 and '"available_milli":1000' in rejected[0][0]
    await om.hq_push(inbound.apply_reservation, {"reservation_id": "r2", "lines": [{"code": PEN, "qty": 1}], "expires_at": _later()})
    assert om.level(PEN)["reserved_milli"] == 1000 and om.level(PEN)["atp"]["online"] == 0
    await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 1}], payments=[{"method": "cash", "amount": 199}])
    assert om.level(PEN)["on_hand_milli"] == 1000


async def test_minimum_level_requests_reorder_once_and_clears(om: Omni) -> None:
    await om.receive(GUM, 5)
    await om.omni.stock.set_minimum(GUM, 4000, 10_000)
    for _ in range(3):
        await om.gw.sales.finish(cashier="c", lines=[{"code": GUM, "qty": 1}], payments=[{"method": "cash", "amount": 99}])
    req = om.gw.ledger.query("SELECT payload FROM journal WHERE type='stock.reorder_requested'")
    assert len(req) == 1 and '"qty_milli":10000' in req[0][0]
    await om.receive(GUM, 10)
    assert om.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='stock.reorder_cleared'") == 1


async def test_transfer_out_in_transit_and_in(om: Omni) -> None:
    await om.receive(PEN, 5)
    await om.omni.stock.ship_transfer("t1", "store-2", [{"code": PEN, "qty": 2}])
    assert om.level(PEN)["on_hand_milli"] == 3000
    with pytest.raises(Conflict):
        await om.omni.stock.ship_transfer("t1", "store-2", [{"code": PEN, "qty": 1}])
    with pytest.raises(Conflict):
        await om.omni.stock.ship_transfer("t2", "store-2", [{"code": PEN, "qty": 4}])
    inbound = OmniInbound(om.omni)
    msg = {"transfer_id": "t9", "from_store": "store-3", "to_store": "store-1", "status": "shipped", "lines": [{"code": CHOC, "qty": 6}]}
    await om.hq_push(inbound.apply_stock_transfer, msg)
    await om.hq_push(inbound.apply_stock_transfer, msg)  # redelivered: no second announcement
    assert om.level(CHOC)["in_transit_milli"] == 6000
    got = await om.omni.stock.receive_transfer("t9", [{"code": CHOC, "qty": 5}])
    assert got["differences"] == [{"code": CHOC, "delta_milli": -1000}]
    assert om.level(CHOC)["in_transit_milli"] == 0 and om.level(CHOC)["on_hand_milli"] == 5000


async def test_last_unit_till_and_reservation_at_once_exactly_one_wins(om: Omni) -> None:
    """Many tills and many online reservations race for 5 units: exactly 5 succeed, ATP never below 0."""
    await om.receive(PEN, 5)
    inbound = OmniInbound(om.omni)

    async def sell() -> bool:
        try:
            await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 1}], payments=[{"method": "cash", "amount": 199}])
            return True
        except Conflict:
            return False

    async def reserve(i: int) -> bool:
        await om.hq_push(inbound.apply_reservation, {"reservation_id": f"r{i}", "lines": [{"code": PEN, "qty": 1}], "expires_at": _later()})
        return om.gw.ledger.query_one("SELECT state FROM omni_reservations WHERE reservation_id=?", (f"r{i}",)) == "held"

    async with asyncio.timeout(30):
        results = await asyncio.gather(*[sell() for _ in range(8)], *[reserve(i) for i in range(8)])
    assert sum(results) == 5
    lvl = om.level(PEN)
    assert lvl["on_hand_milli"] - lvl["reserved_milli"] == 0
    import json

    for (raw,) in om.gw.ledger.query("SELECT payload FROM journal WHERE type='stock.atp'"):
        for it in json.loads(raw)["items"]:
            assert it["on_hand_milli"] - it["reserved_milli"] >= 0
    failed = [r for r in results[:8] if not r]
    assert failed  # some till sales got the clear error


async def test_rebuild_equals_incremental(om: Omni) -> None:
    await om.receive(PEN, 5)
    await om.omni.stock.set_buffer("group", "Büro", "online", 1000)
    await om.omni.stock.set_minimum(PEN, 2000, 5000)
    inbound = OmniInbound(om.omni)
    await om.hq_push(inbound.apply_reservation, {"reservation_id": "r1", "lines": [{"code": PEN, "qty": 2}], "expires_at": _later()})
    await om.hq_push(inbound.apply_order, {"order_id": "o1", "lines": [{"code": PEN, "qty": 1, "price": 199}], "total": 199,
                                           "paid": True, "pickup_code": "1234"})
    await om.omni.orders.mark_picked("o1")
    await om.omni.orders.hand_over("1234")
    await om.hq_push(inbound.apply_voucher, {"code": "V1", "action": "issue", "amount": 1000})
    await om.hq_push(inbound.apply_loyalty, {"account_ref": "c_00", "balance": 50})
    await om.hq_push(inbound.apply_promotion, {"promotion_id": "p1", "name": "x", "kind": "percent", "value": 1000,
                                               "codes": [PEN], "starts_at": "2020-01-01T00:00:00+00:00",
                                               "ends_at": "2099-01-01T00:00:00+00:00"})
    om.hq.online = False
    await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 1}], payments=[{"method": "voucher", "amount": 179, "ref": "V1"}],
                             extra={"customer": "c_00"})
    tables = ["stock", "omni_holds", "omni_transit", "omni_buffers", "omni_minimums", "omni_tracked", "omni_orders",
              "omni_reservations", "omni_vouchers", "omni_voucher_pending", "omni_loyalty", "omni_loyalty_pending", "omni_promotions"]

    def dump() -> dict[str, list[tuple[object, ...]]]:
        return {t: sorted(om.gw.ledger.query(f"SELECT * FROM {t}"), key=repr) for t in tables}

    before = dump()
    assert before["omni_voucher_pending"] and before["omni_loyalty_pending"]
    om.gw.ledger.rebuild()
    assert dump() == before
    assert om.gw.ledger.verify().ok


async def test_warn_mode_sells_held_stock_and_timer_journals_snapshots(tmp_path: object) -> None:
    from pathlib import Path

    from tests.conftest import load_products
    from tests.gateway.omni.conftest import FakeHq, build

    gw, omni = build(Path(str(tmp_path)) / "w", FakeHq(), till_stock_check="warn", expiry_check_interval_s=1, atp_snapshot_interval_s=1)
    gw.open()
    load_products(gw)
    await gw.start("127.0.0.1", 0)
    try:
        await omni.stock.adjust([{"code": PEN, "qty": 1}], "receipt")
        await gw.ledger.write(lambda txn: OmniInbound(omni).apply_reservation(
            txn, {"reservation_id": "r", "lines": [{"code": PEN, "qty": 1}], "expires_at": _later()}))
        await gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 1}], payments=[{"method": "cash", "amount": 199}])
        assert omni.stock.levels([PEN])[0]["atp"] == {"store": 0, "online": 0}
        async with asyncio.timeout(10):
            while not gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='stock.atp' AND json_extract(payload, '$.snapshot')"):
                await asyncio.sleep(0.1)
        assert omni.status()["held_reservations"] == 1 and omni.status()["state"] == "ok"
    finally:
        await gw.stop()
