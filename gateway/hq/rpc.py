"""HQ request/reply over NATS: the store's client and a reference HQ responder.

Subjects are ``hqrpc.{store}.{op}`` (e.g. ``hqrpc.s1.voucher.redeem``), so HQ knows and can
authorise the asking store from the subject its credentials allow. The request is a JSON object;
the reply ``{"ok": true, "result": {...}}`` or ``{"ok": false, "error": "..."}`` (a refusal). No
responder, a timeout or a dead link means HQ is unavailable and the store applies its offline
rules (``docs/omnichannel.md``).

:class:`ReferenceHq` is a complete, small HQ for vouchers, loyalty and online orders with its
state in one JSON file, applying each ``ref`` once — for a retailer without a central system yet,
and for tests. ``storegw hq rpc --state FILE`` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

log = logging.getLogger(__name__)
PREFIX = "hqrpc"  # outside the streams' subjects (hq.> and store.*.evt.>), which would answer with a PubAck


class RpcRefused(Exception):
    """HQ answered and refused (insufficient balance, unknown order)."""


async def call(nc: NATS | None, store_id: str, op: str, body: dict[str, Any], wait_s: float) -> dict[str, Any]:
    """One request to HQ; ConnectionError/TimeoutError when HQ cannot answer, RpcRefused on a refusal."""
    if nc is None or not nc.is_connected:
        raise ConnectionError("HQ link is down")
    try:
        msg = await nc.request(f"{PREFIX}.{store_id}.{op}", json.dumps(body).encode(), timeout=wait_s)
    except nats.errors.NoRespondersError as err:
        raise ConnectionError("no HQ responder") from err
    except nats.errors.TimeoutError as err:
        raise TimeoutError(f"HQ did not answer {op}") from err
    try:
        reply = json.loads(msg.data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConnectionError(f"malformed HQ reply to {op}") from err
    if not isinstance(reply, dict):
        raise ConnectionError(f"malformed HQ reply to {op}")
    if not reply.get("ok"):
        raise RpcRefused(str(reply.get("error") or "refused"))
    result = reply.get("result")
    return result if isinstance(result, dict) else {}


class ReferenceHq:
    """Vouchers, loyalty and online orders at HQ; every ``ref`` applied once; state in a JSON file."""

    def __init__(self, state_file: Path) -> None:
        self.path = Path(state_file)
        self.state: dict[str, Any] = {"vouchers": {}, "loyalty": {}, "orders": {}, "refs": {}, "history": {}}
        if self.path.exists():
            self.state.update(json.loads(self.path.read_text(encoding="utf-8")))
        self._sub: Any = None

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def handle(self, store: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
        """Apply one request; raises RpcRefused for a refusal."""
        for key in ("amount", "points"):
            if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int) or body[key] <= 0):
                raise RpcRefused(f"{key} must be a positive integer")
        ref = body.get("ref")
        if ref is not None and f"{op}:{ref}" in self.state["refs"]:
            return dict(self.state["refs"][f"{op}:{ref}"])  # a retry: the same answer, nothing applied twice
        v, loy = self.state["vouchers"], self.state["loyalty"]
        if op == "voucher.balance":
            card = v.get(str(body["code"]))
            if card is None:
                raise RpcRefused(f"unknown voucher {body['code']}")
            result = {"balance": card["balance"], "state": card.get("state", "active")}
        elif op in ("voucher.issue", "voucher.top_up"):
            card = v.setdefault(str(body["code"]), {"balance": 0, "kind": body.get("kind", "multi"), "state": "active"})
            card["balance"] += int(body["amount"])
            result = {"balance": card["balance"]}
        elif op == "voucher.redeem":
            card = v.get(str(body["code"]))
            amount = int(body["amount"])
            if card is None or card.get("state", "active") != "active":
                raise RpcRefused(f"voucher {body['code']} is not valid")
            if amount > card["balance"]:
                raise RpcRefused(f"voucher {body['code']} has only {card['balance']} cents left")
            card["balance"] -= amount
            result = {"balance": card["balance"]}
        elif op == "voucher.refund":
            card = v.setdefault(str(body["code"]), {"balance": 0, "state": "active"})
            card["balance"] += int(body["amount"])
            result = {"balance": card["balance"]}
        elif op in ("loyalty.earn", "loyalty.redeem"):
            points = int(body["points"])
            bal = int(loy.get(str(body["customer"]), 0))
            if op == "loyalty.redeem":
                if points > bal:
                    raise RpcRefused(f"only {bal} points")
                points = -points
            loy[str(body["customer"])] = bal + points
            result = {"balance": bal + points}
        elif op == "loyalty.balance":
            result = {"balance": int(loy.get(str(body["customer"]), 0))}
        elif op == "order.lookup":
            order = self.state["orders"].get(str(body["order_id"]))
            if order is None:
                raise RpcRefused(f"unknown order {body['order_id']}")
            result = dict(order)
        elif op == "customer.history":
            result = {"purchases": self.state["history"].get(str(body["customer"]), [])}
        else:
            raise RpcRefused(f"unknown operation {op}")
        if ref is not None:
            self.state["refs"][f"{op}:{ref}"] = result
        self._save()
        log.info("hq rpc %s from %s: %s", op, store, result)
        return result

    async def _on_msg(self, msg: Msg) -> None:
        parts = msg.subject.split(".")
        n = len(PREFIX.split("."))
        store, op = (parts[n], ".".join(parts[n + 1:])) if len(parts) > n + 1 else ("?", "")
        try:
            body = json.loads(msg.data)
            if not isinstance(body, dict):
                raise ValueError("request must be a JSON object")
            reply: dict[str, Any] = {"ok": True, "result": self.handle(store, op, body)}
        except RpcRefused as err:
            reply = {"ok": False, "error": str(err)}
        except (ValueError, KeyError, TypeError) as err:
            reply = {"ok": False, "error": f"bad request: {err}"}
        with contextlib.suppress(Exception):
            await msg.respond(json.dumps(reply).encode())

    async def serve(self, nc: NATS) -> None:
        """Answer requests of every store until cancelled."""
        self._sub = await nc.subscribe(f"{PREFIX}.*.>", queue="hq-rpc", cb=self._on_msg)

    async def stop(self) -> None:
        """Stop answering."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None


async def run_forever(nc: NATS, state_file: Path) -> int:
    """``storegw hq rpc``: serve until interrupted."""
    hq = ReferenceHq(state_file)
    await hq.serve(nc)
    print(f"answering {PREFIX}.*.> with state in {state_file}", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    return 0
