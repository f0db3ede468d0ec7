"""Idempotency keys: a retried request that moves money, prints or opens a drawer does its work once.

The first request with a key does the work and stores its response in the same ledger transaction
as its effect (so a crash between commit and reply still finds it); a retry with the same key and
the same body gets the stored response; the same key with a different body is a 409. Concurrent
retries wait on a per-key lock instead of racing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.errors import BadRequest, Conflict
from gateway.ledger import Ledger, Txn, canonical_json
from gateway.ledger.store import now_iso

KEY_MAX = 200


@dataclass(frozen=True, slots=True)
class IdemKey:
    """A client's idempotency key with the hash of the request it was first used for."""

    key: str
    client: str
    request_hash: str

    @classmethod
    def make(cls, key: str, client: str, scope: str, body: Any) -> IdemKey:
        """Key scoped by client and operation; the body hash detects reuse for another request."""
        if not key or len(key) > KEY_MAX or not key.isprintable():
            raise BadRequest(f"Idempotency-Key must be 1..{KEY_MAX} printable characters")
        h = hashlib.sha256((scope + "\n" + canonical_json(body)).encode()).hexdigest()
        return cls(f"{client}:{key}", client, h)


class IdempotencyStore:
    """Stored responses in the ledger's ``idempotency`` table, plus in-process per-key locks."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, idem: IdemKey) -> asyncio.Lock:
        """The lock serialising requests with this key."""
        lk = self._locks.get(idem.key)
        if lk is None:
            lk = self._locks[idem.key] = asyncio.Lock()
            if len(self._locks) > 10_000:
                for k in [k for k, v in self._locks.items() if not v.locked()][:5000]:
                    del self._locks[k]
                self._locks[idem.key] = lk
        return lk

    def lookup(self, idem: IdemKey, conn: Any = None) -> tuple[int, dict[str, Any]] | None:
        """The stored ``(status, response)`` for this key, or ``None``; 409 when the body differs."""
        c = conn or self.ledger.reader
        row = c.execute("SELECT request_hash, status, response FROM idempotency WHERE key=?", (idem.key,)).fetchone()
        if row is None:
            return None
        if row[0] != idem.request_hash:
            raise Conflict("this Idempotency-Key was already used for a different request")
        return int(row[1]), json.loads(row[2])

    async def once(self, idem: IdemKey | None, run: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """``run()`` at most once per key: a retry waits for the first attempt and gets its stored
        response (``run`` records it in the transaction of its effect). Without a key, just ``run()``."""
        if idem is None:
            return await run()
        async with self.lock(idem):
            prior = self.lookup(idem)
            if prior is not None:
                return prior[1]
            return await run()

    @staticmethod
    def record(txn: Txn, idem: IdemKey, status: int, response: dict[str, Any], seq: int | None = None) -> None:
        """Store the response inside the write transaction that has the effect."""
        txn.execute(
            "INSERT INTO idempotency(key, client, request_hash, status, response, seq, created) VALUES (?,?,?,?,?,?,?)",
            (idem.key, idem.client, idem.request_hash, status, json.dumps(response), seq, now_iso()),
        )

    async def record_alone(self, idem: IdemKey, status: int, response: dict[str, Any]) -> None:
        """Store a response in its own transaction (for effects outside the ledger: prints, drawer)."""
        await self.ledger.write(lambda txn: self.record(txn, idem, status, response))
