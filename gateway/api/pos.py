"""Selling over HTTP: products, carts, one-shot sales, receipts, voids, returns, cash moves, X report."""

from __future__ import annotations

from aiohttp import web

from gateway.api import schemas as S
from gateway.api.keys import client_name, gw
from gateway.api.registry import Api, int_param, json_response, read_json
from gateway.auth import MANAGE, SELL
from gateway.errors import BadRequest
from gateway.idempotency import IdemKey
from gateway.pos.reports import x_report

api = Api()
CART_ID = {"name": "cart_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
RECEIPT_NO = {"name": "receipt_no", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
LINE_NO = {"name": "line", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def idem_key(request: web.Request, scope: str, body: object) -> IdemKey:
    """The request's idempotency key (required on money, print and drawer routes)."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        raise BadRequest("this request moves money: send an Idempotency-Key header", field="Idempotency-Key")
    return IdemKey.make(key, client_name(request), scope, body)


@api.route("GET", "/api/v1/products", roles=SELL, summary="Search products by code prefix or name words", tag="catalog",
           query=({"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}),
           response={"type": "object", "properties": {"products": {"type": "array", "items": S.PRODUCT}}})
async def search_products(request: web.Request) -> web.StreamResponse:
    """Products matching ``q``."""
    q = request.query.get("q", "")
    if len(q) > 100:
        raise BadRequest("q is longer than 100 characters", field="q")
    limit = int_param(request, "limit", 1, 100) if "limit" in request.query else 20
    return json_response({"products": [p.to_dict() for p in gw(request).catalog.search(q, limit)]})


@api.route("GET", "/api/v1/products/{code}", roles=SELL, summary="One product by code", tag="catalog",
           query=({"name": "code", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}},),
           response=S.PRODUCT)
async def get_product(request: web.Request) -> web.StreamResponse:
    """A product by primary or extra code."""
    return json_response(gw(request).catalog.lookup(request.match_info["code"]).to_dict())


@api.route("POST", "/api/v1/sales", roles=SELL, summary="Finish a sale in one request", tag="sales", body=S.SALE_IN,
           ok=201, response=S.RECEIPT, idempotent=True)
async def post_sale(request: web.Request) -> web.StreamResponse:
    """One-shot sale: lines and payments in, committed receipt out."""
    body = await read_json(request)
    idem = idem_key(request, "sale", body)
    receipt = await gw(request).sales.finish(cashier=client_name(request), lines=body.get("lines"),
                                             payments=body.get("payments"), idem=idem)
    return json_response(receipt, 201)


@api.route("POST", "/api/v1/carts", roles=SELL, summary="Open a cart", tag="carts", ok=201, response=S.CART)
async def open_cart(request: web.Request) -> web.StreamResponse:
    """A new cart for the calling client."""
    return json_response(await gw(request).carts.open(client_name(request)), 201)


@api.route("GET", "/api/v1/carts", roles=SELL, summary="List carts", tag="carts",
           query=({"name": "state", "in": "query", "schema": {"type": "string", "enum": ["open", "parked", "closed", "cancelled"]}},))
async def list_carts(request: web.Request) -> web.StreamResponse:
    """Carts, optionally by state."""
    state = request.query.get("state")
    if state is not None and state not in ("open", "parked", "closed", "cancelled"):
        raise BadRequest("state must be open, parked, closed or cancelled", field="state")
    return json_response({"carts": gw(request).carts.list(state)})


@api.route("GET", "/api/v1/carts/{cart_id}", roles=SELL, summary="A cart with totals", tag="carts", query=(CART_ID,), response=S.CART)
async def get_cart(request: web.Request) -> web.StreamResponse:
    """One cart."""
    return json_response(gw(request).carts.get(request.match_info["cart_id"]))


@api.route("POST", "/api/v1/carts/{cart_id}/lines", roles=SELL, summary="Add a line by code", tag="carts",
           query=(CART_ID,), body=S.LINE_IN, ok=201, response=S.CART)
async def add_line(request: web.Request) -> web.StreamResponse:
    """Add ``qty`` pieces or ``weight_g`` grams of a product."""
    b = await read_json(request)
    cart = await gw(request).carts.add_line(request.match_info["cart_id"], b.get("code"), b.get("qty"), b.get("weight_g"),
                                            str(b.get("weight_source") or ""))
    return json_response(cart, 201)


@api.route("DELETE", "/api/v1/carts/{cart_id}/lines/{line}", roles=SELL, summary="Void a line", tag="carts",
           query=(CART_ID, LINE_NO), response=S.CART)
async def void_line(request: web.Request) -> web.StreamResponse:
    """Mark one line voided."""
    return json_response(await gw(request).carts.void_line(request.match_info["cart_id"], int_param(request, "line", 1, 10**6)))


def _discount(b: dict[str, object]) -> tuple[int | None, int | None]:
    p, a = b.get("percent_bp"), b.get("amount")
    for name, v in (("percent_bp", p), ("amount", a)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise BadRequest(f"{name} must be an integer", field=name)
    return p, a  # type: ignore[return-value]


@api.route("POST", "/api/v1/carts/{cart_id}/lines/{line}/discount", roles=SELL, summary="Discount one line", tag="carts",
           query=(CART_ID, LINE_NO), body=S.DISCOUNT_IN, response=S.CART)
async def discount_line(request: web.Request) -> web.StreamResponse:
    """Percent (basis points) or amount off one line."""
    p, a = _discount(await read_json(request))
    cart = await gw(request).carts.discount_line(request.match_info["cart_id"], int_param(request, "line", 1, 10**6), p, a)
    return json_response(cart)


@api.route("POST", "/api/v1/carts/{cart_id}/discount", roles=SELL, summary="Discount the whole cart", tag="carts",
           query=(CART_ID,), body=S.DISCOUNT_IN, response=S.CART)
async def discount_cart(request: web.Request) -> web.StreamResponse:
    """Percent (basis points) or amount off the cart, spread over the lines."""
    p, a = _discount(await read_json(request))
    return json_response(await gw(request).carts.discount_cart(request.match_info["cart_id"], p, a))


def _cart_action(action: str) -> None:
    @api.route("POST", f"/api/v1/carts/{{cart_id}}/{action}", roles=SELL, summary=f"{action.capitalize()} a cart", tag="carts",
               query=(CART_ID,), response=S.CART)
    async def handler(request: web.Request) -> web.StreamResponse:
        carts = gw(request).carts
        fn = {"park": carts.park, "resume": carts.resume, "cancel": carts.cancel}[action]
        return json_response(await fn(request.match_info["cart_id"]))

    handler.__name__ = f"cart_{action}"


for _action in ("park", "resume", "cancel"):
    _cart_action(_action)


@api.route("POST", "/api/v1/carts/{cart_id}/checkout", roles=SELL, summary="Pay and finish a cart", tag="carts",
           query=(CART_ID,), body=S.CHECKOUT_IN, ok=201, response=S.RECEIPT, idempotent=True)
async def checkout(request: web.Request) -> web.StreamResponse:
    """Finish the cart's sale with the given payments."""
    body = await read_json(request)
    cart_id = request.match_info["cart_id"]
    idem = idem_key(request, f"checkout:{cart_id}", body)
    receipt = await gw(request).sales.finish(cashier=client_name(request), cart_id=cart_id, payments=body.get("payments"), idem=idem)
    return json_response(receipt, 201)


@api.route("GET", "/api/v1/receipts/{receipt_no}", roles=SELL, summary="A receipt by number", tag="receipts",
           query=(RECEIPT_NO,), response=S.RECEIPT)
async def get_receipt(request: web.Request) -> web.StreamResponse:
    """One committed receipt."""
    return json_response(gw(request).sales.receipt(int_param(request, "receipt_no", 1)))


@api.route("POST", "/api/v1/receipts/{receipt_no}/void", roles=MANAGE, summary="Void (storno) a whole sale", tag="receipts",
           query=(RECEIPT_NO,), body=S.VOID_IN, ok=201, response=S.RECEIPT, idempotent=True)
async def void_receipt(request: web.Request) -> web.StreamResponse:
    """A negative receipt cancelling the original."""
    body = await read_json(request) if request.can_read_body else {}
    no = int_param(request, "receipt_no", 1)
    idem = idem_key(request, f"void:{no}", body)
    reason = _reason(body)
    return json_response(await gw(request).sales.void(no, cashier=client_name(request), reason=reason, idem=idem), 201)


@api.route("POST", "/api/v1/receipts/{receipt_no}/return", roles=SELL, summary="Return lines of a sale", tag="receipts",
           query=(RECEIPT_NO,), body=S.RETURN_IN, ok=201, response=S.RECEIPT, idempotent=True)
async def return_items(request: web.Request) -> web.StreamResponse:
    """A negative receipt for the returned lines, refunded to ``refund_method``."""
    body = await read_json(request)
    no = int_param(request, "receipt_no", 1)
    idem = idem_key(request, f"return:{no}", body)
    method = body.get("refund_method", "cash")
    if not isinstance(method, str):
        raise BadRequest("refund_method must be a string", field="refund_method")
    receipt = await gw(request).sales.return_items(no, body.get("items"), cashier=client_name(request), refund_method=method, idem=idem)
    return json_response(receipt, 201)


def _reason(body: dict[str, object]) -> str:
    """The optional ``reason`` of a void or cash move: a string of at most 200 characters (as documented)."""
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise BadRequest("reason must be a string of at most 200 characters", field="reason")
    return reason


def _cash_route(kind: str, path: str) -> None:
    @api.route("POST", f"/api/v1/cash/{path}", roles=MANAGE, summary=f"Cash {kind}", tag="cash", body=S.CASH_IN, ok=201,
               response=S.RECEIPT, idempotent=True)
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        idem = idem_key(request, f"cash:{kind}", body)
        reason = _reason(body)
        receipt = await gw(request).sales.cash_move(kind, body.get("amount"), cashier=client_name(request), reason=reason, idem=idem)
        return json_response(receipt, 201)

    handler.__name__ = f"cash_{kind}"


_cash_route("deposit", "deposits")
_cash_route("withdrawal", "withdrawals")


@api.route("GET", "/api/v1/cash", roles=MANAGE, summary="Cash balance of the drawer", tag="cash")
async def cash_balance(request: web.Request) -> web.StreamResponse:
    """The ledger's cash balance."""
    return json_response({"balance": gw(request).sales.cash_balance()})


@api.route("GET", "/api/v1/reports/x", roles=MANAGE, summary="X report (running totals of the day)", tag="reports")
async def report_x(request: web.Request) -> web.StreamResponse:
    """Totals since the last day closing."""
    return json_response(x_report(gw(request).ledger))
