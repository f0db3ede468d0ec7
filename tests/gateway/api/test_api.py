"""HTTP API against a live in-process gateway: selling, roles, idempotency, problems, events."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.conftest import LiveGateway

SALE = {"lines": [{"code": "4006381333931", "qty": 2}, {"code": "1001", "weight_g": 500, "weight_source": "scale"}],
        "payments": [{"method": "cash", "amount": 1000}]}


async def test_one_shot_sale(live: LiveGateway) -> None:
    status, body, ctype = await live.call("POST", "/api/v1/sales", json=SALE, headers={"Idempotency-Key": "a1"})
    assert status == 201, body
    assert body["receipt_no"] == 1
    assert body["totals"]["gross"] == 398 + 125
    assert body["change"] == 1000 - 523
    assert [v["vat_id"] for v in body["totals"]["by_vat"]] == [1, 2]
    status, again, _ = await live.call("POST", "/api/v1/sales", json=SALE, headers={"Idempotency-Key": "a1"})
    assert status == 201 and again == body
    assert live.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.finished'") == 1
    status, got, _ = await live.call("GET", "/api/v1/receipts/1")
    assert status == 200 and got["totals"] == body["totals"]


async def test_sale_requires_idempotency_key(live: LiveGateway) -> None:
    status, body, ctype = await live.call("POST", "/api/v1/sales", json=SALE)
    assert status == 400 and ctype == "application/problem+json"
    assert "Idempotency-Key" in body["detail"]


async def test_product_search(live: LiveGateway) -> None:
    status, body, _ = await live.call("GET", "/api/v1/products?q=schoko")
    assert status == 200
    assert [p["code"] for p in body["products"]] == ["4000417025005"]
    p = body["products"][0]
    assert p == {"code": "4000417025005", "name": "Vollmilchschokolade 100g", "price": 119, "vat_id": 2, "unit": "piece",
                 "group": "Süßwaren", "codes": []}
    status, body, _ = await live.call("GET", "/api/v1/products?q=4006")
    assert [p["code"] for p in body["products"]] == ["4006381333931"]
    status, body, _ = await live.call("GET", "/api/v1/products?q=%C3%A4pfel")
    assert body["products"][0]["unit"] == "kg"


async def test_cart_flow_over_http(live: LiveGateway) -> None:
    status, cart, _ = await live.call("POST", "/api/v1/carts")
    assert status == 201
    cid = cart["id"]
    await live.call("POST", f"/api/v1/carts/{cid}/lines", json={"code": "4006381333931", "qty": 3})
    await live.call("POST", f"/api/v1/carts/{cid}/lines", json={"code": "40084015"})
    status, cart, _ = await live.call("DELETE", f"/api/v1/carts/{cid}/lines/2")
    assert cart["lines"][1]["voided"] is True
    status, cart, _ = await live.call("POST", f"/api/v1/carts/{cid}/discount", json={"percent_bp": 1000})
    assert cart["totals"]["gross"] == 597 - 60
    assert (await live.call("POST", f"/api/v1/carts/{cid}/park"))[0] == 200
    assert (await live.call("POST", f"/api/v1/carts/{cid}/resume"))[0] == 200
    status, receipt, _ = await live.call("POST", f"/api/v1/carts/{cid}/checkout", json={"payments": [{"method": "cash", "amount": 600}]},
                                         headers={"Idempotency-Key": "co-1"})
    assert status == 201 and receipt["change"] == 63
    status, body, _ = await live.call("POST", f"/api/v1/carts/{cid}/lines", json={"code": "40084015"})
    assert status == 409 and body["code"] == "conflict"


async def test_roles(live: LiveGateway) -> None:
    status, r, _ = await live.call("POST", "/api/v1/sales", json=SALE, headers={"Idempotency-Key": "r1"})
    no = r["receipt_no"]
    # a cashier may not void, a manager may
    status, body, ctype = await live.call("POST", f"/api/v1/receipts/{no}/void", json={}, headers={"Idempotency-Key": "v1"})
    assert status == 403 and ctype == "application/problem+json" and body["code"] == "forbidden"
    status, body, _ = await live.call("POST", f"/api/v1/receipts/{no}/void", role="manager", json={"reason": "test"},
                                      headers={"Idempotency-Key": "v1"})
    assert status == 201 and body["totals"]["gross"] == -r["totals"]["gross"]
    # a technician may not sell; only admin manages clients
    assert (await live.call("POST", "/api/v1/sales", role="technician", json=SALE, headers={"Idempotency-Key": "t"}))[0] == 403
    assert (await live.call("GET", "/api/v1/clients", role="manager"))[0] == 403
    status, body, _ = await live.call("POST", "/api/v1/clients", role="admin", json={"name": "till-9", "role": "cashier"})
    assert status == 201 and body["token"].startswith("sgw_")
    async with live.session.get(live.url + "/api/v1/whoami", headers={"Authorization": "Bearer " + body["token"]}) as resp:
        assert (await resp.json())["name"] == "till-9"
    assert (await live.call("DELETE", "/api/v1/clients/till-9", role="admin"))[0] == 200
    async with live.session.get(live.url + "/api/v1/whoami", headers={"Authorization": "Bearer " + body["token"]}) as resp:
        assert resp.status == 401


async def test_unauthenticated(live: LiveGateway) -> None:
    status, body, ctype = await live.call("GET", "/api/v1/products?q=a", role=None)
    assert status == 401 and ctype == "application/problem+json"
    status, body, _ = await live.call("GET", "/api/v1/products?q=a", role=None, headers={"Authorization": "Bearer sgw_wrong"})
    assert status == 401
    # public endpoints
    assert (await live.call("GET", "/healthz", role=None))[0] == 200
    assert (await live.call("GET", "/api/v1/status", role=None))[0] == 200
    status, text, ctype = await live.call("GET", "/metrics", role=None)
    assert status == 200 and "storegw_ledger_last_seq" in text


async def test_bad_bodies(live: LiveGateway) -> None:
    h = {"Idempotency-Key": "bad", "Content-Type": "application/json"}
    cases = [b"{not json", b"[]", b'"x"', json.dumps({"lines": "x", "payments": []}).encode(),
             json.dumps({"lines": [{"code": "4006381333931", "qty": "2"}], "payments": [{"method": "cash", "amount": 500}]}).encode(),
             json.dumps({"lines": [{"code": "4006381333931", "qty": -2}], "payments": [{"method": "cash", "amount": 500}]}).encode(),
             json.dumps({"lines": [{"code": "4006381333931"}], "payments": [{"method": "cash", "amount": 10**15}]}).encode()]
    for i, raw in enumerate(cases):
        status, body, ctype = await live.call("POST", "/api/v1/sales", data=raw, headers={**h, "Idempotency-Key": f"bad{i}"})
        assert status == 400, (raw, body)
        assert ctype == "application/problem+json" and body["status"] == 400
    status, body, _ = await live.call("POST", "/api/v1/sales", headers={"Idempotency-Key": "nf"},
                                      json={"lines": [{"code": "999"}], "payments": [{"method": "cash", "amount": 1}]})
    assert status == 404 and body["code"] == "not-found"
    big = b'{"lines": [' + b'{"code": "1"},' * 200_000 + b'{"code": "1"}]}'
    status, body, ctype = await live.call("POST", "/api/v1/sales", data=big, headers=h)
    assert status == 413 and ctype == "application/problem+json"
    assert live.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.finished'") == 0


async def test_unknown_route_and_method_are_problems(live: LiveGateway) -> None:
    status, body, ctype = await live.call("GET", "/api/v1/nothing")
    assert status == 404 and ctype == "application/problem+json"
    status, body, ctype = await live.call("PUT", "/api/v1/sales")
    assert status == 405 and ctype == "application/problem+json"


async def test_events_websocket_replays_then_streams(live: LiveGateway) -> None:
    await live.call("POST", "/api/v1/sales", json=SALE, headers={"Idempotency-Key": "e1"})
    async with live.session.ws_connect(live.url + "/api/v1/events?since=0", headers=live.auth()) as ws:
        first = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert first["kind"] == "ledger" and first["replay"] is True and first["seq"] == 1
        await live.call("POST", "/api/v1/demo/scan", json={"code": "4006381333931"})
        ev = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert ev["kind"] == "event" and ev["topic"] == "device.scanner-demo.evt.scan"
        assert ev["data"]["code"] == "4006381333931"
        await live.call("POST", "/api/v1/sales", json=SALE, headers={"Idempotency-Key": "e2"})
        ev = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert ev["kind"] == "ledger" and ev["type"] == "sale.finished" and ev["seq"] == 2


async def test_events_websocket_needs_token(live: LiveGateway) -> None:
    try:
        async with live.session.ws_connect(live.url + "/api/v1/events"):
            raise AssertionError("connected without a token")
    except aiohttp.WSServerHandshakeError as err:
        assert err.status == 401
    async with live.session.ws_connect(live.url + f"/api/v1/events?since=0&token={live.tokens['cashier']}") as ws:
        assert not ws.closed


async def test_cash_and_reports(live: LiveGateway) -> None:
    status, dep, _ = await live.call("POST", "/api/v1/cash/deposits", role="manager", json={"amount": 5000, "reason": "float"},
                                     headers={"Idempotency-Key": "d1"})
    assert status == 201 and dep["kind"] == "deposit"
    await live.call("POST", "/api/v1/sales", json=SALE, headers={"Idempotency-Key": "x1"})
    status, x, _ = await live.call("GET", "/api/v1/reports/x", role="manager")
    assert x["gross"] == 523 and x["cash_balance"] == 5523
    status, body, _ = await live.call("POST", "/api/v1/cash/withdrawals", role="manager", json={"amount": 10**6},
                                      headers={"Idempotency-Key": "w1"})
    assert status == 409


async def test_returns_over_http(live: LiveGateway) -> None:
    _, r, _ = await live.call("POST", "/api/v1/sales", json=SALE, headers={"Idempotency-Key": "s"})
    status, ret, _ = await live.call("POST", f"/api/v1/receipts/{r['receipt_no']}/return", json={"items": [{"line": 1, "qty": 1}]},
                                     headers={"Idempotency-Key": "ret1"})
    assert status == 201 and ret["totals"]["gross"] == -199
    status, again, _ = await live.call("POST", f"/api/v1/receipts/{r['receipt_no']}/return", json={"items": [{"line": 1, "qty": 1}]},
                                       headers={"Idempotency-Key": "ret1"})
    assert again == ret
    assert live.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='sale.returned'") == 1
