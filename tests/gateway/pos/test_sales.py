"""Sales service over a real ledger: carts, finishing, voids, returns, cash moves, X report, rebuild."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.config import Config, PosConfig
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.idempotency import IdemKey
from gateway.pos.reports import x_report
from tests.conftest import load_products


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    g = Gateway(Config({}), tmp_path)
    g.open()
    load_products(g)
    yield g
    g.ledger.close()


def stock(g: Gateway, code: str) -> int:
    return int(g.ledger.query_one("SELECT on_hand_milli FROM stock WHERE code=?", (code,)) or 0)


async def test_one_shot_sale_mixed_vat_and_change(gw: Gateway) -> None:
    r = await gw.sales.finish(cashier="c", lines=[{"code": "4006381333931", "qty": 2}, {"code": "1001", "weight_g": 500,
                              "weight_source": "scale"}, {"code": "4000417025005"}], payments=[{"method": "cash", "amount": 1000}])
    # 2 x 1.99 (19 %) + 0.5 kg x 2.49 = 1.245 -> 1.25 (7 %) + 1.19 (7 %)
    assert r["totals"]["gross"] == 398 + 125 + 119
    by = {v["vat_id"]: v for v in r["totals"]["by_vat"]}
    assert by[1]["gross"] == 398 and by[1]["vat"] == 64 and by[1]["net"] == 334
    assert by[2]["gross"] == 244 and by[2]["vat"] == 16
    assert r["change"] == 1000 - 642
    assert r["receipt_no"] == 1
    assert stock(gw, "4006381333931") == -2000
    assert stock(gw, "1001") == -500
    assert gw.sales.cash_balance() == 642


async def test_receipt_numbers_increase_and_survive_reopen(gw: Gateway, tmp_path: Path) -> None:
    for _ in range(3):
        await gw.sales.finish(cashier="c", lines=[{"code": "40084015"}], payments=[{"method": "cash", "amount": 99}])
    gw.ledger.close()
    g2 = Gateway(Config({}), tmp_path)
    g2.open()
    r = await g2.sales.finish(cashier="c", lines=[{"code": "40084015"}], payments=[{"method": "cash", "amount": 99}])
    assert r["receipt_no"] == 4
    g2.ledger.close()
    gw.open()


async def test_cart_flow_discounts_void_park_resume(gw: Gateway) -> None:
    cart = await gw.carts.open("c")
    cid = cart["id"]
    await gw.carts.add_line(cid, "4006381333931", qty=3)
    await gw.carts.add_line(cid, "40084015")
    await gw.carts.add_line(cid, "1001", weight_g=1000, weight_source="scale")
    await gw.carts.void_line(cid, 2)
    await gw.carts.discount_line(cid, 1, 1000, None)  # 10 % off 5.97 -> 0.60
    c = await gw.carts.discount_cart(cid, None, 100)
    assert c["totals"]["gross"] == 597 - 60 + 249 - 100
    await gw.carts.park(cid)
    with pytest.raises(Conflict):
        await gw.carts.add_line(cid, "40084015")
    await gw.carts.resume(cid)
    r = await gw.sales.finish(cashier="c", cart_id=cid, payments=[{"method": "cash", "amount": 1000}])
    assert r["totals"]["gross"] == 686
    assert gw.carts.get(cid)["state"] == "closed"
    with pytest.raises(Conflict):
        await gw.sales.finish(cashier="c", cart_id=cid, payments=[{"method": "cash", "amount": 1000}])
    assert stock(gw, "40084015") == 0  # voided line took nothing


async def test_bad_inputs_raise_bad_request(gw: Gateway) -> None:
    pay = [{"method": "cash", "amount": 100}]
    for lines in ([], [{"code": "nope"}], [{"code": "40084015", "qty": -1}], [{"code": "40084015", "qty": 10**9}],
                  [{"code": "40084015", "qty": 1.5}], [{"code": "1001", "weight_g": 100, "weight_source": "manual"}],
                  # Legal-for-trade: a weight without a scale reading is manual entry, whatever it is called.
                  [{"code": "1001", "weight_g": 100}], [{"code": "1001", "weight_g": 100, "weight_source": ""}],
                  [{"code": "1001", "weight_g": 100, "weight_source": "keyboard"}]):
        with pytest.raises((BadRequest, NotFound)):
            await gw.sales.finish(cashier="c", lines=lines, payments=pay)
    for pays in ([], [{"method": "cash", "amount": -5}], [{"method": "bitcoin", "amount": 100}], [{"method": "cash", "amount": 10}],
                 [{"method": "cash", "amount": 10**13}], [{"method": "cash", "amount": True}]):
        with pytest.raises(BadRequest):
            await gw.sales.finish(cashier="c", lines=[{"code": "40084015"}], payments=pays)
    assert gw.ledger.last_seq == 0


async def test_manual_weight_when_allowed(tmp_path: Path) -> None:
    g = Gateway(Config({}).with_section(PosConfig(manual_weight_allowed=True)), tmp_path)
    g.open()
    load_products(g)
    r = await g.sales.finish(cashier="c", lines=[{"code": "1001", "weight_g": 2000, "weight_source": "manual"}],
                             payments=[{"method": "cash", "amount": 498}])
    assert r["lines"][0]["weight_source"] == "manual"
    g.ledger.close()


async def test_idempotent_finish_commits_once(gw: Gateway) -> None:
    body = {"lines": [{"code": "40084015"}], "payments": [{"method": "cash", "amount": 99}]}
    key = IdemKey.make("k1", "c", "sale", body)
    results = await asyncio.gather(*(gw.sales.finish(cashier="c", idem=key, **body) for _ in range(5)))
    assert {r["receipt_no"] for r in results} == {1}
    assert gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.finished'") == 1
    other = IdemKey.make("k1", "c", "sale", {**body, "payments": [{"method": "cash", "amount": 100}]})
    with pytest.raises(Conflict):
        await gw.sales.finish(cashier="c", idem=other, lines=body["lines"], payments=[{"method": "cash", "amount": 100}])


async def test_void_and_return(gw: Gateway) -> None:
    r = await gw.sales.finish(cashier="c", lines=[{"code": "4006381333931", "qty": 4}, {"code": "40084015"}],
                              payments=[{"method": "cash", "amount": 895}])
    ret = await gw.sales.return_items(r["receipt_no"], [{"line": 1, "qty": 1}], cashier="c")
    assert ret["totals"]["gross"] == -199
    assert ret["payments"] == [{"method": "cash", "amount": -199}]
    assert ret["original"] == r["receipt_no"]
    with pytest.raises(Conflict):
        await gw.sales.return_items(r["receipt_no"], [{"line": 1, "qty": 4}], cashier="c")
    with pytest.raises(Conflict):
        await gw.sales.void(r["receipt_no"], cashier="m")  # has returns
    r2 = await gw.sales.finish(cashier="c", lines=[{"code": "40084015", "qty": 2}], payments=[{"method": "cash", "amount": 198}])
    v = await gw.sales.void(r2["receipt_no"], cashier="m", reason="wrong item")
    assert v["totals"]["gross"] == -198 and v["kind"] == "void"
    with pytest.raises(Conflict):
        await gw.sales.void(r2["receipt_no"], cashier="m")
    with pytest.raises(Conflict):
        await gw.sales.void(v["receipt_no"], cashier="m")
    assert stock(gw, "4006381333931") == -3000
    assert stock(gw, "40084015") == -1000
    assert gw.sales.cash_balance() == 895 - 199


async def test_returns_of_discounted_lines_never_refund_more_than_paid(gw: Gateway) -> None:
    cart = await gw.carts.open("c")
    await gw.carts.add_line(cart["id"], "4006381333931", qty=3)
    await gw.carts.discount_cart(cart["id"], None, 100)
    r = await gw.sales.finish(cashier="c", cart_id=cart["id"], payments=[{"method": "cash", "amount": 497}])
    refunds = 0
    for _ in range(3):
        ret = await gw.sales.return_items(r["receipt_no"], [{"line": 1, "qty": 1}], cashier="c")
        refunds += -ret["totals"]["gross"]
    assert refunds == r["totals"]["gross"] == 497


async def test_cash_moves_and_x_report(gw: Gateway) -> None:
    await gw.sales.cash_move("deposit", 10000, cashier="m", reason="float")
    await gw.sales.finish(cashier="c", lines=[{"code": "40084015"}], payments=[{"method": "cash", "amount": 200}])
    await gw.sales.finish(cashier="c", lines=[{"code": "4006381333931"}], payments=[{"method": "cash", "amount": 199}])
    with pytest.raises(Conflict):
        await gw.sales.cash_move("withdrawal", 10**6, cashier="m")
    await gw.sales.cash_move("withdrawal", 5000, cashier="m", reason="bank")
    x = x_report(gw.ledger)
    assert x["gross"] == 298
    assert x["payments"] == {"cash": 298}
    assert x["cash_moves"] == {"deposit": 10000, "withdrawal": 5000}
    assert x["cash_balance"] == 10000 + 298 - 5000
    assert x["receipts"] == {"deposit": 1, "sale": 2, "withdrawal": 1}
    assert sum(v["gross"] for v in x["by_vat"]) == 298


async def test_rebuild_reproduces_projections(gw: Gateway) -> None:
    await gw.sales.cash_move("deposit", 5000, cashier="m")
    cart = await gw.carts.open("c")
    await gw.carts.add_line(cart["id"], "1001", weight_g=750, weight_source="scale")
    r = await gw.sales.finish(cashier="c", cart_id=cart["id"], payments=[{"method": "cash", "amount": 200}])
    await gw.sales.return_items(r["receipt_no"], [{"line": 1, "weight_g": 250}], cashier="c")
    open_cart = await gw.carts.open("c")
    await gw.carts.add_line(open_cart["id"], "40084015", qty=2)

    def snapshot() -> str:
        tables = ("carts", "stock", "cash_balance", "counters", "receipts", "returned_qty")
        return json.dumps({t: gw.ledger.query(f"SELECT * FROM {t} ORDER BY 1") for t in tables})

    before = snapshot()
    assert gw.ledger.rebuild() == gw.ledger.last_seq
    assert snapshot() == before


async def test_scanned_in_store_codes_and_gtin_forms(gw: Gateway) -> None:
    from gateway.pos.catalog import Catalog, Product

    def fn(txn: Any) -> None:
        Catalog.upsert(txn, [Product("1111", "Gouda am Stück", 2, 1290, "kg")])

    gw.ledger.write_sync(fn)
    cart = await gw.carts.open("c")
    # GS1 Germany examples (fact sheet §3.7): 28 1111 0 68708 = 6.870 kg, 22 1111 4 00239 = 2.39 EUR
    c = await gw.carts.add_line(cart["id"], "2811111068708")
    line = c["lines"][0]
    assert line["code"] == "1111" and line["weight_g"] == 6870 and line["weight_source"] == "label"
    assert line["gross"] == 8862  # 12.90 EUR/kg x 6.870 kg = 88.623 -> 88.62
    c = await gw.carts.add_line(cart["id"], "2211114002394")
    assert c["lines"][1]["gross"] == 239 and c["lines"][1]["label_price"] is True
    # a 14-digit GTIN with a leading zero finds the GTIN-13 in the catalog
    c = await gw.carts.add_line(cart["id"], "04006381333931")
    assert c["lines"][2]["code"] == "4006381333931"
    with pytest.raises(BadRequest, match="check digit"):
        await gw.carts.add_line(cart["id"], "4006381333932")
    with pytest.raises(BadRequest, match="check digit"):
        await gw.carts.add_line(cart["id"], "2811111068709")


async def test_stock_of_repeated_codes_and_large_receipts(gw: Gateway) -> None:
    """One receipt's stock moves go in as one statement: a code on several lines counts each
    line, receipts larger than one statement's chunk move every line, a void puts all back."""
    await gw.sales.finish(cashier="c", lines=[{"code": "40084015", "qty": 2}, {"code": "4006381333931"},
                                              {"code": "40084015", "qty": 3}], payments=[{"method": "cash", "amount": 10_000}])
    assert stock(gw, "40084015") == -5000
    assert stock(gw, "4006381333931") == -1000
    big = await gw.sales.finish(cashier="c", lines=[{"code": "40084015"}] * 450,
                                payments=[{"method": "cash", "amount": 100_000}])
    assert stock(gw, "40084015") == -455_000
    await gw.sales.void(big["receipt_no"], cashier="m")
    assert stock(gw, "40084015") == -5000


