"""JSON schemas of request bodies and responses, shared by the routes and the OpenAPI document."""

from __future__ import annotations

from typing import Any

CENTS = {"type": "integer", "minimum": 1, "maximum": 10_000_000, "description": "Amount in cents"}
CODE = {"type": "string", "minLength": 1, "maxLength": 64, "description": "GTIN, PLU or in-store code"}

LINE_IN: dict[str, Any] = {
    "type": "object",
    "required": ["code"],
    "properties": {
        "code": CODE,
        "qty": {"type": "integer", "minimum": 1, "maximum": 9999, "description": "Pieces (products sold by piece)"},
        "weight_g": {"type": "integer", "minimum": 1, "maximum": 100000, "description": "Grams (products sold by kg)"},
        "weight_source": {"type": "string", "enum": ["scale", "manual"], "description": "Where the weight came from"},
    },
    "additionalProperties": False,
}
PAYMENT_IN: dict[str, Any] = {
    "type": "object",
    "required": ["method", "amount"],
    "properties": {"method": {"type": "string", "description": "Payment method, e.g. cash, card"}, "amount": CENTS},
    "additionalProperties": False,
}
PAYMENTS = {"type": "array", "minItems": 1, "maxItems": 20, "items": PAYMENT_IN}
SALE_IN: dict[str, Any] = {
    "type": "object",
    "required": ["lines", "payments"],
    "properties": {"lines": {"type": "array", "minItems": 1, "maxItems": 500, "items": LINE_IN}, "payments": PAYMENTS},
    "additionalProperties": False,
}
CHECKOUT_IN: dict[str, Any] = {"type": "object", "required": ["payments"], "properties": {"payments": PAYMENTS},
                               "additionalProperties": False}
DISCOUNT_IN: dict[str, Any] = {
    "type": "object",
    "properties": {"percent_bp": {"type": "integer", "minimum": 0, "maximum": 10000, "description": "Basis points (1000 = 10 %)"},
                   "amount": {"type": "integer", "minimum": 0, "maximum": 10_000_000}},
    "additionalProperties": False,
}
RETURN_IN: dict[str, Any] = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {"type": "array", "minItems": 1, "maxItems": 500, "items": {
            "type": "object", "required": ["line"],
            "properties": {"line": {"type": "integer", "minimum": 1, "maximum": 500},
                           "qty": {"type": "integer", "minimum": 1, "maximum": 9999},
                           "weight_g": {"type": "integer", "minimum": 1, "maximum": 100000}},
            "additionalProperties": False}},
        "refund_method": {"type": "string", "default": "cash"},
    },
    "additionalProperties": False,
}
VOID_IN: dict[str, Any] = {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}},
                           "additionalProperties": False}
CASH_IN: dict[str, Any] = {"type": "object", "required": ["amount"],
                           "properties": {"amount": CENTS, "reason": {"type": "string", "maxLength": 200}},
                           "additionalProperties": False}
CLIENT_IN: dict[str, Any] = {
    "type": "object", "required": ["name", "role"],
    "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                   "role": {"type": "string", "enum": ["cashier", "manager", "technician", "admin"]}},
    "additionalProperties": False,
}
SCAN_IN: dict[str, Any] = {"type": "object", "required": ["code"], "properties": {"code": CODE,
                           "device": {"type": "string", "maxLength": 64}}, "additionalProperties": False}

PRODUCT: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "price": {"type": "integer"},
                   "vat_id": {"type": "integer"}, "unit": {"type": "string", "enum": ["piece", "kg"]},
                   "group": {"type": "string"}, "codes": {"type": "array", "items": {"type": "string"}}},
}
VAT_ROW = {"type": "object", "properties": {k: {"type": "integer"} for k in ("vat_id", "rate_bp", "gross", "net", "vat")}}
TOTALS = {"type": "object", "properties": {"gross": {"type": "integer"}, "net": {"type": "integer"}, "vat": {"type": "integer"},
                                           "discount": {"type": "integer"}, "by_vat": {"type": "array", "items": VAT_ROW}}}
RECEIPT: dict[str, Any] = {
    "type": "object",
    "properties": {"receipt_no": {"type": "integer"}, "seq": {"type": "integer"}, "ts": {"type": "string"},
                   "kind": {"type": "string"}, "lines": {"type": "array", "items": {"type": "object"}}, "totals": TOTALS,
                   "payments": {"type": "array", "items": {"type": "object"}}, "change": {"type": "integer"},
                   "tse": {"type": "object"}},
}
CART: dict[str, Any] = {"type": "object", "properties": {"id": {"type": "string"}, "state": {"type": "string"},
                                                         "lines": {"type": "array", "items": {"type": "object"}}, "totals": TOTALS}}
PROBLEM: dict[str, Any] = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "code": {"type": "string"}},
}
