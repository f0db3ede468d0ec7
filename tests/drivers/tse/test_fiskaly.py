"""Tests of the fiskaly SIGN DE v2 client against the local simulator on a real TCP socket."""

from __future__ import annotations

import asyncio
import io
import socket
import tarfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.tse import (
    TseAuthError,
    TseConflict,
    TseError,
    TseRejected,
    TseStateError,
    TseTimeout,
    TseUnavailable,
)
from drivers.tse.fiskaly import FiskalyConfig, FiskalyTse, _transaction
from drivers.tse.fiskaly_sim import FiskalySimulator
from drivers.tse.verify import verify_transaction

CLIENT = "KASSE-7"
PD = "Beleg^11.90_2.14_0.00_0.00_0.00^10.00:Bar_4.04:Unbar"


@pytest.fixture
async def sim() -> AsyncIterator[FiskalySimulator]:
    s = FiskalySimulator()
    await s.start()
    yield s
    await s.stop()


def _config(sim: FiskalySimulator, **kw: object) -> FiskalyConfig:
    base = FiskalyConfig(
        api_key="test-key",
        api_secret="test-secret",
        tss_id=str(uuid.uuid4()),
        client_uuids={CLIENT: str(uuid.uuid4())},
        base_url=sim.url,
        admin_pin="246810",
        timeout=0.5,
        attempts=3,
        backoff=0.01,
        export_poll_interval=0.01,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def tse(sim: FiskalySimulator) -> AsyncIterator[FiskalyTse]:
    client = FiskalyTse(_config(sim))
    async with asyncio.timeout(10):
        await client.provision("246810")
        await client.register_client(CLIENT)
    yield client
    await client.close()


async def test_sale_start_finish_verifies(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    async with asyncio.timeout(10):
        start = await tse.start_transaction(CLIENT)
        fin = await tse.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
        info = await tse.info()
    assert fin.number == start.number == 1
    assert fin.operation == "Finish" and fin.end_time is not None
    assert fin.client_id == CLIENT and fin.process_data == PD
    assert fin.serial_number == info.serial_number and info.state == "INITIALIZED"
    assert fin.signature_counter == start.signature_counter + 1
    verify_transaction(fin)
    put_lines = [r for r in sim.requests if r.startswith("PUT") and "/tx/" in r]
    assert put_lines[0].endswith("tx_revision=1") and put_lines[1].endswith("tx_revision=2")


async def test_token_expiry_reauthenticates(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    sim.expire_tokens()
    async with asyncio.timeout(10):
        start = await tse.start_transaction(CLIENT)
    assert start.number == 1
    assert sum(1 for r in sim.requests if r.startswith("POST /api/v2/auth")) == 2


async def test_bad_credentials_raise_auth_error(sim: FiskalySimulator) -> None:
    client = FiskalyTse(_config(sim, api_secret="wrong"))
    try:
        with pytest.raises(TseAuthError) as err:
            async with asyncio.timeout(10):
                await client.info()
        assert isinstance(err.value, PermissionError) and err.value.code == "E_UNAUTHORIZED"
    finally:
        await client.close()


async def test_5xx_then_success_is_retried(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    sim.inject(r"PUT .*/tx/.*tx_revision=1", status=503, code="E_TSS_LOCKED", count=2)
    async with asyncio.timeout(10):
        start = await tse.start_transaction(CLIENT)
    assert start.number == 1
    assert sum(1 for r in sim.requests if "tx_revision=1" in r) == 3


async def test_lost_answer_replays_same_revision_idempotently(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    start = await tse.start_transaction(CLIENT)
    # the finish is applied but its answer is lost: the retry with the same revision
    # must return the stored result, not sign twice
    sim.inject(r"PUT .*/tx/.*tx_revision=2", status=502, code="E_GATEWAY", after=True)
    async with asyncio.timeout(10):
        fin = await tse.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
    verify_transaction(fin)
    info = await tse.info()
    assert info.signature_counter == fin.signature_counter  # exactly one finish signed


async def test_timeout_then_success(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    sim.inject(r"PUT .*/tx/", delay=1.0, after=True, status=200, count=1)
    async with asyncio.timeout(10):
        start = await tse.start_transaction(CLIENT)
    assert start.number == 1


async def test_persistent_timeout_raises_tse_timeout(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    sim.inject(r"PUT .*/tx/", delay=1.0, count=5)
    with pytest.raises(TseTimeout) as err:
        async with asyncio.timeout(10):
            await tse.start_transaction(CLIENT)
    assert isinstance(err.value, TimeoutError)


async def test_persistent_5xx_raises_unavailable(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    sim.inject(r"PUT .*/tx/", status=500, code="E_INTERNAL", count=5)
    with pytest.raises(TseUnavailable) as err:
        async with asyncio.timeout(10):
            await tse.start_transaction(CLIENT)
    assert err.value.code == "E_INTERNAL"


async def test_429_honours_retry_after(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    sim.inject(r"GET .*/tss/[^/]+$", status=429, code="E_RATE_LIMITED", headers={"Retry-After": "0"})
    async with asyncio.timeout(10):
        info = await tse.info()
    assert info.state == "INITIALIZED"


async def test_4xx_is_not_retried(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    sim.inject(r"PUT .*/tx/", status=400, code="E_FAILED_SCHEMA_VALIDATION", count=5)
    with pytest.raises(TseRejected) as err:
        await tse.start_transaction(CLIENT)
    assert err.value.code == "E_FAILED_SCHEMA_VALIDATION" and isinstance(err.value, ValueError)
    assert sum(1 for r in sim.requests if "tx_revision" in r) == 1


async def test_revision_conflict_409(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    start = await tse.start_transaction(CLIENT)
    await tse.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
    # finishing again with other data is a conflict on a closed transaction
    with pytest.raises(TseConflict):
        await tse.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD.replace("10.00", "9.00"))


async def test_restart_resumes_by_number(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    start = await tse.start_transaction(CLIENT)
    fresh = FiskalyTse(tse._cfg)  # a new process knows only the transaction number
    try:
        async with asyncio.timeout(10):
            fin = await fresh.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
        verify_transaction(fin)
        assert any(r.startswith(f"GET /api/v2/tss/{tse._cfg.tss_id}/tx/{start.number}") for r in sim.requests)
    finally:
        await fresh.close()


async def test_abort_is_cancelled(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    start = await tse.start_transaction(CLIENT)
    fin = await tse.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^")
    tx = sim.tss[tse._cfg.tss_id]["tx"]
    assert [t["revisions"][-1]["state"] for t in tx.values()] == ["CANCELLED"]
    verify_transaction(fin)


async def test_self_test_and_states(tse: FiskalyTse, sim: FiskalySimulator) -> None:
    await tse.self_test(CLIENT)
    await tse.register_client(CLIENT)  # registering twice is fine
    with pytest.raises(TseStateError):
        await tse.start_transaction("NOT-CONFIGURED")
    await tse.admin_login()
    await tse.disable_tss()
    with pytest.raises(TseStateError):
        await tse.self_test(CLIENT)
    with pytest.raises(TseStateError):
        await tse.start_transaction(CLIENT)


async def test_export_downloads_tar(tse: FiskalyTse) -> None:
    start = await tse.start_transaction(CLIENT)
    await tse.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
    async with asyncio.timeout(10):
        data = await tse.export_tar()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert any(n.endswith("_Finish_Client-KASSE-7.log") for n in names)


async def test_connection_refused_is_unavailable() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on this port now
    cfg = FiskalyConfig("k", "s", "t", {CLIENT: "u"}, base_url=f"http://127.0.0.1:{port}/api/v2",
                        attempts=2, backoff=0.01)
    client = FiskalyTse(cfg)
    try:
        with pytest.raises(TseUnavailable) as err:
            async with asyncio.timeout(10):
                await client.start_transaction(CLIENT)
        assert isinstance(err.value, ConnectionError)
    finally:
        await client.close()


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda inner: st.dictionaries(st.sampled_from(["timestamp", "operation", "value", "counter", "algorithm",
                                                   "public_key", "timestamp_format"]), inner, max_size=7),
    max_leaves=10,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["number", "time_start", "time_end", "log", "signature", "tss_serial_number",
                                        "client_serial_number"]), _VALUES, max_size=7))  # fmt: skip
def test_fuzz_transaction_response_only_raises_tse_error(data: dict[str, object]) -> None:
    try:
        _transaction(data, "", "")
    except TseError:
        pass


async def test_lifecycle_errors(sim: FiskalySimulator) -> None:
    client = FiskalyTse(_config(sim, admin_pin=""))
    try:
        async with asyncio.timeout(10):
            puk = await client.create_tss()
            assert len(puk) >= 10
            with pytest.raises(TseStateError) as err:
                await client.register_client(CLIENT)  # not initialised yet
            assert err.value.code == "E_TSS_NOT_INITIALIZED"
            await client.deploy_tss()
            with pytest.raises(TseRejected):
                await client.set_admin_pin(puk, "123")  # too short
            await client.set_admin_pin(puk, "246810")
            with pytest.raises(TseRejected) as err2:
                await client.admin_login("000000")
            assert err2.value.code == "E_INVALID_ADMIN_PIN"
            with pytest.raises(TseAuthError):
                await client.initialize_tss()  # no admin session
            assert (await client.info()).state == "UNINITIALIZED"
    finally:
        await client.close()


async def test_finish_retried_after_lost_answer_returns_the_stored_finish(
    tse: FiskalyTse, sim: FiskalySimulator
) -> None:
    start = await tse.start_transaction(CLIENT)
    one_shot = FiskalyTse(replace(tse._cfg, attempts=1))
    try:
        sim.inject(r"PUT .*/tx/.*tx_revision=2", status=502, code="E_GATEWAY", after=True)
        with pytest.raises(TseUnavailable):
            await one_shot.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
        # a new attempt without local state: revision 3 conflicts (409), the client reads the
        # transaction, finds it FINISHED with the same data, and returns that signed result
        fresh = FiskalyTse(tse._cfg)
        try:
            async with asyncio.timeout(10):
                fin = await fresh.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
        finally:
            await fresh.close()
        assert any("tx_revision=3" in r for r in sim.requests)
        verify_transaction(fin)
        assert (await tse.info()).signature_counter == fin.signature_counter
    finally:
        await one_shot.close()


@pytest.mark.parametrize("body", [b"<html>Please log in to the hotel Wi-Fi</html>", b"[1, 2]", b"not json at all"])
async def test_success_status_without_a_json_object_is_an_outage(body: bytes) -> None:
    """A captive portal or proxy answering 200 for the service: TseUnavailable (the gateway signs in outage mode)."""
    from aiohttp import web

    async def portal(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", portal)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = FiskalyTse(FiskalyConfig(api_key="k", api_secret="s", tss_id=str(uuid.uuid4()),
                                      client_uuids={CLIENT: str(uuid.uuid4())}, base_url=f"http://127.0.0.1:{port}",
                                      timeout=0.5, attempts=2, backoff=0.01))
    try:
        async with asyncio.timeout(10):
            with pytest.raises(TseUnavailable, match="not a JSON object"):
                await client.info()
    finally:
        await client.close()
        await runner.cleanup()
