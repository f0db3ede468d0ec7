"""Local simulator of the fiskaly SIGN DE v2 REST API, signing with a :class:`SoftwareTse`.

It speaks the contract the fact sheet §2 summarises from the fiskaly OpenAPI v2.1.35 [S5]:
``/auth`` with expiring tokens, TSS lifecycle, admin PIN session, clients, transactions with
revisions (a repeated PUT of the latest revision with the same body returns the stored result;
a skipped revision answers 400 ``E_TX_REVISION_NOT_FOUND``; a different body for an existing
revision or a change of a closed transaction answers 409) and exports. Error bodies use
fiskaly's shape ``{"status_code","error","code","message"}``. Faults can be injected per route
(status, delay, after-apply) so tests can exercise retries, token expiry and timeouts. Not a
fiskaly product: signatures come from the uncertified software TSE.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from .errors import TseError
from .software import SoftwareTse

_PREFIX = "/api/v2"
_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests"}


@dataclass
class Fault:
    """One injected misbehaviour for requests whose ``METHOD path`` matches ``pattern``."""

    pattern: str
    status: int = 500
    code: str = "E_INTERNAL"
    delay: float = 0.0
    after: bool = False
    count: int = 1
    headers: dict[str, str] | None = None


class _ApiError(Exception):
    """Raised by handlers; the middleware answers it in fiskaly's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"status_code": status, "error": _REASONS.get(status, "Error"), "code": code, "message": message}
    return web.json_response(body, status=status, headers=headers)


