"""Digital receipts: an HTML page and a PDF at a per-receipt link (Belegausgabe without paper).

The link is ``/r/{receipt_no}-{mac}`` with ``mac = HMAC-SHA256(secret, store:receipt_no)`` cut to
128 bits: unguessable, so it can be handed to the customer as a QR code without exposing other
receipts, and reproducible, so a retried sale gets the same link. The secret is created once in
``DATA_DIR/ereceipt.secret`` (mode 0600). The HTML shows the legal receipt content (§6
KassenSichV, from ``gateway.fiscal.document``) and the TSE QR code; the PDF is the printed slip as
the ESC/POS renderer draws it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import html
import io
import os
import secrets
from pathlib import Path
from typing import Any

import segno
from aiohttp import web

from gateway.api.keys import gw
from gateway.api.registry import Api
from gateway.errors import NotFound

api = Api()


@functools.lru_cache(maxsize=8)
def _secret(data_dir: Path) -> bytes:
    path = Path(data_dir) / "ereceipt.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        except FileExistsError:
            pass
    return path.read_text().strip().encode()


def _mac(gateway: Any, receipt_no: int) -> str:
    msg = f"{gateway.config.store.id}:{receipt_no}".encode()
    return hmac.new(_secret(gateway.data_dir), msg, hashlib.sha256).hexdigest()[:32]


def token_for(gateway: Any, receipt_no: int) -> str:
    """The link token of a receipt."""
    return f"{receipt_no}-{_mac(gateway, receipt_no)}"


def find(gateway: Any, token: str) -> dict[str, Any]:
    """The receipt behind a token; NotFound unless the MAC matches (constant-time compare)."""
    no, _, mac = token.partition("-")
    if not no.isdigit() or len(no) > 12 or not hmac.compare_digest(mac.encode(), _mac(gateway, int(no)).encode()):
        raise NotFound("no such receipt")
    return dict(gateway.sales.receipt(int(no)))


class EReceipts:
    """Response hook: every receipt answer carries its link (``ereceipt_url``), also on a retry."""

    def __init__(self, gateway: Any) -> None:
        self.gw = gateway

    def __call__(self, receipt: dict[str, Any]) -> None:
        """Add the link to the receipt returned to the client."""
        receipt["ereceipt_url"] = f"/r/{token_for(self.gw, receipt['receipt_no'])}"


def _html(gateway: Any, r: dict[str, Any]) -> str:
    from gateway.fiscal.document import receipt_document, receipt_text

    doc = receipt_document(r, gateway.config.store)
    text = receipt_text(doc, r.get("kind", "sale"))
    tse = r.get("tse") or {}
    qr = ""
    if tse.get("qr_code") and not tse.get("failed"):
        buf = io.StringIO()
        segno.make(tse["qr_code"], error="m").save(buf, kind="svg", scale=3, xmldecl=False, svgns=True)
        qr = f'<figure>{buf.getvalue()}<figcaption>TSE-Prüfcode</figcaption></figure>'
    title = f"Beleg {r['receipt_no']} – {html.escape(gateway.config.store.name)}"
    return (f'<!doctype html><html lang="de"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>{title}</title><style>body{{font-family:monospace;max-width:46ch;margin:1rem auto}}"
            f"pre{{white-space:pre-wrap}}figure{{text-align:center}}</style></head><body>"
            f"<pre>{html.escape(text)}</pre>{qr}<p><a href=\"{token_for(gateway, r['receipt_no'])}.pdf\">PDF</a></p></body></html>")


def _pdf(gateway: Any, r: dict[str, Any]) -> bytes:
    from drivers.printer.layout import ReceiptLayout
    from drivers.printer.render import render_bytes, slip_to_png
    from gateway.printing import receipt_document

    data = ReceiptLayout().render(receipt_document(r, gateway.config.store))
    img = slip_to_png(render_bytes(data)).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="PDF", resolution=203.0)
    return out.getvalue()


@api.route("GET", "/r/{token}", roles=None, summary="Digital receipt (HTML) at its per-receipt link", tag="receipts",
           content_type="text/html",
           query=({"name": "token", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 60}},))
async def ereceipt(request: web.Request) -> web.StreamResponse:
    """The receipt as a page; ``/r/{token}.pdf`` as PDF."""
    g = gw(request)
    token = request.match_info["token"]
    if token.endswith(".pdf"):
        r = find(g, token[:-4])
        pdf = await asyncio.get_running_loop().run_in_executor(None, _pdf, g, r)
        return web.Response(body=pdf, content_type="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="beleg-{r["receipt_no"]}.pdf"'})
    return web.Response(text=_html(g, find(g, token)), content_type="text/html", headers={"Cache-Control": "private"})
