"""HTTP routes of the omnichannel services: stock, orders and pickup, reservations, returns, vouchers, loyalty, customers.

Every route that moves money or stock requires an ``Idempotency-Key`` (a retried request does
its work once). Roles: selling staff (``SELL``) pick, hand over, sell reservations and vouchers,
redeem points and take returns; managers (``MANAGE``) move and count stock, set buffers and
minimums, export and erase customers and trigger reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.api.keys import client_name, gw
from gateway.api.pos import idem_key
from gateway.api.registry import Api, int_param, json_response, read_json
from gateway.auth import MANAGE, SELL
from gateway.errors import BadRequest, NotFound
from gateway.omni.hq import HqRejected, HqUnavailable
from gateway.omni.reports import daily_sales, product_sales, products_csv, publish_daily, stock_value

if TYPE_CHECKING:
    from gateway.omni.component import OmniComponent

api = Api()


def omni(request: web.Request) -> OmniComponent:
    """The omni component of the gateway behind a request."""
    comp = gw(request).components.get("omni")
    if comp is None:
        raise NotFound("the omnichannel services are not enabled")
    return comp  # type: ignore[return-value]


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}


def _only(body: dict[str, Any], *allowed: str) -> dict[str, Any]:
    unknown = set(body) - set(allowed)
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))}")
    return body


def _str(body: dict[str, Any], key: str, default: str | None = None) -> str:
    v = body.get(key, default)
    if not isinstance(v, str) or not v or len(v) > 64:
        raise BadRequest(f"{key} must be a non-empty string", field=key)
    return v


def _int(body: dict[str, Any], key: str) -> int:
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest(f"{key} must be an integer", field=key)
    return v


LINES = {"type": "array", "items": {"type": "object", "required": ["code"], "properties": {
    "code": {"type": "string"}, "qty": {"type": "integer"}, "qty_milli": {"type": "integer"}}}}
PAYMENTS = {"type": "array", "items": {"type": "object", "required": ["method", "amount"], "properties": {
    "method": {"type": "string"}, "amount": {"type": "integer"}, "ref": {"type": "string"}}}}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


# ---------------------------------------------------------------------------- stock


@api.route("GET", "/api/v1/stock", roles=SELL, summary="Stock levels and available-to-promise", tag="stock",
           query=({"name": "codes", "in": "query", "schema": {"type": "string"}},))
async def get_stock(request: web.Request) -> web.StreamResponse:
    """Levels of ``codes`` (comma-separated) or of every tracked product."""
    codes = [c for c in request.query.get("codes", "").split(",") if c][:500] or None
    return json_response({"items": omni(request).stock.levels(codes)})


def _stock_route(path: str, reason: str, counted: bool, summary: str) -> None:
    @api.route("POST", f"/api/v1/stock/{path}", roles=MANAGE, summary=summary, tag="stock",
               body=_obj(lines=LINES, ref={"type": "string"}, reason={"type": "string"}), ok=201, idempotent=True)
    async def handler(request: web.Request) -> web.StreamResponse:
        body = _only(await read_json(request), "lines", "ref", "reason")
        idem = idem_key(request, f"stock:{path}", body)
        why = _str(body, "reason", reason) if path == "corrections" else reason
        out = await omni(request).stock.adjust(body.get("lines"), why, str(body.get("ref", ""))[:64], counted, idem)
        return json_response(out, 201)

    handler.__name__ = f"stock_{path}"


_stock_route("receipts", "receipt", False, "Goods receipt (quantities received)")
_stock_route("counts", "count", True, "Stocktaking (quantities counted replace on-hand)")
_stock_route("corrections", "correction", False, "Corrections (signed deltas, reason damage/correction/other)")


@api.route("PUT", "/api/v1/stock/buffers", roles=MANAGE, summary="Set a safety buffer (product, group or store; channel)",
           tag="stock", body=_obj(scope={"type": "string"}, key={"type": "string"}, channel={"type": "string"},
                                  qty_milli={"type": "integer"}))
async def put_buffer(request: web.Request) -> web.StreamResponse:
    """Buffer per scope and channel."""
    b = _only(await read_json(request), "scope", "key", "channel", "qty_milli")
    return json_response(await omni(request).stock.set_buffer(_str(b, "scope"), str(b.get("key", "")), _str(b, "channel"),
                                                              _int(b, "qty_milli")))


@api.route("PUT", "/api/v1/stock/minimums", roles=MANAGE, summary="Set a minimum level and reorder quantity", tag="stock",
           body=_obj(code={"type": "string"}, min_milli={"type": "integer"}, reorder_milli={"type": "integer"}))
async def put_minimum(request: web.Request) -> web.StreamResponse:
    """Minimum level of a product."""
    b = _only(await read_json(request), "code", "min_milli", "reorder_milli")
    return json_response(await omni(request).stock.set_minimum(_str(b, "code"), _int(b, "min_milli"), _int(b, "reorder_milli")))


@api.route("POST", "/api/v1/stock/transfers", roles=MANAGE, summary="Ship goods to another store", tag="stock",
           body=_obj(transfer_id={"type": "string"}, to_store={"type": "string"}, lines=LINES), ok=201, idempotent=True)
async def ship_transfer(request: web.Request) -> web.StreamResponse:
    """Transfer out."""
    b = _only(await read_json(request), "transfer_id", "to_store", "lines")
    idem = idem_key(request, "transfer", b)
    return json_response(await omni(request).stock.ship_transfer(_str(b, "transfer_id"), _str(b, "to_store"), b.get("lines"), idem), 201)


@api.route("POST", "/api/v1/stock/transfers/{transfer_id}/receive", roles=MANAGE, summary="Book a transfer's goods in",
           tag="stock", query=(_path("transfer_id"),), body=_obj(lines=LINES), ok=201, idempotent=True)
async def receive_transfer(request: web.Request) -> web.StreamResponse:
    """Transfer in (with differences)."""
    b = _only(await read_json(request), "lines")
    tid = request.match_info["transfer_id"]
    idem = idem_key(request, f"transfer-in:{tid}", b)
    return json_response(await omni(request).stock.receive_transfer(tid, b.get("lines"), idem), 201)


@api.route("POST", "/api/v1/stock/snapshot", roles=MANAGE, summary="Journal a full ATP snapshot for HQ", tag="stock", ok=201)
async def stock_snapshot(request: web.Request) -> web.StreamResponse:
    """Snapshot now."""
    return json_response(await omni(request).stock.snapshot(), 201)


# ---------------------------------------------------------------------------- click & collect


@api.route("GET", "/api/v1/orders", roles=SELL, summary="Open click & collect orders", tag="orders")
async def list_orders(request: web.Request) -> web.StreamResponse:
    """Orders waiting for picking or pickup."""
    return json_response({"orders": omni(request).orders.orders()})


@api.route("GET", "/api/v1/orders/picklist", roles=SELL, summary="Pick list: unpicked orders and totals per product", tag="orders")
async def pick_list(request: web.Request) -> web.StreamResponse:
    """What to fetch."""
    return json_response(omni(request).orders.pick_list())


@api.route("GET", "/api/v1/orders/{order_id}", roles=SELL, summary="One order", tag="orders", query=(_path("order_id"),))
async def get_order(request: web.Request) -> web.StreamResponse:
    """An order with its lines."""
    return json_response(omni(request).orders.order(request.match_info["order_id"]))


@api.route("POST", "/api/v1/orders/{order_id}/picked", roles=SELL, summary="Confirm picking (all or a short pick)", tag="orders",
           query=(_path("order_id"),), body=_obj(lines=LINES))
async def order_picked(request: web.Request) -> web.StreamResponse:
    """Picked."""
    b = _only(await read_json(request) if request.can_read_body else {}, "lines")
    return json_response(await omni(request).orders.mark_picked(request.match_info["order_id"], b.get("lines")))


@api.route("POST", "/api/v1/orders/pickup", roles=SELL, summary="Hand over an order by its scanned pickup code (all or part)",
           tag="orders", body=_obj(code={"type": "string"}, lines=LINES), idempotent=True)
async def pickup(request: web.Request) -> web.StreamResponse:
    """Handover."""
    b = _only(await read_json(request), "code", "lines")
    idem = idem_key(request, "pickup", b)
    return json_response(await omni(request).orders.hand_over(_str(b, "code"), b.get("lines"), idem))


@api.route("POST", "/api/v1/orders/{order_id}/return", roles=SELL, summary="Return goods of an online order", tag="returns",
           query=(_path("order_id"),), body=_obj(items=LINES, refund_method={"type": "string"}), ok=201, idempotent=True)
async def return_order(request: web.Request) -> web.StreamResponse:
    """Online order return (refund at the till, to a voucher, or 'original' by HQ)."""
    b = _only(await read_json(request), "items", "refund_method")
    oid = request.match_info["order_id"]
    idem = idem_key(request, f"order-return:{oid}", b)
    out = await omni(request).returns.return_order(oid, b.get("items"), cashier=client_name(request),
                                                   refund_method=_str(b, "refund_method", "cash"), idem=idem)
    return json_response(out, 201)


@api.route("POST", "/api/v1/receipts/{receipt_no}/exchange", roles=SELL, summary="Exchange: return lines and sell new ones at once",
           tag="returns", query=({"name": "receipt_no", "in": "path", "required": True, "schema": {"type": "integer"}},),
           body=_obj(items={"type": "array"}, lines=LINES, payments=PAYMENTS, refund_method={"type": "string"}), ok=201, idempotent=True)
async def exchange(request: web.Request) -> web.StreamResponse:
    """Both receipts in one transaction."""
    b = _only(await read_json(request), "items", "lines", "payments", "refund_method")
    no = int_param(request, "receipt_no", 1)
    idem = idem_key(request, f"exchange:{no}", b)
    out = await omni(request).returns.exchange(no, b.get("items"), b.get("lines"), b.get("payments"), cashier=client_name(request),
                                               refund_method=_str(b, "refund_method", "cash"), idem=idem)
    return json_response(out, 201)


# ---------------------------------------------------------------------------- reservations


@api.route("GET", "/api/v1/reservations", roles=SELL, summary="Held reservations", tag="reservations")
async def list_reservations(request: web.Request) -> web.StreamResponse:
    """Reservations in a state (default held)."""
    state = request.query.get("state", "held")
    if state not in ("held", "released", "expired", "converted"):
        raise BadRequest("state must be held, released, expired or converted", field="state")
    return json_response({"reservations": omni(request).orders.reservations(state)})


@api.route("POST", "/api/v1/reservations/{reservation_id}/sale", roles=SELL, summary="Sell a reservation at the till",
           tag="reservations", query=(_path("reservation_id"),), body=_obj(payments=PAYMENTS, customer={"type": "string"}),
           ok=201, idempotent=True)
async def sell_reservation(request: web.Request) -> web.StreamResponse:
    """Convert into a sale."""
    b = _only(await read_json(request), "payments", "customer")
    rid = request.match_info["reservation_id"]
    idem = idem_key(request, f"reservation:{rid}", b)
    cust = _str(b, "customer") if "customer" in b else None
    return json_response(await omni(request).orders.convert(rid, b.get("payments"), cashier=client_name(request), idem=idem,
                                                            customer=cust), 201)


@api.route("POST", "/api/v1/reservations/{reservation_id}/release", roles=SELL, summary="Release a reservation", tag="reservations",
           query=(_path("reservation_id"),))
async def release_reservation(request: web.Request) -> web.StreamResponse:
    """The customer will not come."""
    return json_response(await omni(request).orders.release(request.match_info["reservation_id"]))


# ---------------------------------------------------------------------------- sales with customer, promotions


@api.route("POST", "/api/v1/omni/sales", roles=SELL, summary="One-shot sale for a known customer (earns points)", tag="sales",
           body=_obj(lines=LINES, payments=PAYMENTS, customer={"type": "string"}), ok=201, idempotent=True)
async def customer_sale(request: web.Request) -> web.StreamResponse:
    """Like POST /api/v1/sales plus ``customer``."""
    b = _only(await read_json(request), "lines", "payments", "customer")
    idem = idem_key(request, "sale", b)
    extra = {"customer": _str(b, "customer")} if "customer" in b else None
    receipt = await gw(request).sales.finish(cashier=client_name(request), lines=b.get("lines"), payments=b.get("payments"),
                                             idem=idem, extra=extra)
    return json_response(receipt, 201)


@api.route("POST", "/api/v1/promotions/preview", roles=SELL, summary="Price lines with the promotions valid now", tag="sales",
           body=_obj(lines=LINES))
async def promotions_preview(request: web.Request) -> web.StreamResponse:
    """The same pricing the till applies."""
    from gateway.pos.pricing import totals

    b = _only(await read_json(request), "lines")
    lines = gw(request).sales.price_lines(b.get("lines"))
    omni(request).promotions.line_hook(lines)
    return json_response({"lines": lines, "totals": totals(lines, rates=gw(request).config.pos.vat_rates)})


# ---------------------------------------------------------------------------- vouchers


@api.route("POST", "/api/v1/vouchers", roles=SELL, summary="Sell a voucher (multi-purpose or single-purpose)", tag="vouchers",
           body=_obj(kind={"type": "string"}, amount={"type": "integer"}, vat_id={"type": "integer"}, payments=PAYMENTS),
           ok=201, idempotent=True)
async def sell_voucher(request: web.Request) -> web.StreamResponse:
    """A receipt whose line is the voucher."""
    b = _only(await read_json(request), "kind", "amount", "vat_id", "payments")
    idem = idem_key(request, "voucher", b)
    vat = b.get("vat_id")
    r = await omni(request).vouchers.sell(_str(b, "kind", "multi"), _int(b, "amount"), b.get("payments"), cashier=client_name(request),
                                          vat_id=vat if isinstance(vat, int) else None, idem=idem)
    return json_response(r, 201)


@api.route("POST", "/api/v1/vouchers/{code}/top-up", roles=SELL, summary="Top up a voucher", tag="vouchers",
           query=(_path("code"),), body=_obj(amount={"type": "integer"}, payments=PAYMENTS), ok=201, idempotent=True)
async def top_up(request: web.Request) -> web.StreamResponse:
    """A receipt loading value onto a card."""
    b = _only(await read_json(request), "amount", "payments")
    code = request.match_info["code"]
    idem = idem_key(request, f"top-up:{code}", b)
    r = await omni(request).vouchers.sell("multi", _int(b, "amount"), b.get("payments"), cashier=client_name(request), code=code,
                                          top_up=True, idem=idem)
    return json_response(r, 201)


@api.route("GET", "/api/v1/vouchers/{code}", roles=SELL, summary="Voucher balance (HQ when reachable)", tag="vouchers",
           query=(_path("code"),))
async def voucher_balance(request: web.Request) -> web.StreamResponse:
    """Balance."""
    return json_response(await omni(request).vouchers.balance(request.match_info["code"]))


# ---------------------------------------------------------------------------- loyalty


@api.route("GET", "/api/v1/loyalty/{customer}", roles=SELL, summary="Loyalty points of a customer", tag="loyalty",
           query=(_path("customer"),))
async def loyalty_account(request: web.Request) -> web.StreamResponse:
    """Local view with unconfirmed changes."""
    return json_response(omni(request).loyalty.account(request.match_info["customer"]))


@api.route("POST", "/api/v1/loyalty/{customer}/redeem", roles=SELL, summary="Redeem points (value to apply as a discount)",
           tag="loyalty", query=(_path("customer"),), body=_obj(points={"type": "integer"}), ok=201, idempotent=True)
async def loyalty_redeem(request: web.Request) -> web.StreamResponse:
    """Online at HQ, offline within the cap."""
    b = _only(await read_json(request), "points")
    cust = request.match_info["customer"]
    key = idem_key(request, f"loyalty:{cust}", b)
    return json_response(await omni(request).loyalty.redeem(cust, b.get("points"), ref=f"redeem:{key.key}"), 201)


# ---------------------------------------------------------------------------- customers


@api.route("POST", "/api/v1/customers", roles=SELL, summary="Register a customer", tag="customers", ok=201,
           body=_obj(name={"type": "string"}, email={"type": "string"}, phone={"type": "string"}, card={"type": "string"}))
async def register_customer(request: web.Request) -> web.StreamResponse:
    """Personal data stays outside the journal."""
    return json_response(await omni(request).customers.register(await read_json(request)), 201)


@api.route("GET", "/api/v1/customers", roles=SELL, summary="Find customers by card, phone or e-mail", tag="customers",
           query=tuple({"name": n, "in": "query", "schema": {"type": "string"}} for n in ("card", "phone", "email")))
async def find_customers(request: web.Request) -> web.StreamResponse:
    """Exact lookup."""
    q = request.query
    return json_response({"customers": omni(request).customers.lookup(card=q.get("card"), phone=q.get("phone"), email=q.get("email"))})


@api.route("GET", "/api/v1/customers/{customer}", roles=SELL, summary="One customer: 360° view across channels", tag="customers", query=(_path("customer"),))
async def get_customer(request: web.Request) -> web.StreamResponse:
    """360° view: record, loyalty, purchases here and (when HQ answers ``customer.history``) in every channel."""
    c = omni(request)
    cid = request.match_info["customer"]
    view = {**c.customers.get(cid), "loyalty": c.loyalty.account(cid), "purchases_here": c.customers.purchases(cid)}
    try:
        view["purchases_all_channels"] = (await c.hq.request("customer.history", {"customer": cid})).get("purchases", [])
    except (HqUnavailable, HqRejected):
        view["purchases_all_channels"] = None  # offline: the local history above is what the store knows
    return json_response(view)


@api.route("PATCH", "/api/v1/customers/{customer}", roles=SELL, summary="Change personal data", tag="customers",
           query=(_path("customer"),), body=_obj(name={"type": "string"}, email={"type": "string"}))
async def patch_customer(request: web.Request) -> web.StreamResponse:
    """Update."""
    return json_response(await omni(request).customers.update(request.match_info["customer"], await read_json(request)))


@api.route("GET", "/api/v1/customers/{customer}/export", roles=MANAGE, summary="DSGVO Art. 15 export", tag="customers",
           query=(_path("customer"),))
async def export_customer(request: web.Request) -> web.StreamResponse:
    """Everything about the customer."""
    return json_response(omni(request).customers.export(request.match_info["customer"]))


@api.route("POST", "/api/v1/customers/{customer}/erase", roles=MANAGE, summary="DSGVO Art. 17 erasure", tag="customers",
           query=(_path("customer"),))
async def erase_customer(request: web.Request) -> web.StreamResponse:
    """Wipe personal data; the journal keeps the pseudonym."""
    return json_response(await omni(request).customers.erase(request.match_info["customer"]))


# ---------------------------------------------------------------------------- reports and upkeep


@api.route("GET", "/api/v1/reports/channels", roles=MANAGE, summary="Sales per channel of one day", tag="reports",
           query=({"name": "day", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},))
async def report_channels(request: web.Request) -> web.StreamResponse:
    """Daily figures per channel."""
    return json_response(daily_sales(gw(request).ledger.reader, _day(request.query.get("day"))))


@api.route("GET", "/api/v1/reports/products", roles=MANAGE, summary="Sales per product of one day (bestsellers first; CSV with format=csv)",
           tag="reports", query=({"name": "day", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                                 {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}}))
async def report_products(request: web.Request) -> web.StreamResponse:
    """Bestsellers and slow movers."""
    products = product_sales(gw(request).ledger.reader, _day(request.query.get("day")))
    if request.query.get("format") == "csv":
        return web.Response(text=products_csv(products), content_type="text/csv", charset="utf-8")
    return json_response({"products": products})


@api.route("GET", "/api/v1/reports/stock-value", roles=MANAGE, summary="Stock value at shelf prices per group", tag="reports")
async def report_stock_value(request: web.Request) -> web.StreamResponse:
    """Valued on-hand stock."""
    return json_response(stock_value(gw(request).ledger.reader))


@api.route("POST", "/api/v1/reports/daily", roles=MANAGE, summary="Journal the day's channel report for HQ", tag="reports",
           body=_obj(day={"type": "string"}), ok=201)
async def report_daily(request: web.Request) -> web.StreamResponse:
    """``report.daily`` entry."""
    b = _only(await read_json(request), "day")
    return json_response(await publish_daily(gw(request).ledger, _day(b.get("day"))), 201)


def _day(raw: Any) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(raw)).isoformat()
    except ValueError:
        raise BadRequest("day must be YYYY-MM-DD", field="day") from None


@api.route("POST", "/api/v1/omni/run", roles=MANAGE, summary="Run expiry and HQ reconciliation now", tag="reports")
async def run_now(request: web.Request) -> web.StreamResponse:
    """One timer round."""
    return json_response(await omni(request).run_due())