class FiskalySimulator:
    """In-process fake fiskaly server on 127.0.0.1; ``url`` is the ``/api/v2`` base URL."""

    def __init__(
        self,
        api_key: str = "test-key",
        api_secret: str = "test-secret",
        *,
        token_ttl: float = 3600.0,
        state_dir: str | None = None,
    ) -> None:
        self.api_key, self.api_secret, self.token_ttl = api_key, api_secret, token_ttl
        self._tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="fiskaly-sim-")
        self._root = Path(state_dir) if state_dir else Path(self._tmp.name if self._tmp else ".")
        self.tokens: dict[str, float] = {}
        self.refresh_tokens: dict[str, float] = {}
        self.tss: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    # -- control --------------------------------------------------------------------------

    def inject(self, pattern: str, **kwargs: Any) -> Fault:
        """Add a fault for requests matching the regex ``pattern`` (e.g. ``"PUT .*/tx/"``)."""
        fault = Fault(pattern, **kwargs)
        self.faults.append(fault)
        return fault

    def expire_tokens(self) -> None:
        """Invalidate every access token, as if they all expired now."""
        self.tokens.clear()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a real TCP socket; returns the base URL."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post(_PREFIX + "/auth", self._auth)
        app.router.add_route("*", _PREFIX + "/tss/{tss}", self._tss_route)
        app.router.add_route("*", _PREFIX + "/tss/{tss}/admin", self._admin_pin)
        app.router.add_post(_PREFIX + "/tss/{tss}/admin/auth", self._admin_auth)
        app.router.add_post(_PREFIX + "/tss/{tss}/admin/logout", self._admin_logout)
        app.router.add_route("*", _PREFIX + "/tss/{tss}/client/{client}", self._client)
        app.router.add_route("*", _PREFIX + "/tss/{tss}/tx/{tx}", self._tx)
        app.router.add_route("*", _PREFIX + "/tss/{tss}/export/{export}", self._export)
        app.router.add_get(_PREFIX + "/tss/{tss}/export/{export}/file", self._export_file)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound[1]}{_PREFIX}"
        return self.url

    async def stop(self) -> None:
        """Stop serving and drop temporary state."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- middleware: faults and bearer tokens ---------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        line = f"{request.method} {request.path_qs}"
        self.requests.append(line)
        fault = next((f for f in self.faults if f.count > 0 and re.search(f.pattern, line)), None)
        if fault is not None:
            fault.count -= 1
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if not fault.after:
                return _error(fault.status, fault.code, "injected fault", fault.headers)
        if request.path != _PREFIX + "/auth":
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if self.tokens.get(token, 0) < time.time():
                return _error(401, "E_UNAUTHORIZED", "missing, invalid or expired token")
        try:
            response: web.StreamResponse = await handler(request)
        except _ApiError as err:
            response = _error(err.status, err.code, err.message)
        except TseError as err:
            response = _error(400, err.code or "E_TSE", err.message)
        if fault is not None and fault.after:
            # the request took effect but the answer is lost on the way back
            return _error(fault.status, fault.code, "injected fault after apply", fault.headers)
        return response

    async def _json(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            data = await request.json()
        except ValueError:
            raise _ApiError(400, "E_FAILED_SCHEMA_VALIDATION", "body is not JSON") from None
        return data if isinstance(data, dict) else {}

    async def _auth(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if "refresh_token" in body:
            if self.refresh_tokens.get(str(body["refresh_token"]), 0) < time.time():
                return _error(401, "E_UNAUTHORIZED", "refresh token expired")
        elif body.get("api_key") != self.api_key or body.get("api_secret") != self.api_secret:
            return _error(401, "E_UNAUTHORIZED", "invalid API key or secret")
        now = time.time()
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.tokens[access] = now + self.token_ttl
        self.refresh_tokens[refresh] = now + 2 * self.token_ttl
        return web.json_response(
            {
                "access_token": access,
                "access_token_expires_at": int(now + self.token_ttl),
                "refresh_token": refresh,
                "refresh_token_expires_at": int(now + 2 * self.token_ttl),
            }
        )

    # -- TSS ------------------------------------------------------------------------------

    def _get_tss(self, request: web.Request) -> dict[str, Any]:
        tss = self.tss.get(request.match_info["tss"])
        if tss is None:
            raise _ApiError(404, "E_TSS_NOT_FOUND", request.match_info["tss"])
        return tss

    async def _tss_view(self, tss: dict[str, Any]) -> dict[str, Any]:
        info = await tss["tse"].info()
        view = {
            "_id": tss["id"],
            "_type": "TSS",
            "state": tss["state"],
            "serial_number": info.serial_number,
            "public_key": info.public_key,
            "certificate": info.certificate,
            "signature_algorithm": info.signature_algorithm,
            "signature_timestamp_format": info.log_time_format,
            "transaction_data_encoding": "UTF-8",
            "signature_counter": str(info.signature_counter),
            "transaction_counter": str(info.transaction_counter),
            "max_number_registered_clients": 100,
            "max_number_active_transactions": 2000,
            "supported_update_variants": "SIGNED",
        }
        if tss["state"] == "CREATED":
            view["admin_puk"] = tss["puk"]
        return view

    async def _tss_route(self, request: web.Request) -> web.Response:
        tss_id = request.match_info["tss"]
        if request.method == "PUT":
            if tss_id not in self.tss:
                self.tss[tss_id] = {
                    "id": tss_id,
                    "state": "CREATED",
                    "puk": secrets.token_hex(6),
                    "pin": None,
                    "admin": False,
                    "clients": {},
                    "tx": {},
                    "by_number": {},
                    "exports": {},
                    "tse": SoftwareTse(self._root / tss_id),
                }
            return web.json_response(await self._tss_view(self.tss[tss_id]))
        tss = self._get_tss(request)
        if request.method == "GET":
            return web.json_response(await self._tss_view(tss))
        if request.method != "PATCH":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "PUT", "PATCH"])
        target = (await self._json(request)).get("state")
        allowed = {
            ("CREATED", "UNINITIALIZED"): False,
            ("UNINITIALIZED", "INITIALIZED"): True,
            ("INITIALIZED", "DISABLED"): True,
        }
        key = (tss["state"], target)
        if target == tss["state"]:
            return web.json_response(await self._tss_view(tss))
        if key not in allowed:
            return _error(400, "E_ILLEGAL_TSS_STATE_CHANGE", f"{tss['state']} -> {target}")
        if allowed[key] and not tss["admin"]:
            return _error(401, "E_ADMIN_NOT_AUTHENTICATED", "admin login required")
        tss["state"] = target
        return web.json_response(await self._tss_view(tss))

    async def _admin_pin(self, request: web.Request) -> web.Response:
        tss = self._get_tss(request)
        body = await self._json(request)
        if body.get("admin_puk") != tss["puk"]:
            return _error(400, "E_INVALID_PUK", "wrong admin PUK")
        if len(str(body.get("new_admin_pin", ""))) < 6:
            return _error(400, "E_FAILED_SCHEMA_VALIDATION", "admin PIN needs at least 6 characters")
        tss["pin"] = str(body["new_admin_pin"])
        return web.json_response({})

    async def _admin_auth(self, request: web.Request) -> web.Response:
        tss = self._get_tss(request)
        if tss["pin"] is None or (await self._json(request)).get("admin_pin") != tss["pin"]:
            return _error(400, "E_INVALID_ADMIN_PIN", "wrong admin PIN")
        tss["admin"] = True
        return web.json_response({})

    async def _admin_logout(self, request: web.Request) -> web.Response:
        self._get_tss(request)["admin"] = False
        return web.json_response({})

    async def _client(self, request: web.Request) -> web.Response:
        tss = self._get_tss(request)
        client_id = request.match_info["client"]
        client = tss["clients"].get(client_id)
        if request.method == "GET":
            if client is None:
                return _error(400, "E_CLIENT_NOT_FOUND", client_id)
            return web.json_response(client)
        body = await self._json(request)
        if request.method == "PUT":
            if client is not None:
                return _error(409, "E_CLIENT_CONFLICT", f"client {client_id} exists")
            if tss["state"] != "INITIALIZED":
                return _error(400, "E_TSS_NOT_INITIALIZED", "TSS is not initialized")
            if not tss["admin"]:
                return _error(401, "E_ADMIN_NOT_AUTHENTICATED", "admin login required")
            serial = str(body.get("serial_number", ""))
            await tss["tse"].register_client(serial)
            client = {"_id": client_id, "serial_number": serial, "state": "REGISTERED", "tss_id": tss["id"]}
            tss["clients"][client_id] = client
            return web.json_response(client)
        if client is None:
            return _error(400, "E_CLIENT_NOT_FOUND", client_id)
        client["state"] = body.get("state", client["state"])
        return web.json_response(client)

    # -- transactions ---------------------------------------------------------------------

    async def _tx(self, request: web.Request) -> web.Response:
        tss = self._get_tss(request)
        key = request.match_info["tx"]
        tx = tss["tx"].get(key) or tss["by_number"].get(key)
        if request.method == "GET":
            if tx is None:
                return _error(404, "E_TX_NOT_FOUND", key)
            return web.json_response(tx["revisions"][-1])
        if request.method != "PUT":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "PUT"])
        if tss["state"] != "INITIALIZED":
            return _error(400, "E_TSS_NOT_INITIALIZED", "TSS is not initialized")
        try:
            revision = int(request.query.get("tx_revision", ""))
        except ValueError:
            return _error(400, "E_FAILED_SCHEMA_VALIDATION", "tx_revision missing")
        body = await self._json(request)
        client = tss["clients"].get(str(body.get("client_id")))
        if client is None:
            return _error(400, "E_CLIENT_NOT_FOUND", str(body.get("client_id")))
        if client["state"] != "REGISTERED":
            return _error(400, "E_CLIENT_DEREGISTERED", client["_id"])
        latest = len(tx["revisions"]) if tx else 0
        if tx is not None and revision <= latest:
            if revision == latest and tx["bodies"][-1] == body:
                return web.json_response(tx["revisions"][-1])  # idempotent replay
            return _error(409, "E_TX_CONFLICT", f"revision {revision} exists with other content")
        if revision != latest + 1:
            return _error(400, "E_TX_REVISION_NOT_FOUND", f"latest revision is {latest}")
        state = body.get("state")
        if tx is None:
            if revision != 1 or state != "ACTIVE" or body.get("schema"):
                return _error(400, "E_FAILED_SCHEMA_VALIDATION", "start with ACTIVE and no schema")
            signed = await tss["tse"].start_transaction(client["serial_number"])
            tx = {"id": key, "number": signed.number, "revisions": [], "bodies": [], "start": signed}
            tss["tx"][key] = tx
            tss["by_number"][str(signed.number)] = tx
        else:
            if tx["revisions"][-1]["state"] != "ACTIVE":
                return _error(409, "E_TX_CONFLICT", "transaction is closed")
            raw = (body.get("schema") or {}).get("raw") or {}
            process_type = str(raw.get("process_type", ""))
            process_data = base64.b64decode(str(raw.get("process_data", ""))).decode("utf-8")
            tse: SoftwareTse = tss["tse"]
            if state == "ACTIVE":
                signed = await tse.update_transaction(client["serial_number"], tx["number"], process_type, process_data)
            elif state in ("FINISHED", "CANCELLED"):
                signed = await tse.finish_transaction(client["serial_number"], tx["number"], process_type, process_data)
            else:
                return _error(400, "E_FAILED_SCHEMA_VALIDATION", f"state {state}")
        view = {
            "_id": key,
            "_type": "TRANSACTION",
            "_env": "TEST",
            "_version": "2.1.35",
            "number": signed.number,
            "state": state,
            "revision": revision,
            "latest_revision": revision,
            "client_id": client["_id"],
            "client_serial_number": client["serial_number"],
            "tss_id": tss["id"],
            "tss_serial_number": signed.serial_number,
            "time_start": int(tx["start"].start_time.timestamp()),
            "log": {
                "operation": signed.operation.upper(),
                "timestamp": int(signed.log_time.timestamp()),
                "timestamp_format": signed.log_time_format,
            },
            "signature": {
                "value": signed.signature,
                "algorithm": signed.signature_algorithm,
                "counter": signed.signature_counter,
                "public_key": signed.public_key,
            },
            "schema": body.get("schema"),
        }
        if signed.end_time is not None:
            view["time_end"] = int(signed.end_time.timestamp())
        tx["revisions"].append(view)
        tx["bodies"].append(body)
        return web.json_response(view)

    # -- exports --------------------------------------------------------------------------

    async def _export(self, request: web.Request) -> web.Response:
        tss = self._get_tss(request)
        export_id = request.match_info["export"]
        if request.method == "PUT":
            if tss["state"] not in ("INITIALIZED", "DISABLED"):
                return _error(400, "E_TSS_ILLEGAL_STATE_TO_PERFORM_EXPORT", tss["state"])
            if export_id not in tss["exports"]:
                # first poll sees WORKING, the next one COMPLETED
                tss["exports"][export_id] = {"_id": export_id, "state": "WORKING", "polls": 0}
            return web.json_response({k: v for k, v in tss["exports"][export_id].items() if k != "tar"})
        export = tss["exports"].get(export_id)
        if export is None:
            return _error(404, "E_EXPORT_NOT_FOUND", export_id)
        export["polls"] += 1
        if export["polls"] >= 2 and export["state"] == "WORKING":
            export["tar"] = await tss["tse"].export_tar()
            export["state"] = "COMPLETED"
        return web.json_response({k: v for k, v in export.items() if k != "tar"})

    async def _export_file(self, request: web.Request) -> web.Response:
        tss = self._get_tss(request)
        export = tss["exports"].get(request.match_info["export"])
        if export is None or export["state"] != "COMPLETED":
            return _error(404, "E_EXPORT_NOT_COMPLETED", "not ready", {"Retry-After": "60"})
        return web.Response(body=export["tar"], content_type="application/x-tar")


