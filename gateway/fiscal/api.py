"""Fiscal HTTP routes: day closing (Z report), closings list, DSFinV-K ZIP export, legal receipt document."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from gateway.api.keys import client_name, gw
from gateway.api.registry import Api, int_param, json_response, read_json
from gateway.auth import MANAGE, SELL
from gateway.errors import BadRequest, GatewayError

from .closing import close_day, dsfinvk_zip, list_closings
from .document import receipt_document, receipt_json, receipt_text

api = Api()
RECEIPT_NO = {"name": "receipt_no", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
DAY_QUERY = (
    {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
)


def _service(request: web.Request) -> Any:
    return gw(request).components.get("fiscal")


def _day(request: web.Request, name: str) -> date:
    raw = request.query.get(name, "")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date YYYY-MM-DD", field=name) from None


@api.route("POST", "/api/v1/day/close", roles=MANAGE, summary="Close the business day (Z report)", tag="fiscal", ok=201,
           body={"type": "object", "properties": {"counted_cash": {"type": "integer", "minimum": 0}}})
async def post_day_close(request: web.Request) -> web.StreamResponse:
    """Journal ``day.closed`` with the Z number, the X report figures, the cash count and the TSE export reference."""
    body = await read_json(request) if request.can_read_body else {}
    unknown = set(body) - {"counted_cash"}
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))}")
    g = gw(request)
    svc = _service(request)
    tse = svc.tse if svc is not None and svc.signer is not None and svc.signer.outage is None else None
    result = await close_day(g.ledger, g.config, g.data_dir, tse=tse, client_id=svc.client_id if svc else "",
                             cashier=client_name(request), counted_cash=body.get("counted_cash"),
                             known_tse=svc.tse_master() if svc else None)
    card = g.components.get("card")
    if card is not None and getattr(getattr(card, "cfg", None), "end_of_day_on_close", False):
        # The terminal's end-of-day after the Z report: its failure is reported, the closing stands.
        try:
            result["terminal_end_of_day"] = await card.end_of_day()  # type: ignore[attr-defined]
        except GatewayError as err:
            result["terminal_end_of_day"] = {"approved": False, "error": err.detail}
    return json_response(result, 201)


@api.route("GET", "/api/v1/day/closings", roles=MANAGE, summary="Day closings (Z reports), oldest first", tag="fiscal")
async def get_closings(request: web.Request) -> web.StreamResponse:
    """Every ``day.closed`` entry."""
    return json_response({"closings": list_closings(gw(request).ledger)})


@api.route("GET", "/api/v1/exports/dsfinvk", roles=MANAGE, summary="DSFinV-K export of closed days as ZIP", tag="fiscal",
           query=DAY_QUERY, content_type="application/zip")
async def get_dsfinvk(request: web.Request) -> web.StreamResponse:
    """All DSFinV-K files, index.xml and the DTD of the closings in ``from``..``to``."""
    day_from, day_to = _day(request, "from"), _day(request, "to")
    if day_from > day_to:
        raise BadRequest("from is after to", field="from")
    g = gw(request)
    data = dsfinvk_zip(g.ledger, g.config, day_from, day_to)
    name = f"dsfinvk-{g.config.store.register_id}-{day_from.isoformat()}-{day_to.isoformat()}.zip"
    return web.Response(body=data, content_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@api.route("GET", "/api/v1/receipts/{receipt_no}/document", roles=SELL, summary="Legal receipt content (JSON or text)",
           tag="receipts", query=(RECEIPT_NO, {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "text"]}}))
async def get_receipt_document(request: web.Request) -> web.StreamResponse:
    """§6 KassenSichV receipt content with the TSE block or failure mark and the training mark."""
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "text"):
        raise BadRequest("format must be json or text", field="format")
    g = gw(request)
    no = int_param(request, "receipt_no", 1)
    receipt = g.sales.receipt(no)
    receipt.setdefault("ts", g.ledger.query_one("SELECT ts FROM receipts WHERE receipt_no=?", (no,)))
    svc = _service(request)
    doc = receipt_document(receipt, g.config.store, svc.client_id if svc else "")
    kind = str(receipt.get("kind", "sale"))
    if fmt == "text":
        return web.Response(text=receipt_text(doc, kind), content_type="text/plain", charset="utf-8")
    return json_response(receipt_json(doc, kind))
