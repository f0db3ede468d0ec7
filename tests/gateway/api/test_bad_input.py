"""Bad input over real HTTP: every malformed, out-of-range or unauthorised request is a 4xx problem+json and changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import Config
from gateway.pos.catalog import Catalog, validate_product

PIECE = "4006381333931"
WEIGHED = "1001"
PRODUCTS = [
    {"code": PIECE, "name": "Kugelschreiber", "vat_id": 1, "price": 199, "unit": "piece"},
    {"code": WEIGHED, "name": "Äpfel", "vat_id": 2, "price": 249, "unit": "kg"},
]
CASH = [{"method": "cash", "amount": 1000}]
GOOD_SALE = {"lines": [{"code": PIECE, "qty": 1}], "payments": CASH}


class Client:
    """A live gateway with one token per role."""

    def __init__(self, gw: Gateway, session: aiohttp.ClientSession, tokens: dict[str, str]) -> None:
        self.gw, self.session, self.tokens = gw, session, tokens
        self.base = f"http://127.0.0.1:{gw.http_port}"

    async def request(self, method: str, path: str, *, role: str | None = "admin", body: Any = None, raw: bytes | None = None,
                      key: str | None = "auto", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        """Send a request; returns (status, headers, decoded body)."""
        h = dict(headers or {})
        if role is not None:
            h["Authorization"] = f"Bearer {self.tokens[role]}"
        if key == "auto" and method == "POST":
            h["Idempotency-Key"] = uuid.uuid4().hex
        elif key not in (None, "auto"):
            h["Idempotency-Key"] = key
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        async with self.session.request(method, self.base + path, data=data, headers=h) as r:
            text = await r.text()
            try:
                doc = json.loads(text)
            except ValueError:
                doc = text
            return r.status, dict(r.headers), doc


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Client]:
    """A started gateway with two products and tokens for every role."""
    gw = Gateway(Config({}), tmp_path)
    gw.open()
    gw.ledger.write_sync(lambda txn: Catalog.upsert(txn, [validate_product(p) for p in PRODUCTS]))
    tokens = {role: gw.clients.add(f"{role}-1", role) for role in ("cashier", "manager", "technician", "admin")}
    await gw.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            yield Client(gw, session, tokens)
    finally:
        await gw.stop()


def assert_problem(status: int, headers: dict[str, str], doc: Any, expected: int) -> None:
    """An RFC 9457 problem document with the expected status."""
    assert status == expected, (status, doc)
    assert headers["Content-Type"].startswith("application/problem+json"), headers["Content-Type"]
    assert isinstance(doc, dict), doc
    assert doc["status"] == expected
    assert doc["type"].startswith("https://") and doc["title"] and doc["detail"], doc


SALE_CASES: list[tuple[str, bytes | None, Any, int]] = [
    ("malformed JSON", b'{"lines": [', None, 400),
    ("not UTF-8", b'{"lines": "\xff\xfe"}', None, 400),
    ("lone surrogate escape", b'{"lines": [{"code": "\\ud800", "qty": 1}], "payments": []}', None, 400),
    ("empty body", b"", None, 400),
    ("array instead of object", b"[]", None, 400),
    ("JSON null", b"null", None, 400),
    ("deeply nested JSON", b"[" * 100_000 + b"]" * 100_000, None, 400),
    ("number with 5000 digits", b'{"lines": [{"code": "1", "qty": ' + b"9" * 5000 + b"}], \"payments\": []}", None, 400),
    ("NaN amount", b'{"lines": [{"code": "4006381333931", "qty": 1}], "payments": [{"method": "cash", "amount": NaN}]}', None, 400),
    ("lines is a string", None, {"lines": "4006381333931", "payments": CASH}, 400),
    ("lines missing", None, {"payments": CASH}, 400),
    ("no lines", None, {"lines": [], "payments": CASH}, 400),
    ("line is a number", None, {"lines": [42], "payments": CASH}, 400),
    ("code is a number", None, {"lines": [{"code": 4006381333931, "qty": 1}], "payments": CASH}, 400),
    ("qty is a string", None, {"lines": [{"code": PIECE, "qty": "1"}], "payments": CASH}, 400),
    ("qty is a float", None, {"lines": [{"code": PIECE, "qty": 1.5}], "payments": CASH}, 400),
    ("qty is a boolean", None, {"lines": [{"code": PIECE, "qty": True}], "payments": CASH}, 400),
    ("qty zero", None, {"lines": [{"code": PIECE, "qty": 0}], "payments": CASH}, 400),
    ("qty negative", None, {"lines": [{"code": PIECE, "qty": -3}], "payments": CASH}, 400),
    ("qty absurd", None, {"lines": [{"code": PIECE, "qty": 10**12}], "payments": CASH}, 400),
    ("qty beyond 64 bits", None, {"lines": [{"code": PIECE, "qty": 2**70}], "payments": CASH}, 400),
    ("weight for a piece product", None, {"lines": [{"code": PIECE, "weight_g": 500}], "payments": CASH}, 400),
    ("qty for a weighed product", None, {"lines": [{"code": WEIGHED, "qty": 2}], "payments": CASH}, 400),
    ("weight negative", None, {"lines": [{"code": WEIGHED, "weight_g": -500}], "payments": CASH}, 400),
    ("weight absurd", None, {"lines": [{"code": WEIGHED, "weight_g": 10**9}], "payments": CASH}, 400),
    ("unknown product", None, {"lines": [{"code": "4000000000006", "qty": 1}], "payments": CASH}, 404),
    ("misread check digit", None, {"lines": [{"code": "4000000000000", "qty": 1}], "payments": CASH}, 400),
    ("unknown line field", None, {"lines": [{"code": PIECE, "qty": 1, "price": 1}], "payments": CASH}, 400),
    ("unknown top-level field", None, {**GOOD_SALE, "discount": 100}, 400),
    ("payments missing", None, {"lines": GOOD_SALE["lines"]}, 400),
    ("payments empty", None, {"lines": GOOD_SALE["lines"], "payments": []}, 400),
    ("amount negative", None, {"lines": GOOD_SALE["lines"], "payments": [{"method": "cash", "amount": -1000}]}, 400),
    ("amount zero", None, {"lines": GOOD_SALE["lines"], "payments": [{"method": "cash", "amount": 0}]}, 400),
    ("amount a float", None, {"lines": GOOD_SALE["lines"], "payments": [{"method": "cash", "amount": 10.5}]}, 400),
    ("amount a string", None, {"lines": GOOD_SALE["lines"], "payments": [{"method": "cash", "amount": "1000"}]}, 400),
    ("amount absurd", None, {"lines": GOOD_SALE["lines"], "payments": [{"method": "cash", "amount": 10**15}]}, 400),
    ("cash short of the total", None, {"lines": [{"code": PIECE, "qty": 10}], "payments": [{"method": "cash", "amount": 100}]}, 400),
    ("unknown payment method", None, {"lines": GOOD_SALE["lines"], "payments": [{"method": "iou", "amount": 1000}]}, 400),
]


@pytest.mark.parametrize(("name", "raw", "body", "expected"), SALE_CASES, ids=[c[0] for c in SALE_CASES])
async def test_bad_sale_is_a_problem_and_changes_nothing(api: Client, name: str, raw: bytes | None, body: Any,
                                                         expected: int) -> None:
    """Each bad one-shot sale gets its 4xx problem document; the journal does not move."""
    before = api.gw.ledger.last_seq
    status, headers, doc = await api.request("POST", "/api/v1/sales", raw=raw, body=body)
    assert_problem(status, headers, doc, expected)
    assert api.gw.ledger.last_seq == before
    assert api.gw.metrics.get("http_5xx", 0) == 0


async def test_oversized_body_is_413(api: Client) -> None:
    """A body above [http] max_body_bytes is refused with 413 before it is parsed."""
    limit = api.gw.config.http.max_body_bytes
    big = json.dumps({"lines": [{"code": PIECE, "qty": 1}] * (limit // 20), "payments": CASH}).encode()
    assert len(big) > limit
    status, headers, doc = await api.request("POST", "/api/v1/sales", raw=big)
    assert_problem(status, headers, doc, 413)


@pytest.mark.parametrize(("auth", "detail"), [(None, "missing"), ("Bearer sgw_not-a-real-token", "unknown"),
                                              ("Basic dXNlcjpwYXNz", "missing"), ("Bearer ", "missing")])
async def test_missing_or_wrong_token_is_401(api: Client, auth: str | None, detail: str) -> None:
    """No token, an unknown token or another scheme: 401 with a Bearer challenge."""
    headers = {"Authorization": auth} if auth is not None else {}
    status, h, doc = await api.request("POST", "/api/v1/sales", role=None, body=GOOD_SALE, headers=headers)
    assert_problem(status, h, doc, 401)
    assert h["WWW-Authenticate"].startswith("Bearer")
    assert detail in doc["detail"]


async def test_revoked_token_is_401(api: Client) -> None:
    """A token revoked while the gateway runs stops working at once."""
    api.gw.clients.revoke("cashier-1")
    status, h, doc = await api.request("GET", "/api/v1/products?q=kugel", role="cashier")
    assert_problem(status, h, doc, 401)


ROLE_CASES = [
    ("technician", "POST", "/api/v1/sales", GOOD_SALE),
    ("technician", "GET", "/api/v1/products?q=kugel", None),
    ("cashier", "POST", "/api/v1/cash/deposits", {"amount": 100}),
    ("cashier", "POST", "/api/v1/cash/withdrawals", {"amount": 100}),
    ("cashier", "POST", "/api/v1/receipts/1/void", {"reason": "x"}),
    ("cashier", "GET", "/api/v1/reports/x", None),
    ("cashier", "GET", "/api/v1/clients", None),
    ("cashier", "POST", "/api/v1/clients", {"name": "x", "role": "admin"}),
    ("manager", "POST", "/api/v1/clients", {"name": "x", "role": "admin"}),
    ("cashier", "GET", "/api/v1/ledger/stats", None),
    ("technician", "DELETE", "/api/v1/clients/cashier-1", None),
]


@pytest.mark.parametrize(("role", "method", "path", "body"), ROLE_CASES, ids=[f"{c[0]} {c[1]} {c[2]}" for c in ROLE_CASES])
async def test_wrong_role_is_403(api: Client, role: str, method: str, path: str, body: Any) -> None:
    """A valid token whose role may not do this gets 403 and nothing happens."""
    before = api.gw.ledger.last_seq
    status, h, doc = await api.request(method, path, role=role, body=body)
    assert_problem(status, h, doc, 403)
    assert doc["role"] == role
    assert api.gw.ledger.last_seq == before


async def test_idempotency_key_reuse(api: Client) -> None:
    """Same key and body: the first result again, once in the journal. Same key, other body: 409."""
    s1, _, first = await api.request("POST", "/api/v1/sales", body=GOOD_SALE, key="till-1-0001")
    assert s1 == 201
    seq = api.gw.ledger.last_seq
    s2, _, again = await api.request("POST", "/api/v1/sales", body=GOOD_SALE, key="till-1-0001")
    assert (s2, again) == (201, first)
    other = {"lines": [{"code": PIECE, "qty": 2}], "payments": CASH}
    s3, h3, doc = await api.request("POST", "/api/v1/sales", body=other, key="till-1-0001")
    assert_problem(s3, h3, doc, 409)
    assert api.gw.ledger.last_seq == seq
    sales = api.gw.ledger.query("SELECT COUNT(*) FROM journal WHERE type='sale.finished'")[0][0]
    assert sales == 1


@pytest.mark.parametrize("key", [None, "", "x" * 201], ids=["missing", "empty", "too long"])
async def test_missing_or_invalid_idempotency_key_is_400(api: Client, key: str | None) -> None:
    """Money-moving requests need a usable Idempotency-Key."""
    before = api.gw.ledger.last_seq
    status, h, doc = await api.request("POST", "/api/v1/sales", body=GOOD_SALE, key=key)
    assert_problem(status, h, doc, 400)
    assert api.gw.ledger.last_seq == before


PARAM_CASES = [
    ("GET", "/api/v1/receipts/abc", 400),
    ("GET", "/api/v1/receipts/0", 400),
    ("GET", "/api/v1/receipts/-1", 400),
    ("GET", "/api/v1/receipts/99999999999999999999999", 400),
    ("GET", "/api/v1/receipts/424242", 404),
    ("GET", "/api/v1/products?limit=0", 400),
    ("GET", "/api/v1/products?limit=abc", 400),
    ("GET", "/api/v1/products?limit=101", 400),
    ("GET", "/api/v1/products?q=" + "x" * 101, 400),
    ("GET", "/api/v1/products/4000000000000", 404),
    ("GET", "/api/v1/carts?state=bogus", 400),
    ("GET", "/api/v1/carts/no-such-cart", 404),
    ("DELETE", "/api/v1/carts/no-such-cart/lines/1", 404),
    ("DELETE", "/api/v1/carts/no-such-cart/lines/zero", 400),
    ("GET", "/api/v1/events?since=-5", 400),
    ("GET", "/api/v1/no-such-thing", 404),
    ("PUT", "/api/v1/sales", 405),
]


@pytest.mark.parametrize(("method", "path", "expected"), PARAM_CASES, ids=[f"{c[0]} {c[1][:50]}" for c in PARAM_CASES])
async def test_bad_path_and_query_values(api: Client, method: str, path: str, expected: int) -> None:
    """Bad path or query values, unknown resources and methods: 4xx problem documents."""
    status, h, doc = await api.request(method, path)
    assert_problem(status, h, doc, expected)


CASH_AND_CART_CASES = [
    ("POST", "/api/v1/cash/deposits", {"amount": -100}, 400),
    ("POST", "/api/v1/cash/deposits", {"amount": 0}, 400),
    ("POST", "/api/v1/cash/deposits", {"amount": 10**13}, 400),
    ("POST", "/api/v1/cash/deposits", {"amount": "100"}, 400),
    ("POST", "/api/v1/cash/deposits", {"amount": 100, "reason": 7}, 400),
    ("POST", "/api/v1/cash/deposits", {"amount": 100, "reason": "r" * 201}, 400),
    ("POST", "/api/v1/cash/withdrawals", {"amount": 100}, 409),  # more than the empty drawer holds
    ("POST", "/api/v1/receipts/1/void", {"reason": ["x"]}, 400),
    ("POST", "/api/v1/receipts/424242/void", {}, 404),
    ("POST", "/api/v1/receipts/424242/return", {"items": [{"line": 1}]}, 404),
    ("POST", "/api/v1/clients", {"name": "bad name!", "role": "cashier"}, 400),
    ("POST", "/api/v1/clients", {"name": "ok", "role": "owner"}, 400),
    ("POST", "/api/v1/clients", {"name": 5, "role": "cashier"}, 400),
    # Unknown fields are refused on every route with a closed schema, not silently ignored.
    ("POST", "/api/v1/cash/deposits", {"amount": 100, "currency": "USD"}, 400),
    ("POST", "/api/v1/receipts/424242/void", {"reason": "x", "refund": False}, 400),
    ("POST", "/api/v1/receipts/424242/return", {"items": [{"line": 1}], "price": 1}, 400),
    ("POST", "/api/v1/clients", {"name": "ok", "role": "cashier", "admin": True}, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), CASH_AND_CART_CASES,
                         ids=[f"{c[1]} {json.dumps(c[2])[:40]}" for c in CASH_AND_CART_CASES])
async def test_bad_cash_receipt_and_client_bodies(api: Client, method: str, path: str, body: Any, expected: int) -> None:
    """Cash moves, voids, returns and client creation reject bad values without a journal entry."""
    before = api.gw.ledger.last_seq
    status, h, doc = await api.request(method, path, body=body)
    assert_problem(status, h, doc, expected)
    assert api.gw.ledger.last_seq == before


async def test_cart_line_bad_values(api: Client) -> None:
    """Cart lines take the same checks as one-shot lines."""
    status, _, cart = await api.request("POST", "/api/v1/carts")
    assert status == 201
    path = f"/api/v1/carts/{cart['id'] if 'id' in cart else cart['cart_id']}/lines"
    seq = api.gw.ledger.last_seq
    status, h, doc = await api.request("POST", path.replace("/lines", "/checkout"),
                                       body={"payments": [{"method": "cash", "amount": 100}], "discount": 500})
    assert_problem(status, h, doc, 400)
    assert "unknown fields: discount" in doc["detail"]
    for body, expected in [({"code": PIECE, "qty": -1}, 400), ({"code": PIECE, "qty": "2"}, 400), ({"code": "nope", "qty": 1}, 404),
                           ({"code": WEIGHED, "weight_g": 0}, 400), ({"qty": 1}, 400), ({"code": PIECE, "qty": 1, "x": 1}, 400)]:
        status, h, doc = await api.request("POST", path, body=body)
        assert_problem(status, h, doc, expected)
    assert api.gw.ledger.last_seq == seq


async def test_private_status_page_needs_a_technician_and_says_so_in_openapi(tmp_path: Path) -> None:
    from gateway.config import HttpConfig

    gw = Gateway(Config({}).with_section(HttpConfig(status_public=False)), tmp_path)
    gw.open()
    tokens = {role: gw.clients.add(f"{role}-1", role) for role in ("cashier", "technician")}
    await gw.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            api = Client(gw, session, tokens)
            for path in ("/", "/api/v1/status"):
                assert (await api.request("GET", path, role=None))[0] == 401
                assert (await api.request("GET", path, role="cashier"))[0] == 403
                assert (await api.request("GET", path, role="technician"))[0] == 200
            status, _, doc = await api.request("GET", "/api/v1/openapi.json", role="technician")
            assert status == 200
            op = doc["paths"]["/api/v1/status"]["get"]
            assert op.get("security") and "401" in op["responses"]
    finally:
        await gw.stop()
