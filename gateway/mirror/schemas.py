"""Versioned JSON schemas of the messages HQ sends to a store, and their validation.

Every message is one JSON object ``{"type": T, "version": V, "id": "...", ...}``. ``type`` and
``version`` select the schema below; ``id`` (optional) is HQ's own message id. Fields not named
in a schema are kept unchanged (a newer HQ may add optional fields without a version bump);
missing required fields, wrong types and values out of range are errors naming the field path.
Money is integer cents (``price``, ``total``, ``amount``; named as in the catalog), quantities
integers, times ISO 8601 with a UTC offset. Product identity is the catalog's ``code``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.mirror.errors import SchemaError, UnknownMessageType


@dataclass(frozen=True)
class F:
    """One field: its JSON kind, whether required, bounds, and the schema of list items."""

    kind: str  # "str" "int" "bool" "time" "dict" "list"
    required: bool = True
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()
    items: dict[str, F] | str | None = None  # object schema or scalar kind of list items
    nonempty: bool = False


def _opt(kind: str, **kw: Any) -> F:
    return F(kind, required=False, **kw)


_CODE = F("str", nonempty=True)  # product code as in the catalog (GTIN, PLU or article number)
_QTY_LINE = {"code": _CODE, "qty": F("int", min=1)}
_PRICE = F("int", min=0, max=100_000_000)  # gross cents per piece or per kg, as the catalog stores it

SCHEMAS: dict[tuple[str, int], dict[str, F]] = {
    ("price_list", 1): {
        "list_id": _opt("str"),
        "mode": F("str", choices=("full", "delta")),
        "effective_at": _opt("time"),
        "currency": _opt("str", choices=("EUR",)),
        "items": F(
            "list",
            items={"code": _CODE, "price": _PRICE, "vat_id": _opt("int", min=1, max=7)},
        ),
    },
    ("product", 1): {
        "products": F(
            "list",
            nonempty=True,
            items={
                "code": _CODE,
                "name": F("str", nonempty=True),
                "vat_id": F("int", min=1, max=7),
                "price": _PRICE,
                "unit": _opt("str", choices=("piece", "kg")),
                "group": _opt("str"),
                "codes": _opt("list", items="str"),
                "active": _opt("bool"),
            },
        ),
    },
    ("promotion", 1): {
        "promotion_id": F("str", nonempty=True),
        "name": F("str"),
        "kind": F("str", choices=("percent", "amount_off", "fixed_price", "multi_buy")),
        "value": F("int", min=0),  # basis points for percent, cents otherwise
        "min_qty": _opt("int", min=1),
        "codes": F("list", items="str"),
        "starts_at": F("time"),
        "ends_at": F("time"),
        "active": _opt("bool"),
    },
    ("order", 1): {
        "order_id": F("str", nonempty=True),
        "action": _opt("str", choices=("create", "cancel")),
        "channel": _opt("str"),
        "customer_ref": _opt("str"),
        "lines": F("list", nonempty=True, items={**_QTY_LINE, "price": _PRICE}),
        "total": F("int", min=0),
        "paid": F("bool"),
        "pickup_by": _opt("time"),
    },
    ("reservation", 1): {
        "reservation_id": F("str", nonempty=True),
        "action": _opt("str", choices=("create", "release")),
        "order_id": _opt("str"),
        "lines": F("list", nonempty=True, items=_QTY_LINE),
        "expires_at": F("time"),
    },
    ("stock_adjustment", 1): {
        "adjustment_id": F("str", nonempty=True),
        "reason": F("str", choices=("count", "damage", "correction", "other")),
        "lines": F("list", nonempty=True, items={"code": _CODE, "qty_delta": F("int")}),
    },
    ("stock_transfer", 1): {
        "transfer_id": F("str", nonempty=True),
        "from_store": F("str", nonempty=True),
        "to_store": F("str", nonempty=True),
        "status": F("str", choices=("announced", "shipped", "cancelled")),
        "lines": F("list", nonempty=True, items=_QTY_LINE),
    },
    ("loyalty", 1): {
        "account_ref": F("str", nonempty=True),
        "points_delta": _opt("int"),
        "balance": _opt("int", min=0),
        "tier": _opt("str"),
        "reason": _opt("str"),
    },
    ("voucher", 1): {
        "code": F("str", nonempty=True),
        "action": F("str", choices=("issue", "update", "cancel")),
        "amount": _opt("int", min=0),
        "expires_at": _opt("time"),
    },
    ("config", 1): {
        "settings": F("dict"),
    },
}

MESSAGE_TYPES: tuple[str, ...] = tuple(sorted({t for t, _ in SCHEMAS}))


def _check(value: Any, spec: F, path: str) -> None:
    kind = spec.kind
    if kind in ("str", "time"):
        if not isinstance(value, str):
            raise SchemaError(f"expected a string, got {type(value).__name__}", path)
        if spec.nonempty and not value:
            raise SchemaError("must not be empty", path)
        if spec.choices and value not in spec.choices:
            raise SchemaError(f"{value!r} is not one of {', '.join(spec.choices)}", path)
        if kind == "time":
            try:
                t = datetime.fromisoformat(value)
            except ValueError:
                raise SchemaError(f"{value!r} is not an ISO 8601 time", path) from None
            if t.tzinfo is None:
                raise SchemaError(f"{value!r} has no UTC offset", path)
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"expected an integer, got {type(value).__name__}", path)
        if spec.min is not None and value < spec.min:
            raise SchemaError(f"{value} is below {spec.min}", path)
        if spec.max is not None and value > spec.max:
            raise SchemaError(f"{value} is above {spec.max}", path)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise SchemaError(f"expected true or false, got {type(value).__name__}", path)
    elif kind == "dict":
        if not isinstance(value, dict):
            raise SchemaError(f"expected an object, got {type(value).__name__}", path)
    elif kind == "list":
        if not isinstance(value, list):
            raise SchemaError(f"expected a list, got {type(value).__name__}", path)
        if spec.nonempty and not value:
            raise SchemaError("must not be empty", path)
        for i, item in enumerate(value):
            if isinstance(spec.items, dict):
                _check_object(item, spec.items, f"{path}[{i}]")
            elif isinstance(spec.items, str):
                _check(item, F(spec.items), f"{path}[{i}]")


def _check_object(value: Any, schema: dict[str, F], path: str) -> None:
    if not isinstance(value, dict):
        raise SchemaError(f"expected an object, got {type(value).__name__}", path)
    for name, spec in schema.items():
        sub = f"{path}.{name}" if path else name
        if name not in value or value[name] is None:
            if spec.required:
                raise SchemaError("is required", sub)
            continue
        _check(value[name], spec, sub)


def validate(message: Any) -> dict[str, Any]:
    """Check one decoded message against its schema; returns it, raises :class:`SchemaError`."""
    if not isinstance(message, dict):
        raise SchemaError(f"a message is a JSON object, got {type(message).__name__}")
    mtype, version = message.get("type"), message.get("version")
    if not isinstance(mtype, str) or not mtype:
        raise SchemaError("is required (a string)", "type")
    if isinstance(version, bool) or not isinstance(version, int):
        raise SchemaError("is required (an integer)", "version")
    schema = SCHEMAS.get((mtype, version))
    if schema is None:
        known = ", ".join(f"{t} v{v}" for t, v in sorted(SCHEMAS))
        raise UnknownMessageType(f"unknown message type {mtype!r} version {version} (known: {known})", "type")
    if "id" in message and not isinstance(message["id"], str):
        raise SchemaError("expected a string", "id")
    _check_object(message, schema, "")
    return message


def decode(data: bytes) -> dict[str, Any]:
    """Decode and validate a message body; bad UTF-8 or JSON is a :class:`SchemaError` too."""
    try:
        message = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # bad UTF-8 or JSON, a 5000-digit number, nesting too deep
        raise SchemaError(f"not valid JSON: {err}") from None
    return validate(message)
