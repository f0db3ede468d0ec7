"""fiskaly SIGN DE v2 cloud TSE client (REST over HTTPS with aiohttp).

Implements the contract of the fiskaly SIGN DE OpenAPI v2.1.35 as summarised in the fact
sheet §2 ([S5] spec, [S6] guides, [S7] Odoo's use of it): ``POST /auth`` tokens with refresh,
the TSS lifecycle (create, deploy, admin PIN, initialise, disable), client registration,
transactions as numbered revisions ``PUT /tss/{tss}/tx/{tx}?tx_revision=N`` and TAR exports.

Retry policy (fact sheet §2.5): every call the client repeats is idempotent - creates are PUTs
to a client-chosen UUID and a transaction revision is a PUT of the same body to the same
revision - so 5xx, 499, 429, connection loss and timeouts are retried with exponential
backoff; other 4xx are raised at once as typed errors. A 401 re-authenticates once.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .api import Tse, TseInfo, TseTransaction, utc_from_unix
from .errors import (
    TseAuthError,
    TseConflict,
    TseError,
    TseNotFound,
    TseRejected,
    TseStateError,
    TseTimeout,
    TseUnavailable,
)

_STATE_CODES = {
    "E_TSS_NOT_INITIALIZED",
    "E_TSS_DISABLED",
    "E_ILLEGAL_TSS_STATE_CHANGE",
    "E_CLIENT_DEREGISTERED",
    "E_TX_LIMIT_REACHED",
}
_RETRY_STATUSES = {429, 499, 500, 502, 503, 504}
_OPERATIONS = {"START": "Start", "UPDATE": "Update", "FINISH": "Finish"}


@dataclass(frozen=True)
class FiskalyConfig:
    """Connection settings; secrets are passed in, the gateway reads them from files."""

    api_key: str
    api_secret: str
    tss_id: str
    #: Kassen-Seriennummer (TR-03151 clientId) -> fiskaly client UUID.
    client_uuids: Mapping[str, str] = field(default_factory=dict)
    base_url: str = "https://kassensichv-middleware.fiskaly.com/api/v2"
    admin_pin: str = ""
    timeout: float = 10.0
    #: Deploying a TSS starts its SMAERS; fiskaly asks for a client timeout of at least 30 s.
    deploy_timeout: float = 45.0
    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 5.0
    export_poll_interval: float = 5.0
    export_timeout: float = 600.0


class FiskalyTse(Tse):
    """A fiskaly TSS used as the TSE of this till."""

    certified = True

    def __init__(self, config: FiskalyConfig, session: aiohttp.ClientSession | None = None) -> None:
        self._cfg = config
        self._session = session
        self._own_session = session is None
        self._access_token = ""
        self._access_expiry = 0.0
        self._refresh_token = ""
        self._refresh_expiry = 0.0
        self._auth_lock = asyncio.Lock()
        #: transaction number -> (tx UUID, latest revision we know of)
        self._tx: dict[int, tuple[str, int]] = {}

    # -- plumbing -------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _client_uuid(self, client_id: str) -> str:
        try:
            return self._cfg.client_uuids[client_id]
        except KeyError:
            raise TseStateError(
                f"no fiskaly client UUID configured for client {client_id!r}", code="E_CLIENT_NOT_FOUND"
            ) from None

    async def _authenticate(self, force: bool = False) -> None:
        async with self._auth_lock:
            now = time.time()
            if not force and self._access_token and now < self._access_expiry - 60:
                return
            body: dict[str, str]
            if self._refresh_token and now < self._refresh_expiry - 60 and not force:
                body = {"refresh_token": self._refresh_token}
            else:
                body = {"api_key": self._cfg.api_key, "api_secret": self._cfg.api_secret}
            data = await self._send("POST", "/auth", body, None, authed=False)
            try:
                self._access_token = str(data["access_token"])
                self._refresh_token = str(data.get("refresh_token", ""))
                self._access_expiry = float(data.get("access_token_expires_at", now + 3600))
                self._refresh_expiry = float(data.get("refresh_token_expires_at", now + 7200))
            except (KeyError, TypeError, ValueError) as err:
                raise TseAuthError(f"unexpected /auth response: {err}") from err

    async def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str | int] | None = None,
        *,
        request_timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        await self._authenticate()
        try:
            return await self._send(method, path, body, params, request_timeout=request_timeout, raw=raw)
        except TseAuthError as err:
            if err.code not in ("E_UNAUTHORIZED", "HTTP_401"):
                raise
        # The token expired or was revoked server-side: log in again, then one more try.
        await self._authenticate(force=True)
        return await self._send(method, path, body, params, request_timeout=request_timeout, raw=raw)

    async def _send(
        self,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, str | int] | None,
        *,
        authed: bool = True,
        request_timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        url = self._cfg.base_url.rstrip("/") + path
        headers = {"Authorization": f"Bearer {self._access_token}"} if authed else {}
        client_timeout = aiohttp.ClientTimeout(total=request_timeout or self._cfg.timeout)
        last: TseError = TseUnavailable(f"{method} {path}: no attempt made")
        for attempt in range(max(1, self._cfg.attempts)):
            if attempt:
                delay = min(self._cfg.max_backoff, self._cfg.backoff * 2 ** (attempt - 1))
                if isinstance(last, _RetryAfter):
                    delay = min(self._cfg.max_backoff, max(delay, last.seconds))
                await asyncio.sleep(delay)
            try:
                async with self._http().request(
                    method, url, json=body, params=params, headers=headers, timeout=client_timeout
                ) as resp:
                    if resp.status < 400:
                        if raw:
                            return await resp.read()
                        if resp.content_length == 0:
                            return {}
                        try:
                            data = await resp.json(content_type=None)
                        except ValueError:
                            data = None
                        if not isinstance(data, dict):
                            # A proxy or captive portal answering for the service: an outage, not a crash.
                            raise TseUnavailable(f"{method} {path}: the answer is not a JSON object "
                                                 f"({resp.content_type or 'no content type'})")
                        return data
                    error = await _error_from(resp, method, path)
            except TimeoutError:
                last = TseTimeout(f"{method} {path}: no answer within {client_timeout.total} s")
                continue
            except aiohttp.ClientError as err:
                last = TseUnavailable(f"{method} {path}: {err.__class__.__name__}: {err}")
                continue
            if not _retryable(error):
                raise error
            last = error
        if isinstance(last, _RetryAfter):
            raise TseUnavailable(last.message, code=last.code)
        raise last

    # -- TSS lifecycle ---------------------------------------------------------------------

    def _tss(self, suffix: str = "") -> str:
        return f"/tss/{self._cfg.tss_id}{suffix}"

    async def create_tss(self, metadata: Mapping[str, str] | None = None) -> str:
        """Create the TSS (state CREATED); returns the admin PUK, which is shown only now."""
        data = await self._request("PUT", self._tss(), {"metadata": dict(metadata or {})})
        return str(data.get("admin_puk", ""))

    async def deploy_tss(self) -> None:
        """Move the TSS to UNINITIALIZED (starts the SMAERS; slow, hence the long timeout)."""
        await self._request(
            "PATCH", self._tss(), {"state": "UNINITIALIZED"}, request_timeout=self._cfg.deploy_timeout
        )

    async def set_admin_pin(self, admin_puk: str, new_admin_pin: str) -> None:
        """Set (or unblock with the PUK) the admin PIN; fiskaly wants at least 6 characters."""
        await self._request("PATCH", self._tss("/admin"), {"admin_puk": admin_puk, "new_admin_pin": new_admin_pin})

    async def admin_login(self, admin_pin: str | None = None) -> None:
        """Authenticate as TSS admin for this session."""
        await self._request("POST", self._tss("/admin/auth"), {"admin_pin": admin_pin or self._cfg.admin_pin})

    async def admin_logout(self) -> None:
        """End the admin session."""
        await self._request("POST", self._tss("/admin/logout"), {})

    async def initialize_tss(self, description: str = "") -> None:
        """Move the TSS to INITIALIZED (needs an admin session)."""
        body: dict[str, str] = {"state": "INITIALIZED"}
        if description:
            body["description"] = description
        await self._request("PATCH", self._tss(), body)

    async def disable_tss(self) -> None:
        """Decommission the TSS (irreversible; export first; needs an admin session)."""
        await self._request("PATCH", self._tss(), {"state": "DISABLED"})

    async def provision(self, admin_pin: str) -> str:
        """Create, deploy, set the PIN and initialise the TSS; returns the admin PUK to store."""
        puk = await self.create_tss()
        await self.deploy_tss()
        await self.set_admin_pin(puk, admin_pin)
        await self.admin_login(admin_pin)
        try:
            await self.initialize_tss()
        finally:
            await self.admin_logout()
        return puk

    # -- Tse interface ----------------------------------------------------------------------

    async def info(self) -> TseInfo:
        """TSS identity, counters and state from ``GET /tss/{tss_id}``."""
        data = await self._request("GET", self._tss())
        return TseInfo(
            serial_number=str(data.get("serial_number", "")),
            public_key=str(data.get("public_key", "")),
            signature_algorithm=str(data.get("signature_algorithm", "")),
            log_time_format=str(data.get("signature_timestamp_format", "unixTime")),
            signature_counter=int(data.get("signature_counter", 0)),
            transaction_counter=int(data.get("transaction_counter", 0)),
            certified=True,
            description=str(data.get("description", "") or f"fiskaly TSS {self._cfg.tss_id}"),
            state=str(data.get("state", "")),
            certificate=str(data.get("certificate", "")),
        )

    async def register_client(self, client_id: str) -> None:
        """Register the client UUID with ``client_id`` as serial number (logs in as admin)."""
        client_uuid = self._client_uuid(client_id)
        path = self._tss(f"/client/{client_uuid}")
        if self._cfg.admin_pin:
            await self.admin_login()
        try:
            await self._request("PUT", path, {"serial_number": client_id})
        except TseConflict:
            existing = await self._request("GET", path)
            if existing.get("serial_number") != client_id:
                raise
            if existing.get("state") == "DEREGISTERED":
                await self._request("PATCH", path, {"state": "REGISTERED"})
        finally:
            if self._cfg.admin_pin:
                await self.admin_logout()

    async def self_test(self, client_id: str) -> None:
        """Check that the TSS is INITIALIZED and the client REGISTERED."""
        tss = await self._request("GET", self._tss())
        if tss.get("state") != "INITIALIZED":
            raise TseStateError(f"TSS is {tss.get('state')}, not INITIALIZED", code="E_TSS_NOT_INITIALIZED")
        client = await self._request("GET", self._tss(f"/client/{self._client_uuid(client_id)}"))
        if client.get("state") != "REGISTERED":
            raise TseStateError(f"client {client_id!r} is {client.get('state')}", code="E_CLIENT_DEREGISTERED")

    async def update_time(self) -> None:
        """Nothing to do: the cloud TSE keeps its own time."""

    async def start_transaction(
        self, client_id: str, process_type: str = "", process_data: str = ""
    ) -> TseTransaction:
        """Revision 1 with state ACTIVE and no schema (DSFinV-K wants empty data at start)."""
        tx_id = str(uuid.uuid4())
        body = {"state": "ACTIVE", "client_id": self._client_uuid(client_id)}
        data = await self._request("PUT", self._tss(f"/tx/{tx_id}"), body, {"tx_revision": 1})
        result = _transaction(data, "", "")
        self._tx[result.number] = (tx_id, 1)
        return result

    async def update_transaction(
        self, client_id: str, number: int, process_type: str, process_data: str
    ) -> TseTransaction:
        """Next revision, still ACTIVE, with the data as a ``raw`` schema."""
        return await self._revise(client_id, number, "ACTIVE", process_type, process_data)

    async def finish_transaction(
        self, client_id: str, number: int, process_type: str, process_data: str
    ) -> TseTransaction:
        """Final revision: FINISHED (CANCELLED for an AVBelegabbruch) with the data as ``raw``."""
        state = "CANCELLED" if process_data.startswith("AVBelegabbruch") else "FINISHED"
        return await self._revise(client_id, number, state, process_type, process_data)

    async def _lookup(self, number: int) -> tuple[str, int, dict[str, Any]]:
        data = await self._request("GET", self._tss(f"/tx/{number}"))
        tx_id, revision = str(data["_id"]), int(data.get("latest_revision", data.get("revision", 1)))
        self._tx[number] = (tx_id, revision)
        return tx_id, revision, data

    async def _revise(
        self, client_id: str, number: int, state: str, process_type: str, process_data: str
    ) -> TseTransaction:
        body: dict[str, Any] = {
            "state": state,
            "client_id": self._client_uuid(client_id),
            "schema": {
                "raw": {
                    "process_type": process_type,
                    "process_data": base64.b64encode(process_data.encode("utf-8")).decode("ascii"),
                }
            },
        }
        if number in self._tx:
            tx_id, revision = self._tx[number]
        else:
            # After a restart the number is all we kept; fiskaly resolves tx_id_or_number.
            tx_id, revision, _ = await self._lookup(number)
        try:
            data = await self._request("PUT", self._tss(f"/tx/{tx_id}"), body, {"tx_revision": revision + 1})
        except (TseConflict, TseRejected) as err:
            if not isinstance(err, TseConflict) and err.code != "E_TX_REVISION_NOT_FOUND":
                raise
            # Our view of the revision is stale, e.g. an earlier attempt succeeded but its
            # answer was lost. If the transaction already holds what we asked for, use it.
            tx_id, revision, latest = await self._lookup(number)
            if latest.get("state") == state and _raw_of(latest) == body["schema"]["raw"]:
                data = latest
            elif latest.get("state") == "ACTIVE":
                data = await self._request(
                    "PUT", self._tss(f"/tx/{tx_id}"), body, {"tx_revision": revision + 1}
                )
            else:
                raise TseConflict(
                    f"transaction {number} is {latest.get('state')}; cannot set it {state}",
                    code=err.code,
                ) from err
        self._tx[number] = (tx_id, int(data.get("revision", revision + 1)))
        if state != "ACTIVE":
            self._tx.pop(number, None)
        return _transaction(data, process_type, process_data)

    async def export_tar(self) -> bytes:
        """Trigger an export of the whole TSS, poll until COMPLETED and download the TAR."""
        export_id = str(uuid.uuid4())
        path = self._tss(f"/export/{export_id}")
        await self._request("PUT", path, None)
        deadline = time.monotonic() + self._cfg.export_timeout
        while True:
            status = await self._request("GET", path)
            state = status.get("state")
            if state == "COMPLETED":
                break
            if state in ("ERROR", "CANCELLED"):
                raise TseError(f"export {export_id} ended {state}: {status.get('exception', '')}", code=str(state))
            if time.monotonic() > deadline:
                raise TseTimeout(f"export {export_id} still {state} after {self._cfg.export_timeout} s")
            await asyncio.sleep(self._cfg.export_poll_interval)
        data = await self._request("GET", path + "/file", raw=True)
        return bytes(data)


class _RetryAfter(TseUnavailable):
    """A 429 answer; carries the server's Retry-After in seconds."""

    def __init__(self, message: str, *, code: str, seconds: float) -> None:
        super().__init__(message, code=code)
        self.seconds = seconds


