"""The omnichannel HTTP API on a live in-process gateway: roles, idempotency keys, flows end to end."""

from __future__ import annotations

from gateway.omni.inbound import OmniInbound
from tests.conftest import LiveGateway
from tests.gateway.omni.conftest import CHOC, PEN, Omni


async def test_stock_moves_need_manager_and_idempotency_key(olive: tuple[LiveGateway, Omni]) -> None:
    live, om = olive
    body = {"lines": [{"code": PEN, "qty": 5}], "ref": "LS-1"}
    st, _, _ = await live.call("POST", "/api/v1/stock/receipts", role="cashier", json=body, headers={"Idempotency-Key": "k1"})
    assert st == 403
    st, err, ctype = await live.call("POST", "/api/v1/stock/receipts", role="manager", json=body)
    assert st == 400 and ctype == "application/problem+json"
    for _ in range(2):
        st, out, _ = await live.call("POST", "/api/v1/stock/receipts", role="manager", json=body, headers={"Idempotency-Key": "k1"})
        assert st == 201 and out["adjusted"][0]["delta_milli"] == 5000
    st, lv, _ = await live.call("GET", f"/api/v1/stock?codes={PEN}")
    assert st == 200 and lv["items"][0]["on_hand_milli"] == 5000
    st, out, _ = await live.call("POST", "/api/v1/stock/counts", role="manager", json={"lines": [{"code": PEN, "qty": 4}]},
                                 headers={"Idempotency-Key": "k2"})
    assert st == 201 and out["adjusted"][0]["delta_milli"] == -1000
    st, out, _ = await live.call("PUT", "/api/v1/stock/buffers", role="manager",
                                 json={"scope": "product", "key": PEN, "channel": "online", "qty_milli": 1000})
    assert st == 200
    st, lv, _ = await live.call("GET", f"/api/v1/stock?codes={PEN}")
    assert lv["items"][0]["atp"] == {"store": 4000, "online": 3000}
    st, _, _ = await live.call("POST", "/api/v1/omni/sales", json={"lines": [{"code": PEN, "qty": 1}], "payments": [{"method": "cash", "amount": 199}]},
                               headers={"Idempotency-Key": "s1"})
    assert st == 201
    import datetime as dt

    day = dt.datetime.now(dt.UTC).date().isoformat()
    st, text, ctype = await live.call("GET", f"/api/v1/reports/products?day={day}&format=csv", role="manager")
    assert st == 200 and ctype == "text/csv" and text.splitlines()[1].startswith(f"{PEN};")
    st, val, _ = await live.call("GET", "/api/v1/reports/stock-value", role="manager")
    assert st == 200 and val["total"] == 3 * 199


async def test_click_and_collect_over_http(olive: tuple[LiveGateway, Omni]) -> None:
    live, om = olive
    await om.receive(PEN, 3)
    await om.hq_push(OmniInbound(om.omni).apply_order, {"order_id": "W-7", "lines": [{"code": PEN, "qty": 2, "price": 199}],
                                                         "total": 398, "paid": True, "pickup_code": "777"})
    st, pick, _ = await live.call("GET", "/api/v1/orders/picklist")
    assert st == 200 and pick["products"] == [{"code": PEN, "qty_milli": 2000}]
    st, o, _ = await live.call("POST", "/api/v1/orders/W-7/picked", json={})
    assert st == 200 and o["state"] == "picked"
    hdr = {"Idempotency-Key": "pick-1"}
    st, o, _ = await live.call("POST", "/api/v1/orders/pickup", json={"code": "777", "lines": [{"code": PEN, "qty": 1}]}, headers=hdr)
    assert st == 200 and o["state"] == "partially_collected"
    st, again, _ = await live.call("POST", "/api/v1/orders/pickup", json={"code": "777", "lines": [{"code": PEN, "qty": 1}]}, headers=hdr)
    assert again == o  # a retried scan hands over once
    st, o, _ = await live.call("POST", "/api/v1/orders/pickup", json={"code": "777"}, headers={"Idempotency-Key": "pick-2"})
    assert o["state"] == "collected"
    assert om.level(PEN)["on_hand_milli"] == 1000
    st, err, _ = await live.call("POST", "/api/v1/orders/pickup", json={"code": "777"}, headers={"Idempotency-Key": "pick-3"})
    assert st == 404


