"""CommandDispatcher without a broker: every input gets exactly one terminal reply, never a crash."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.mqtt.commands import CommandRegistry, Param, validate
from gateway.mqtt.dispatch import CommandDispatcher
from gateway.mqtt.idempotency import MemoryIdempotencyStore

PREFIX = "store/s1/"
REPLY = "store/s1/client/till-1/reply"


def _dispatcher() -> tuple[CommandDispatcher, list[tuple[str, dict[str, Any], bytes | None]], list[int]]:
    sent: list[tuple[str, dict[str, Any], bytes | None]] = []
    runs = [0]

    async def count(args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        runs[0] += 1
        return {"n": runs[0]}

    reg = CommandRegistry()
    reg.register("printer-1", "print", count, params=[Param("text", max_len=10), Param("copies", "int", required=False, min=1, max=3)])
    d = CommandDispatcher(
        reg,
        MemoryIdempotencyStore(),
        prefix=PREFIX,
        client_roles={"till-1": "cashier"}.get,
        reply=lambda t, b, c: sent.append((t, b, c)),
    )
    return d, sent, runs


def _props(rt: str | None = REPLY, corr: bytes | None = b"k") -> Any:
    return SimpleNamespace(ResponseTopic=rt, CorrelationData=corr) if rt or corr else None


async def _settle(d: CommandDispatcher) -> None:
    if d._tasks:
        await asyncio.wait_for(asyncio.gather(*d._tasks), 5)


def test_topic_parsing() -> None:
    d, _, _ = _dispatcher()
    assert d.parse_topic("store/s1/gateway/device/printer-1/cmd/print/till-1") == ("printer-1", "print", "till-1")
    assert d.parse_topic("store/s1/gateway/cmd/payment.start/till-1") == ("gateway", "payment.start", "till-1")
    for bad in ("store/s2/gateway/cmd/x/y", "store/s1/gateway/device/p/cmd/print", "store/s1/gateway/status", "x"):
        assert d.parse_topic(bad) is None


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["", "store/s1/", "store/s1/gateway/", "store/s1/gateway/device/", "store/s1/gateway/cmd/"]),
    st.text(alphabet="/abc-_.1", max_size=40),
)
def test_parse_topic_never_raises(prefix: str, rest: str) -> None:
    d, _, _ = _dispatcher()
    parsed = d.parse_topic(prefix + rest)
    if parsed is not None:
        _, action, client = parsed
        assert client and not any("/" in p for p in parsed)
        assert (prefix + rest).endswith(f"/{action}/{client}")


def test_validate_reports_every_field() -> None:
    params = [Param("amount", "int", min=1), Param("ok", "bool"), Param("kind", choices=("a", "b"))]
    assert validate(params, {"amount": 5, "ok": True, "kind": "a"}) == {"amount": 5, "ok": True, "kind": "a"}
    try:
        validate(params, {"amount": True, "kind": "z", "more": 1})
    except Exception as err:
        assert getattr(err, "type", "") == "validation-failed"
        assert set(err.extra["fields"]) == {"amount", "ok", "kind", "more"}  # type: ignore[attr-defined]
    else:
        raise AssertionError("no error")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=12),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["request_id", "text", "copies", "x"]), c, max_size=4),
            max_leaves=8,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    rt=st.sampled_from([REPLY, None, "store/s1/client/till-2/reply"]),
)
def test_any_payload_gets_exactly_one_final_reply(payload: bytes, rt: str | None) -> None:
    async def run() -> None:
        d, sent, runs = _dispatcher()
        d.submit("store/s1/gateway/device/printer-1/cmd/print/till-1", payload, _props(rt))
        await _settle(d)
        assert len(sent) == 1
        topic, body, corr = sent[0]
        assert topic == REPLY and corr == b"k"
        assert body["status"] in ("ok", "error")
        if body["status"] == "error":
            assert body["error"]["code"] in ("bad-request", "validation-failed", "forbidden")
            assert runs[0] == 0
        else:
            assert runs[0] == 1

    asyncio.run(run())


async def test_unknown_client_is_forbidden() -> None:
    d, sent, runs = _dispatcher()
    d.submit(
        "store/s1/gateway/device/printer-1/cmd/print/ghost",
        b'{"request_id":"a","text":"x"}',
        _props("store/s1/client/ghost/reply"),
    )
    await _settle(d)
    assert sent[0][1]["error"]["code"] == "forbidden" and runs[0] == 0


async def test_request_id_reused_for_another_command_conflicts() -> None:
    d, sent, runs = _dispatcher()

    async def other(args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {}

    d.registry.register("printer-1", "cut", other)
    d.submit("store/s1/gateway/device/printer-1/cmd/print/till-1", b'{"request_id":"a","text":"x"}', _props())
    await _settle(d)
    d.submit("store/s1/gateway/device/printer-1/cmd/cut/till-1", b'{"request_id":"a"}', _props())
    await _settle(d)
    assert sent[1][1]["error"]["code"] == "conflict" and runs[0] == 1


async def test_interrupted_attempt_is_reported_not_rerun() -> None:
    d, sent, runs = _dispatcher()
    d.registry.register("printer-1", "print", d.registry.lookup("printer-1", "print").handler, persist=True)
    await d.durable.put("till-1:a", {"command": "printer-1/print", "state": "running"})
    d.submit("store/s1/gateway/device/printer-1/cmd/print/till-1", b'{"request_id":"a"}', _props())
    await _settle(d)
    err = sent[0][1]["error"]
    assert err["code"] == "conflict" and err["state"] == "interrupted" and runs[0] == 0


async def test_interrupted_attempt_of_a_self_idempotent_command_is_rerun() -> None:
    d, sent, runs = _dispatcher()
    cmd = d.registry.lookup("printer-1", "print")
    assert cmd is not None
    d.registry.register("printer-1", "print", cmd.handler, params=cmd.params, persist=True, self_idempotent=True)
    await d.durable.put("till-1:a", {"command": "printer-1/print", "state": "running"})
    d.submit("store/s1/gateway/device/printer-1/cmd/print/till-1", b'{"request_id":"a","text":"x"}', _props())
    await _settle(d)
    assert sent[0][1]["status"] == "ok" and runs[0] == 1
    assert (await d.durable.get("till-1:a"))["state"] == "done"


async def test_concurrent_duplicates_run_once() -> None:
    d, sent, runs = _dispatcher()
    for corr in (b"1", b"2", b"3"):
        d.submit(
            "store/s1/gateway/device/printer-1/cmd/print/till-1", b'{"request_id":"a","text":"x"}', _props(corr=corr)
        )
    await _settle(d)
    assert runs[0] == 1
    assert sorted((c, b["result"]["n"], b.get("duplicate", False)) for _, b, c in sent) == [
        (b"1", 1, False),
        (b"2", 1, True),
        (b"3", 1, True),
    ]