def _retryable(error: TseError) -> bool:
    return isinstance(error, TseUnavailable | TseTimeout)


async def _error_from(resp: aiohttp.ClientResponse, method: str, path: str) -> TseError:
    """Map an error answer (``{"status_code","error","code","message"}``) to a typed error."""
    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        body = None
    if not isinstance(body, dict):
        body = {}
    status = resp.status
    code = str(body.get("code") or f"HTTP_{status}")
    message = f"{method} {path}: {status} {code}: {body.get('message') or body.get('error') or resp.reason}"
    if status == 429:
        try:
            seconds = float(resp.headers.get("Retry-After", "1"))
        except ValueError:
            seconds = 1.0
        return _RetryAfter(message, code=code, seconds=seconds)
    if status in _RETRY_STATUSES or status >= 500 or status in (432, 444):
        return TseUnavailable(message, code=code)
    if status == 401:
        return TseAuthError(message, code=code if code != f"HTTP_{status}" else "HTTP_401")
    if status == 403:
        return TseAuthError(message, code=code)
    if status == 404:
        return TseNotFound(message, code=code)
    if status == 409:
        return TseConflict(message, code=code)
    if status == 423 or code in _STATE_CODES:
        return TseStateError(message, code=code)
    if code == "E_CLIENT_NOT_FOUND":
        return TseNotFound(message, code=code)
    return TseRejected(message, code=code, status=status)