async def test_reservation_voucher_loyalty_and_dsgvo_over_http(olive: tuple[LiveGateway, Omni]) -> None:
    live, om = olive
    await om.receive(CHOC, 1)
    await om.hq_push(OmniInbound(om.omni).apply_reservation, {"reservation_id": "R-5", "lines": [{"code": CHOC, "qty": 1}],
                                                               "expires_at": "2099-01-01T00:00:00+00:00"})
    st, c, _ = await live.call("POST", "/api/v1/customers", json={"name": "Jana Beispiel", "phone": "+49301"})
    assert st == 201
    cid = c["id"]
    st, v, _ = await live.call("POST", "/api/v1/vouchers", json={"kind": "multi", "amount": 1000, "payments": [{"method": "cash", "amount": 1000}]},
                               headers={"Idempotency-Key": "v1"})
    assert st == 201 and v["totals"]["vat"] == 0
    code = v["lines"][0]["voucher"]["code"]
    om.hq.online = False  # the store keeps selling with the voucher offline
    st, r, _ = await live.call("POST", "/api/v1/reservations/R-5/sale", json={"payments": [{"method": "voucher", "amount": 119, "ref": code}],
                                                                                "customer": cid}, headers={"Idempotency-Key": "s1"})
    assert st == 201, r
    assert r["reservation_id"] == "R-5" and r["payments"][0]["details"]["online"] is False
    st, bal, _ = await live.call("GET", f"/api/v1/vouchers/{code}")
    assert bal["balance"] == 881 and bal["online"] is False
    st, acc, _ = await live.call("GET", f"/api/v1/loyalty/{cid}")
    assert acc["pending_earned"] == 1
    st, view, _ = await live.call("GET", f"/api/v1/customers/{cid}")
    assert st == 200 and view["purchases_all_channels"] is None  # HQ offline: local history only
    assert view["purchases_here"][0]["channel"] == "reserve_collect" and view["loyalty"]["balance"] == 1
    om.hq.online = True
    st, view, _ = await live.call("GET", f"/api/v1/customers/{cid}")
    assert view["purchases_all_channels"] == [{"channel": "online", "order_id": "W-1", "gross": 1999}]
    st, _, _ = await live.call("GET", f"/api/v1/customers/{cid}/export", role="cashier")
    assert st == 403
    st, exp, _ = await live.call("GET", f"/api/v1/customers/{cid}/export", role="manager")
    assert st == 200 and exp["customer"]["phone"] == "+49301" and any(e["type"] == "loyalty.earned" for e in exp["journal"])
    st, gone, _ = await live.call("POST", f"/api/v1/customers/{cid}/erase", role="admin")
    assert st == 200 and gone["name"] is None and gone["phone"] is None
    assert om.gw.ledger.verify().ok
    st, spec, _ = await live.call("GET", "/api/v1/openapi.json", role=None)
    assert "/api/v1/orders/pickup" in spec["paths"] and "/api/v1/customers/{customer}/erase" in spec["paths"]


BAD_BODIES: list[object] = [
    {}, [], "x", 7, None, {"lines": "x"}, {"lines": [{"code": 5}]}, {"lines": [{"code": PEN, "qty": 10**30}]},
    {"lines": [{"code": PEN, "qty": -1}], "payments": [{"method": "voucher", "amount": 1, "ref": "X" * 65}]},
    {"items": [{"code": PEN, "qty": 1.5}], "refund_method": 3}, {"kind": "single", "amount": True, "payments": {}},
    {"points": "many"}, {"scope": "planet", "key": [], "channel": None, "qty_milli": -1}, {"code": {"a": 1}, "lines": [[]]},
    {"name": "x" * 500}, {"day": "2026-13-45"}, {"transfer_id": "", "to_store": "store-1", "lines": [{"code": PEN, "qty": 1}]},
    {"items": [{"line": "1"}], "lines": [{"code": PEN}], "payments": [{"method": "cash", "amount": 10**15}]},
]


async def test_malformed_input_never_gives_5xx(olive: tuple[LiveGateway, Omni]) -> None:
    """Every omnichannel route answers malformed bodies and unknown ids with 4xx problems, never 5xx."""
    import json as _json
    import random

    from gateway.omni.api import api as omni_api

    live, om = olive
    await om.receive(PEN, 2)
    rnd = random.Random(8)
    n = 0
    for route in omni_api.routes:
        path = route.path.replace("{receipt_no}", "1")
        for name in ("order_id", "reservation_id", "transfer_id", "code", "customer"):
            path = path.replace("{" + name + "}", rnd.choice(["X", "c_0123456789abcdef", "%20"]))
        for body in BAD_BODIES if route.method in ("POST", "PUT", "PATCH") else [None]:
            n += 1
            data = None if body is None else _json.dumps(body)
            st, doc, _ = await live.call(route.method, path + ("?day=2026-02-30&codes=,,," if route.method == "GET" else ""), role="admin",
                                         data=data, headers={"Idempotency-Key": f"f{n}", "Content-Type": "application/json"})
            assert st < 500, (route.method, path, body, doc)
    assert n > 300
