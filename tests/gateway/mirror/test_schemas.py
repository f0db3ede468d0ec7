"""HQ message schemas, subject mapping and the [hq] config section."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import build_section, parse_config
from gateway.errors import ConfigError
from gateway.ledger import JournalEntry
from gateway.mirror import HqConfig
from gateway.mirror.errors import SchemaError, UnknownMessageType
from gateway.mirror.link import connect_options
from gateway.mirror.schemas import MESSAGE_TYPES, decode, validate
from gateway.mirror.subjects import event_headers, event_subject, inbound_filters, inbound_subject

VALID: dict[str, dict[str, Any]] = {
    "price_list": {"mode": "full", "effective_at": "2026-03-01T06:00:00+01:00", "items": [{"code": "4001", "price": 199, "vat_id": 2}]},
    "product": {"products": [{"code": "4001", "name": "Bread", "vat_id": 2, "price": 249, "unit": "piece", "codes": ["4000000000001"]}]},
    "promotion": {"promotion_id": "p1", "name": "3 for 2", "kind": "multi_buy", "value": 3, "codes": ["4001"], "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2026-03-08T00:00:00Z"},
    "order": {"order_id": "o1", "lines": [{"code": "4001", "qty": 1, "price": 199}], "total": 199, "paid": True, "pickup_by": "2026-03-02T18:00:00+01:00"},
    "reservation": {"reservation_id": "r1", "lines": [{"code": "4001", "qty": 2}], "expires_at": "2026-03-02T18:00:00Z"},
    "stock_adjustment": {"adjustment_id": "a1", "reason": "count", "lines": [{"code": "4001", "qty_delta": -3}]},
    "stock_transfer": {"transfer_id": "t1", "from_store": "s2", "to_store": "s1", "status": "shipped", "lines": [{"code": "4001", "qty": 5}]},
    "loyalty": {"account_ref": "c-77", "points_delta": 120},
    "voucher": {"code": "V-1", "action": "issue", "amount": 2000},
    "config": {"settings": {"receipt_footer": "Danke"}},
}


def test_every_type_has_a_valid_example() -> None:
    assert sorted(VALID) == list(MESSAGE_TYPES)
    for t, body in VALID.items():
        msg = {"type": t, "version": 1, **body}
        assert validate(msg) is msg
        assert decode(json.dumps(msg).encode()) == msg


@pytest.mark.parametrize(
    ("msg", "path", "text"),
    [
        ({"type": "price_list", "version": 1, "mode": "delta"}, "items", "is required"),
        ({"type": "price_list", "version": 1, "mode": "weekly", "items": []}, "mode", "not one of"),
        ({"type": "price_list", "version": 1, "mode": "full", "items": [{"code": "1", "price": 1.5}]}, "items[0].price", "expected an integer"),
        ({"type": "price_list", "version": 1, "mode": "full", "items": [{"code": "1", "price": True}]}, "items[0].price", "expected an integer"),
        ({"type": "price_list", "version": 1, "mode": "full", "effective_at": "2026-03-01T06:00", "items": []}, "effective_at", "no UTC offset"),
        ({"type": "order", "version": 1, "order_id": "o", "lines": [], "total": 0, "paid": False}, "lines", "must not be empty"),
        ({"type": "order", "version": 1, "order_id": "o", "lines": [{"code": "1", "qty": 0, "price": 1}], "total": 0, "paid": False}, "lines[0].qty", "below 1"),
        ({"type": "product", "version": 1, "products": [{"code": "1", "name": "x", "vat_id": 9, "price": 1}]}, "products[0].vat_id", "above 7"),
        ({"type": "config", "version": 1, "settings": []}, "settings", "expected an object"),
        ({"type": "config", "version": "1", "settings": {}}, "version", "integer"),
        ({"version": 1}, "type", "is required"),
    ],
)
def test_schema_errors_name_the_field(msg: dict[str, Any], path: str, text: str) -> None:
    with pytest.raises(SchemaError) as ei:
        validate(msg)
    assert ei.value.path == path
    assert text in str(ei.value)


def test_unknown_type_and_version() -> None:
    with pytest.raises(UnknownMessageType):
        validate({"type": "price_list", "version": 2, "mode": "full", "items": []})
    with pytest.raises(UnknownMessageType):
        validate({"type": "teleport", "version": 1})
    with pytest.raises(SchemaError, match="not valid JSON"):
        decode(b"\xff\xfe")
    with pytest.raises(SchemaError, match="JSON object"):
        decode(b"[1, 2]")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_decode_never_fails_untyped(data: bytes) -> None:
    try:
        decode(data)
    except SchemaError:
        pass


@pytest.mark.parametrize("data", [b'{"type": "price", "version": 1, "price": ' + b"9" * 5000 + b"}",
                                  b"[" * 100_000 + b"]" * 100_000, b'{"type": "\\ud800"}'])
def test_hostile_bodies_are_schema_errors(data: bytes) -> None:
    """Each would otherwise escape as ValueError/RecursionError: never dead-lettered, redelivered forever."""
    with pytest.raises(SchemaError):
        decode(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.dictionaries(st.sampled_from(["items", "lines", "code", "price", "mode", "total", "paid", "settings", "products"]), json_values, max_size=4))
def test_mutated_messages_are_valid_or_schema_errors(t: str, patch: dict[str, Any]) -> None:
    try:
        validate({"type": t, "version": 1, **VALID[t], **patch})
    except SchemaError:
        pass


def entry(seq: int, type_: str) -> JournalEntry:
    return JournalEntry(seq, "2026-03-01T08:00:00.000+00:00", type_, "sale:1", {}, "0" * 64, "a" * 64)


def test_subjects_and_headers() -> None:
    assert event_subject("s1", "sale.finished") == "store.s1.evt.sale.finished"
    assert event_subject("s1", "cart.line_added") == "store.s1.evt.cart.line_added"
    assert event_subject("s1", "hq.price_list") == "store.s1.evt.hq.price_list"
    assert event_subject("s1", "opened") == "store.s1.evt.opened"
    assert event_subject("s1", "odd type>*") == "store.s1.evt.odd_type__"
    h = event_headers("s1", entry(42, "cash.deposit"))
    assert h["Nats-Msg-Id"] == "s1:42" and h["Ledger-Seq"] == "42" and h["Event-Type"] == "cash.deposit"
    assert h["Store-Id"] == "s1" and h["Occurred-At"] == "2026-03-01T08:00:00.000+00:00"
    assert inbound_filters("s1", "north") == ["hq.store.s1.>", "hq.zone.north.>", "hq.all.>"]
    assert inbound_subject("store:s1", "order") == "hq.store.s1.order"
    assert inbound_subject("zone:north", "price_list") == "hq.zone.north.price_list"
    assert inbound_subject("all", "product") == "hq.all.product"
    with pytest.raises(ValueError):
        inbound_subject("region:x", "order")


def test_hq_section_defaults_off_and_validates() -> None:
    cfg = HqConfig()
    assert not cfg.enabled and cfg.urls == []
    assert build_section(HqConfig, {}) == cfg
    c = parse_config({"hq": {"enabled": True, "urls": ["tls://hq.example:4222"], "ping_interval_s": 5}})
    hq = c.get(HqConfig)
    assert hq.urls == ["tls://hq.example:4222"] and hq.ping_interval_s == 5
    with pytest.raises(ConfigError, match="ping_interval_s"):
        parse_config({"hq": {"ping_interval_s": 0}})
    with pytest.raises(ConfigError, match="urls"):
        parse_config({"hq": {"urls": "nats://x"}})
    with pytest.raises(ConfigError, match="bogus"):
        parse_config({"hq": {"bogus": 1}})
    opts = connect_options(hq, "s1")
    assert opts["inbox_prefix"] == b"_INBOX_s1" and opts["max_reconnect_attempts"] == -1
    assert opts["pending_size"] == 0 and "tls" in opts
    assert opts["ping_interval"] * (opts["max_outstanding_pings"] + 1) == 15