def _raw_of(data: Mapping[str, Any]) -> Any:
    schema = data.get("schema") or {}
    return schema.get("raw") if isinstance(schema, dict) else None


def _transaction(data: Mapping[str, Any], process_type: str, process_data: str) -> TseTransaction:
    """A :class:`TseTransaction` from a fiskaly transaction response."""
    try:
        log = data["log"]
        signature = data["signature"]
        end = data.get("time_end")
        return TseTransaction(
            number=int(data["number"]),
            client_id=str(data.get("client_serial_number", "")),
            operation=_OPERATIONS.get(str(log.get("operation", "")).upper(), str(log.get("operation", ""))),
            # documented as string, returned as number by the middleware: accept both
            signature_counter=int(signature["counter"]),
            start_time=utc_from_unix(int(data["time_start"])),
            log_time=utc_from_unix(int(log["timestamp"])),
            end_time=utc_from_unix(int(end)) if end else None,
            signature=str(signature["value"]),
            serial_number=str(data["tss_serial_number"]),
            public_key=str(signature["public_key"]),
            signature_algorithm=str(signature["algorithm"]),
            log_time_format=str(log.get("timestamp_format", "unixTime")),
            process_type=process_type,
            process_data=process_data,
            certified=True,
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError) as err:
        raise TseError(f"unexpected transaction response: {err!r}", code="E_BAD_RESPONSE") from err
