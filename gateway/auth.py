"""Client credentials with roles: bearer tokens for HTTP (and the same identities for MQTT).

Tokens are random (``sgw_`` + 32 bytes url-safe) and stored only as SHA-256 hashes, so neither
the database nor a log ever holds a usable secret. Roles:

- ``cashier``: sell, return, look up products, print, open the drawer
- ``manager``: everything a cashier does plus voids, cash moves, reports
- ``technician``: status, devices and diagnostics, ledger checks; no selling
- ``admin``: everything, including managing clients
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from gateway.errors import BadRequest, Conflict, NotFound, Unauthorized
from gateway.ledger import Ledger
from gateway.ledger.store import now_iso

ROLES = ("cashier", "manager", "technician", "admin")
SELL = frozenset({"cashier", "manager", "admin"})
MANAGE = frozenset({"manager", "admin"})
TECH = frozenset({"technician", "manager", "admin"})
ADMIN = frozenset({"admin"})
ANY = frozenset(ROLES)
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# The gateway itself logs in to the broker as "gateway"; a client of that name would clash with it.
RESERVED_NAMES = frozenset({"gateway"})

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS clients (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        revoked TEXT
    );
    """,
    # v2: the Mosquitto hash of the same token, so one credential serves HTTP and MQTT.
    "ALTER TABLE clients ADD COLUMN mqtt_hash TEXT",
]


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated client."""

    name: str
    role: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "role": self.role}


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ClientRegistry:
    """Clients in the ledger database (table ``clients``; not journaled: credentials are not store state)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        ledger.add_migrations("clients", list(SCHEMA))

    def add(self, name: str, role: str) -> str:
        """Create a client and return its token (shown once, never stored)."""
        if not NAME_RE.match(name):
            raise BadRequest("client name must be 1-64 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        if name in RESERVED_NAMES:
            raise BadRequest(f"client name {name!r} is reserved for the gateway's own broker account")
        token = "sgw_" + secrets.token_urlsafe(32)

        def fn(txn: Any) -> None:
            try:
                txn.execute(
                    "INSERT INTO clients(name, role, token_hash, created) VALUES (?,?,?,?)",
                    (name, role, hash_token(token), now_iso()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"client {name} exists; revoke it first") from None

        self.ledger.write_sync(fn)
        return token

    def revoke(self, name: str) -> None:
        """Revoke a client's credential (kept for the audit trail, name can then be reused)."""

        def fn(txn: Any) -> int:
            row = txn.execute("SELECT revoked FROM clients WHERE name=?", (name,)).fetchone()
            if row is None or row[0]:
                raise NotFound(f"no active client {name}")
            stamp = now_iso()
            txn.execute("UPDATE clients SET revoked=?, name=? WHERE name=?", (stamp, f"{name}~revoked~{stamp}", name))
            return 1

        self.ledger.write_sync(fn)

    def list(self) -> list[dict[str, Any]]:
        """All clients, active and revoked (no secrets)."""
        rows = self.ledger.query("SELECT name, role, created, revoked FROM clients ORDER BY created")
        return [{"name": r[0].split("~revoked~")[0], "role": r[1], "created": r[2], "revoked": r[3]} for r in rows]

    def role_of(self, name: str) -> str | None:
        """Role of an active client by name (MQTT client ids are client names), or None."""
        row = self.ledger.query("SELECT role FROM clients WHERE name=? AND revoked IS NULL", (name,))
        return str(row[0][0]) if row else None

    def authenticate(self, token: str | None) -> Client:
        """The client of a bearer token; Unauthorized otherwise."""
        if not token:
            raise Unauthorized("missing bearer token")
        # No cache: a token revoked by the CLI must stop working at once in the running daemon.
        h = hash_token(token)
        row = self.ledger.query("SELECT name, role, token_hash FROM clients WHERE token_hash=? AND revoked IS NULL", (h,))
        if not row or not hmac.compare_digest(row[0][2], h):
            raise Unauthorized("unknown or revoked token")
        return Client(row[0][0], row[0][1])
