"""Online look-ups at HQ: a small request/reply protocol the HQ link (NATS) implements.

HQ is authoritative for voucher and loyalty balances and knows every online order. Services call
:meth:`HqClient.request` with a subject-like operation name and a JSON object; HQ answers a JSON
object. When HQ cannot be reached in time the client raises :class:`HqUnavailable` and the service
applies its offline rule; when HQ refuses (insufficient balance, unknown order) it raises
:class:`HqRejected` and the service reports that refusal unchanged.

Operations (request → reply):

- ``order.lookup`` ``{order_id}`` → ``{order_id, lines: [{code, qty, price, vat_id}], total, payment}``
- ``voucher.redeem`` ``{code, amount, ref}`` → ``{balance}``; idempotent on ``ref``
- ``voucher.refund`` ``{code, amount, ref}`` → ``{balance}`` (reverses ``ref``'s redemption)
- ``voucher.issue`` ``{code, kind, amount, vat_id}`` / ``voucher.top_up`` ``{code, amount, ref}`` → ``{balance}``
- ``voucher.balance`` ``{code}`` → ``{balance, state}``
- ``loyalty.redeem`` ``{customer, points, ref}`` / ``loyalty.earn`` ``{customer, points, ref}`` → ``{balance}``
- ``loyalty.balance`` ``{customer}`` → ``{balance}``
- ``customer.history`` ``{customer}`` → ``{purchases: [...]}`` (every channel, for the 360° view)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from gateway.errors import Conflict, Unavailable
from gateway.ledger import Txn


class HqUnavailable(Unavailable):
    """HQ did not answer in time (offline, link down, timeout)."""

    type, title = "hq-unavailable", "HQ unavailable"


class HqRejected(Conflict):
    """HQ answered and refused the request; ``detail`` says why."""

    type, title = "hq-rejected", "Refused by HQ"


class HqClient(Protocol):
    """Request/reply to HQ."""

    async def request(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        """HQ's reply; raises HqUnavailable or HqRejected."""


Responder = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class CallableHq:
    """An HqClient around an async callable, with a timeout; ``None`` means no HQ link at all."""

    def __init__(self, fn: Responder | None = None, timeout_s: float = 3.0) -> None:
        self.fn = fn
        self.timeout_s = timeout_s

    async def request(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        """Call the responder; timeouts and connection errors become HqUnavailable."""
        if self.fn is None:
            raise HqUnavailable("no HQ link configured")
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.fn(op, body)
        except (TimeoutError, ConnectionError, OSError) as err:
            raise HqUnavailable(f"HQ did not answer {op}: {type(err).__name__}") from None


def entry_writer(type_: str, aggregate: str, payload: dict[str, Any]) -> Callable[[Txn], None]:
    """A write function journaling one entry (the outcome of confirming an offline change at HQ)."""

    def fn(txn: Txn) -> None:
        txn.append(type_, aggregate, payload)

    return fn
