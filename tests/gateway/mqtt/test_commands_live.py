"""Commands over a real broker: request/response with v5 properties, idempotency, bad input."""

from __future__ import annotations

import asyncio
import json

from tests.gateway.mqtt.conftest import STORE, GatewayHarness, MakePeer, Peer

G = f"store/{STORE}/gateway"


async def _replies(p: Peer, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        rec = await p.next(p.reply_topic)
        out.append({**rec.json(), "_corr": rec.correlation})
    return out


async def test_device_command_reply_carries_correlation_data(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    till = await make_peer("till-1")
    await till.subscribe(till.reply_topic)
    await till.command("device/printer-1/cmd/print", {"request_id": "r-1", "text": "a\nb\nc"}, correlation=b"\x00\x01xy")
    (reply,) = await _replies(till, 1)
    assert reply["_corr"] == b"\x00\x01xy"
    assert reply["status"] == "ok" and reply["request_id"] == "r-1"
    assert reply["result"] == {"printed": 1, "lines": 3}


async def test_retried_request_id_runs_once(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    till = await make_peer("till-1")
    await till.subscribe(till.reply_topic)
    for corr in (b"a", b"b", b"c"):
        await till.command("device/printer-1/cmd/print", {"request_id": "same", "text": "x"}, correlation=corr)
    replies = {r["_corr"]: r for r in await _replies(till, 3)}
    assert harness.handlers.prints == 1
    assert set(replies) == {b"a", b"b", b"c"}
    assert {r["status"] for r in replies.values()} == {"ok"}
    assert [replies[c]["result"]["printed"] for c in (b"a", b"b", b"c")] == [1, 1, 1]
    assert [replies[c].get("duplicate", False) for c in (b"a", b"b", b"c")] == [False, True, True]
    # The same id from another client is another request.
    till2 = await make_peer("till-2")
    await till2.subscribe(till2.reply_topic)
    await till2.command("device/printer-1/cmd/print", {"request_id": "same", "text": "x"})
    assert (await _replies(till2, 1))[0]["result"]["printed"] == 2


async def test_persisted_outcome_survives_gateway_restart(harness: GatewayHarness, make_peer: MakePeer) -> None:
    gw = await harness.start()
    till = await make_peer("till-1")
    await till.subscribe(till.reply_topic)
    await till.command("device/printer-1/cmd/print", {"request_id": "p-9", "text": "x"})
    assert (await _replies(till, 1))[0]["result"]["printed"] == 1
    await gw.stop()
    await harness.start()
    await till.command("device/printer-1/cmd/print", {"request_id": "p-9", "text": "x"})
    (again,) = await _replies(till, 1)
    assert again["duplicate"] is True and again["result"]["printed"] == 1
    assert harness.handlers.prints == 1


async def test_card_payment_streams_accepted_progress_result(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    harness.handlers.release.clear()
    till = await make_peer("till-1")
    await till.subscribe(till.reply_topic)
    body = {"request_id": "pay-1", "cart_id": "C-7", "amount": 1299}
    await till.command("cmd/payment.start", body, correlation=b"pay")
    first = await _replies(till, 2)
    assert [r["status"] for r in first] == ["accepted", "progress"]
    assert first[1]["progress"] == {"step": "insert-card"}
    # A retry while the terminal is still busy must not start a second payment.
    await till.command("cmd/payment.start", body, correlation=b"retry")
    (dup_accepted,) = await _replies(till, 1)
    assert dup_accepted["status"] == "accepted" and dup_accepted["duplicate"] is True
    harness.handlers.release.set()
    rest = await _replies(till, 3)
    by_corr = {(r["_corr"], r["status"]) for r in rest}
    assert by_corr == {(b"pay", "progress"), (b"pay", "ok"), (b"retry", "ok")}
    result = next(r for r in rest if r["status"] == "ok")
    assert result["result"] == {"approved": True, "amount": 1299, "cart_id": "C-7", "run": 1}
    assert [r["n"] for r in first] == [1, 2]
    assert harness.handlers.payments == 1


async def test_malformed_and_unknown_commands_get_error_replies(harness: GatewayHarness, make_peer: MakePeer) -> None:
    gw = await harness.start()
    till = await make_peer("till-1")
    await till.subscribe(till.reply_topic)
    cases: list[tuple[str, bytes | dict, str]] = [
        ("device/printer-1/cmd/print", b"{not json", "bad-request"),
        ("device/printer-1/cmd/print", b"[1, 2]", "bad-request"),
        ("device/printer-1/cmd/print", {"text": "no id"}, "bad-request"),
        ("device/printer-1/cmd/print", {"request_id": "v1", "text": 5, "extra": 1}, "validation-failed"),
        ("device/printer-1/cmd/explode", {"request_id": "u1"}, "unknown-command"),
        ("device/printer-9/cmd/print", {"request_id": "u3", "text": "x"}, "unknown-command"),
        ("cmd/no.such.thing", {"request_id": "u2"}, "unknown-command"),
        ("cmd/refund", {"request_id": "f1", "amount": 100}, "forbidden"),
        ("cmd/boom", {"request_id": "b1"}, "internal-error"),
    ]
    for i, (path, body, _) in enumerate(cases):
        await till.command(path, body, correlation=str(i).encode())
    replies = await _replies(till, len(cases))
    codes = {int(r["_corr"]): r["error"]["code"] for r in replies}
    assert codes == {i: code for i, (_, _, code) in enumerate(cases)}
    bad_fields = next(r for r in replies if r["error"]["code"] == "validation-failed")["error"]["fields"]
    assert set(bad_fields) == {"text", "extra"}
    # Delivery goes on after all of that.
    await till.command("device/scanner-1/cmd/echo", {"request_id": "e1", "text": "hi"})
    (ok,) = await _replies(till, 1)
    assert ok["result"] == {"echo": {"text": "hi"}, "client": "till-1", "role": "cashier", "device": "scanner-1"}
    assert gw.status()["commands"]["errors"]["unknown-command"] == 3


async def test_manager_may_refund(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    mgr = await make_peer("mgr-1")
    await mgr.subscribe(mgr.reply_topic)
    await mgr.command("cmd/refund", {"request_id": "f1", "amount": 100})
    assert (await _replies(mgr, 1))[0]["result"] == {"refunded": 100}


async def test_missing_or_foreign_response_topic(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    till1 = await make_peer("till-1")
    till2 = await make_peer("till-2")
    await till1.subscribe(till1.reply_topic)
    await till2.subscribe(till2.reply_topic)
    await till1.command("device/printer-1/cmd/print", {"request_id": "m1", "text": "x"}, response_topic=None)
    (missing,) = await _replies(till1, 1)
    assert missing["error"]["code"] == "bad-request" and "ResponseTopic" in missing["error"]["detail"]
    # Asking the gateway to answer into till-2's topic is refused, and the answer goes to till-1.
    await till1.command("device/printer-1/cmd/print", {"request_id": "m2", "text": "x"}, response_topic=till2.reply_topic)
    (foreign,) = await _replies(till1, 1)
    assert foreign["error"]["code"] == "forbidden"
    await till2.nothing(till2.reply_topic)
    assert harness.handlers.prints == 0


async def test_acl_keeps_replies_and_commands_private(harness: GatewayHarness, make_peer: MakePeer) -> None:
    await harness.start()
    till1 = await make_peer("till-1")
    till2 = await make_peer("till-2")
    await till2.subscribe(till1.reply_topic)  # Mosquitto grants, then filters on delivery
    await till2.subscribe(f"{G}/#")
    await till1.subscribe(till1.reply_topic)
    await till1.command("device/printer-1/cmd/print", {"request_id": "s1", "text": "secret"})
    await _replies(till1, 1)
    await till2.nothing((f"store/{STORE}/client/", f"{G}/device/printer-1/cmd/"), wait=0.4)
    # A client can neither fake device events nor send commands in another client's name.
    assert (await till2.publish(f"{G}/device/scanner-1/evt/scan", b"{}")).is_failure
    assert (await till2.publish(f"{G}/device/printer-1/cmd/print/till-1", json.dumps({"request_id": "x"}))).is_failure
    await asyncio.sleep(0.2)
    assert harness.handlers.prints == 1
