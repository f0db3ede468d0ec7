"""Turns command messages into validated, authorised, idempotent handler calls and replies.

Every command gets at least one reply on its requester's reply topic: an error with a stable
``code`` when it is malformed, unknown or forbidden; otherwise ``ok`` (preceded by
``accepted`` and any ``progress`` for long operations). A ``request_id`` seen before is not
run again: the first outcome is replayed (marked ``duplicate``), or, while the first attempt
still runs, the duplicate waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from gateway.errors import BadRequest, Conflict, Forbidden, GatewayError
from gateway.jsonbody import json_object
from gateway.mqtt.commands import (
    GATEWAY_TARGET,
    Command,
    CommandContext,
    CommandRegistry,
    Handler,
    error_body,
    validate,
)
from gateway.mqtt.idempotency import IdempotencyStore, MemoryIdempotencyStore

log = logging.getLogger(__name__)

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_PAYLOAD = 256 * 1024

Reply = Callable[[str, dict[str, Any], "bytes | None"], None]


class _Request:
    """One received command message, parsed from its topic and v5 properties."""

    def __init__(self, target: str, action: str, client_id: str, payload: bytes, props: Any, prefix: str) -> None:
        self.target, self.action, self.client_id = target, action, client_id
        self.payload = payload
        self.response_topic: str | None = getattr(props, "ResponseTopic", None) if props is not None else None
        corr = getattr(props, "CorrelationData", None) if props is not None else None
        self.correlation: bytes | None = bytes(corr) if corr is not None else None
        self.own_reply = f"{prefix}client/{client_id}/reply"
        self.request_id: str | None = None
        self.seq = 0

    def body(self, status: str, **fields: Any) -> dict[str, Any]:
        """The next reply body of this request (``n`` counts its replies)."""
        self.seq += 1
        return {"request_id": self.request_id, "status": status, "n": self.seq, "ts": int(time.time() * 1000), **fields}


class CommandDispatcher:
    """Runs commands from the broker; one task per message, so slow handlers never block others."""

    def __init__(
        self,
        registry: CommandRegistry,
        durable: IdempotencyStore,
        *,
        prefix: str,
        client_roles: Callable[[str], str | None],
        reply: Reply,
        builtins: dict[tuple[str, str], Handler] | None = None,
    ) -> None:
        self.registry = registry
        self.durable = durable
        self.volatile = MemoryIdempotencyStore()
        self.prefix = prefix
        self.client_roles = client_roles
        self.reply = reply
        self.builtins = builtins or {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.received = 0
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.duplicates = 0
        self.ignored = 0

    def stats(self) -> dict[str, Any]:
        """Counters for the status page."""
        return {
            "received": self.received,
            "ok": self.ok,
            "errors": dict(self.errors),
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "in_flight": len(self._tasks),
        }

    def parse_topic(self, topic: str) -> tuple[str, str, str] | None:
        """(target, action, client_id) of a command topic, or None."""
        if not topic.startswith(self.prefix + "gateway/"):
            return None
        parts = topic[len(self.prefix) + len("gateway/") :].split("/")
        if not parts[-1]:  # no sender id, nobody to answer (the ACL never lets this through)
            return None
        if len(parts) == 5 and parts[0] == "device" and parts[2] == "cmd":
            return parts[1], parts[3], parts[4]
        if len(parts) == 3 and parts[0] == "cmd":
            return GATEWAY_TARGET, parts[1], parts[2]
        return None

    def submit(self, topic: str, payload: bytes, props: Any) -> None:
        """Handle one message from the broker (called on the loop thread, returns at once)."""
        parsed = self.parse_topic(topic)
        if parsed is None:
            self.ignored += 1
            return
        self.received += 1
        req = _Request(*parsed, payload, props, self.prefix)
        task = asyncio.get_running_loop().create_task(self._guarded(req))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, grace: float) -> None:
        """Wait for running commands to finish; cancel what is left after ``grace`` seconds."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- processing ------------------------------------------------------------------------------

    def _send(self, req: _Request, body: dict[str, Any]) -> None:
        # Replies only ever go to the sender's own reply topic (the one its ACL lets it read),
        # whatever ResponseTopic says: the gateway must not be used to write into other topics.
        try:
            self.reply(req.own_reply, body, req.correlation)
        except Exception:
            log.exception("mqtt: cannot send reply to %s", req.client_id)

    def _fail(self, req: _Request, err: BaseException) -> None:
        body = error_body(err)
        self.errors[body["code"]] = self.errors.get(body["code"], 0) + 1
        self._send(req, req.body("error", error=body))

    async def _guarded(self, req: _Request) -> None:
        try:
            await self._process(req)
        except GatewayError as err:
            self._fail(req, err)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("mqtt: command %s/%s from %s failed", req.target, req.action, req.client_id)
            self._fail(req, err)

    def _decode(self, req: _Request) -> dict[str, Any]:
        if len(req.payload) > MAX_PAYLOAD:
            raise BadRequest(f"payload larger than {MAX_PAYLOAD} bytes")
        if not req.payload:
            return {}
        data = json_object(req.payload, "payload")
        rid = data.get("request_id")
        if rid is not None:
            if not isinstance(rid, str) or not _REQUEST_ID_RE.match(rid):
                raise BadRequest("request_id must be 1-128 characters of A-Z a-z 0-9 . _ : -", field="request_id")
            req.request_id = rid
        return data

    async def _process(self, req: _Request) -> None:
        data = self._decode(req)
        builtin = self.builtins.get((req.target, req.action))
        if req.response_topic is None:
            if builtin is not None:  # fire-and-forget is fine for rebirth
                await builtin(data, self._context(req, ""))
                self.ok += 1
                return
            raise BadRequest("the MQTT v5 ResponseTopic property is required", field="ResponseTopic")
        if req.response_topic != req.own_reply:
            raise Forbidden(f"replies can only go to {req.own_reply}", field="ResponseTopic")
        role = self.client_roles(req.client_id)
        if role is None:
            raise Forbidden(f"client {req.client_id!r} is not registered")
        if builtin is not None:
            result = await builtin(data, self._context(req, role))
            self._finish(req, {"status": "ok", "result": result})
            return
        cmd = self.registry.lookup(req.target, req.action)
        self.registry.authorize(cmd, role)
        if req.request_id is None:
            raise BadRequest("request_id is required", field="request_id")
        args = {k: v for k, v in data.items() if k != "request_id"}
        args = validate(cmd.params, args)
        await self._run_once(req, cmd, role, args)

    def _context(self, req: _Request, role: str) -> CommandContext:
        async def progress(info: dict[str, Any]) -> None:
            """Send one ``progress`` reply."""
            self._send(req, req.body("progress", progress=info))

        return CommandContext(req.client_id, role, req.target, req.action, req.request_id or "", progress)

    def _finish(self, req: _Request, outcome: dict[str, Any], duplicate: bool = False) -> None:
        if outcome["status"] == "ok":
            self.ok += 1
            self._send(req, req.body("ok", result=outcome["result"], **({"duplicate": True} if duplicate else {})))
        else:
            err = outcome["error"]
            self.errors[err["code"]] = self.errors.get(err["code"], 0) + 1
            self._send(req, req.body("error", error=err, **({"duplicate": True} if duplicate else {})))

    async def _run_once(self, req: _Request, cmd: Command, role: str, args: dict[str, Any]) -> None:
        key = f"{req.client_id}:{req.request_id}"
        running = self._inflight.get(key)
        if running is not None:
            # Same request while the first attempt runs: wait for its outcome, never run twice.
            self.duplicates += 1
            if cmd.long_running:
                self._send(req, req.body("accepted", duplicate=True))
            self._finish(req, await asyncio.shield(running), duplicate=True)
            return
        # Registered before the first await, so concurrent duplicates always see it.
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            outcome, duplicate = await self._execute(req, cmd, role, args, key)
        except Exception as err:
            fut.set_exception(err)
            fut.exception()  # marks it retrieved; waiting duplicates still get it via shield()
            raise
        except BaseException:
            fut.cancel()
            raise
        else:
            fut.set_result(outcome)
        finally:
            self._inflight.pop(key, None)
        self._finish(req, outcome, duplicate=duplicate)

    async def _execute(
        self, req: _Request, cmd: Command, role: str, args: dict[str, Any], key: str
    ) -> tuple[dict[str, Any], bool]:
        """The outcome of the command and whether it was replayed from the store."""
        name = f"{req.target}/{req.action}"
        store = self.durable if cmd.persist else self.volatile
        record = await store.get(key)
        if record is not None:
            self.duplicates += 1
            if record.get("command") != name:
                raise Conflict(f"request_id {req.request_id!r} was already used for {record.get('command')}")
            if record.get("state") != "done" and not cmd.self_idempotent:
                raise Conflict(
                    f"an earlier attempt of request_id {req.request_id!r} was interrupted; its outcome is unknown",
                    state="interrupted",
                )
            if record.get("state") == "done":
                return record["outcome"], True
        if cmd.persist:
            await store.put(key, {"command": name, "state": "running", "ts": time.time()})
        if cmd.long_running:
            self._send(req, req.body("accepted"))
        outcome = await self._call(cmd, args, self._context(req, role))
        await store.put(key, {"command": name, "state": "done", "ts": time.time(), "outcome": outcome})
        return outcome, False

    async def _call(self, cmd: Command, args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        """Run the handler; any failure becomes an error outcome (recorded like a result)."""
        try:
            result = await cmd.handler(args, ctx)
        except GatewayError as err:
            return {"status": "error", "error": error_body(err)}
        except Exception as err:
            log.exception("mqtt: handler %s/%s raised", cmd.target, cmd.action)
            return {"status": "error", "error": error_body(err)}
        if not isinstance(result, dict):
            log.error("mqtt: handler %s/%s returned %r, not a dict", cmd.target, cmd.action, type(result))
            return {"status": "error", "error": {"code": "internal-error", "detail": "handler returned no object"}}
        return {"status": "ok", "result": result}