class SlowCard:
    """A non-cash method whose charge takes a while (the customer at the terminal); records refunds."""

    name = "slowcard"
    is_cash = False

    def __init__(self) -> None:
        self.charging = asyncio.Event()
        self.charged: list[int] = []
        self.refunded: list[int] = []

    async def charge(self, amount: int, ref: str) -> dict[str, Any]:
        self.charging.set()
        await asyncio.sleep(0.2)
        self.charged.append(amount)
        return {"auth": len(self.charged)}

    async def refund(self, amount: int, ref: str, original: dict[str, Any] | None) -> dict[str, Any]:
        self.refunded.append(amount)
        return {}


async def test_cart_changed_during_payment_is_refused_and_the_charge_reversed(gw: Gateway) -> None:
    card = SlowCard()
    gw.payments.register(card)
    cart = await gw.carts.open("c")
    await gw.carts.add_line(cart["id"], "40084015")
    gross = gw.carts.get(cart["id"])["totals"]["gross"]
    checkout = asyncio.create_task(gw.sales.finish(cashier="c", cart_id=cart["id"],
                                                   payments=[{"method": "slowcard", "amount": gross}]))
    await asyncio.wait_for(card.charging.wait(), 5)
    await gw.carts.add_line(cart["id"], "40084015", qty=5)  # scanned while the customer pays
    with pytest.raises(Conflict, match="changed during payment"):
        await asyncio.wait_for(checkout, 5)
    assert card.refunded == card.charged == [gross]
    assert stock(gw, "40084015") == 0
    assert gw.carts.get(cart["id"])["state"] == "open"  # check out again with the new total


async def test_concurrent_voids_and_returns_refund_once(gw: Gateway) -> None:
    """Two tills voiding or returning the same receipt at once (different idempotency keys):
    one succeeds, the other is refused before any money goes back."""
    card = SlowCard()
    gw.payments.register(card)
    pays = [{"method": "slowcard", "amount": 199}]
    sale = await gw.sales.finish(cashier="c", lines=[{"code": "4006381333931"}], payments=pays)
    outcomes = await asyncio.gather(*(gw.sales.void(sale["receipt_no"], cashier="m", idem=IdemKey.make(f"v{i}", "t", "void", {}))
                                      for i in range(3)), return_exceptions=True)
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if not isinstance(o, dict))
    assert card.refunded == [199]
    card.refunded.clear()
    sale = await gw.sales.finish(cashier="c", lines=[{"code": "4006381333931", "qty": 2}], payments=[{"method": "slowcard", "amount": 398}])
    outcomes = await asyncio.gather(*(gw.sales.return_items(sale["receipt_no"], [{"line": 1, "qty": 2}], cashier="c",
                                                            refund_method="slowcard") for _ in range(2)), return_exceptions=True)
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert card.refunded == [398]


def test_client_json_with_a_lone_surrogate_is_refused() -> None:
    from gateway.jsonbody import json_object

    with pytest.raises(BadRequest, match="not valid Unicode"):
        json_object(b'{"reason": "\\ud800"}')
    with pytest.raises(BadRequest, match="not valid JSON"):
        json_object(b'{"reason": ')
    with pytest.raises(BadRequest, match="must be a JSON object"):
        json_object(b"[1]", "payload")
    assert json_object('{"reason": "Kunde \\u00e4rgerlich"}') == {"reason": "Kunde ärgerlich"}


async def test_configured_rate_of_vat_id_3_is_charged(tmp_path: Path) -> None:
    from gateway.pos.catalog import Catalog, Product

    g = Gateway(Config({}).with_section(PosConfig(reduced_vat_bp=1070)), tmp_path / "rate")
    g.open()
    try:
        g.ledger.write_sync(lambda txn: Catalog.upsert(txn, [Product("3333", "Hofeier", 3, 1107, "piece")]))
        r = await g.sales.finish(cashier="c", lines=[{"code": "3333"}], payments=[{"method": "cash", "amount": 1107}])
        assert r["totals"]["by_vat"] == [{"vat_id": 3, "rate_bp": 1070, "gross": 1107, "net": 1000, "vat": 107}]
        cart = await g.carts.open("c")
        view = await g.carts.add_line(cart["id"], "3333", qty=2)
        assert view["totals"]["by_vat"][0]["rate_bp"] == 1070
        back = await g.sales.return_items(r["receipt_no"], [{"line": 1, "qty": 1}], cashier="c")
        assert back["totals"]["by_vat"][0]["rate_bp"] == 1070 and back["totals"]["vat"] == -107
    finally:
        g.ledger.close()
