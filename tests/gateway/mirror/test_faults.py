"""Fault tests of the relay: HQ down, server SIGKILL, gateway SIGKILL, partition, connection reset.

After each scenario HQ's stream must hold exactly the journal: seqs 1..N once each, in order.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gateway.mirror.conftest import Store, hq_seqs, provision_hq, wait_until
from tests.gateway.mirror.harness import NatsServer, TcpProxy, client, env_with_root

# Fault tests move tens of thousands of messages; on a loaded 2-core CI box they need more than
# the suite-wide 120 s. Each wait inside is bounded on its own.
pytestmark = pytest.mark.timeout(300)


async def stream_count(url: str) -> int:
    """Messages in STORE_EVENTS (0 when unreachable)."""
    try:
        nc = await client(url)
    except Exception:
        return 0
    try:
        return (await nc.jetstream().stream_info("STORE_EVENTS")).state.messages
    finally:
        await nc.close()


async def test_10000_sales_while_hq_down_then_exactly_once(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")  # port reserved, not started: HQ is down
    store = Store(tmp_path / "l.db", server.url)
    try:
        await store.link.start()
        t0 = time.perf_counter()
        await store.sell(10_000, per_txn=500)
        assert time.perf_counter() - t0 < 10  # selling does not wait for HQ
        st = store.link.status()
        assert st["link"] in ("connecting", "disconnected") and st["backlog"] == 10_000 and st["state"] == "degraded"
        server.start()
        await server.wait_ready()
        await provision_hq(server.url)
        relay = store.link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked == 10_000, 30)
        assert store.link.status()["backlog"] == 0
        assert await hq_seqs(server.url) == list(range(1, 10_001))
    finally:
        await store.close()
        server.kill()


async def test_server_sigkill_mid_catchup(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    store = Store(tmp_path / "l.db", nats_server.url, publish_window=64)
    try:
        await store.sell(6000, per_txn=1000)
        await store.link.start()
        relay = store.link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked >= 800, 15, step=0.001)
        nats_server.kill()
        killed_at = relay.acked
        assert killed_at < 6000
        await wait_until(lambda: store.link.link == "disconnected", 10)
        nats_server.start()
        await nats_server.wait_ready()
        await wait_until(lambda: relay.acked == 6000, 30)
        assert await hq_seqs(nats_server.url) == list(range(1, 6001))
        assert store.link.disconnects >= 1
    finally:
        await store.close()


async def test_gateway_sigkill_mid_catchup(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    db = tmp_path / "l.db"
    store = Store(db, nats_server.url)
    await store.sell(8000, per_txn=1000)
    store.ledger.close()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.gateway.mirror.run_store", str(db), nats_server.url,
        env=env_with_root(),
        stdout=subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(30):
            while True:
                if await stream_count(nats_server.url) >= 1000:
                    break
                await asyncio.sleep(0.01)
    finally:
        child.kill()  # SIGKILL: no cursor flush, no clean close
        await asyncio.wait_for(child.wait(), 10)
    sent_before = await stream_count(nats_server.url)
    restarted = Store(db, nats_server.url)
    try:
        cursor = restarted.ledger.get_cursor("hq.relay")
        assert cursor <= sent_before  # the cursor never runs ahead of HQ
        await restarted.link.start()
        relay = restarted.link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked == 8000, 30)
        assert await hq_seqs(nats_server.url) == list(range(1, 8001))
    finally:
        await restarted.close()


async def test_blackhole_partition_detected_and_recovered(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    proxy = TcpProxy(nats_server.port)
    await proxy.start()
    store = Store(tmp_path / "l.db", f"nats://127.0.0.1:{proxy.port}", publish_window=32)
    try:
        await store.sell(4000, per_txn=1000)
        await store.link.start()
        relay = store.link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked >= 300, 15, step=0.001)
        proxy.blackhole()
        t0 = time.monotonic()
        t_sell = time.perf_counter()
        await store.sell(500)
        assert time.perf_counter() - t_sell < 2
        # ping_interval 1 s x (2 outstanding + 1): noticed in about 3 s
        await wait_until(lambda: store.link.link == "disconnected", 8)
        detected = time.monotonic() - t0
        assert detected < 6
        assert relay.acked < 4500
        proxy.restore()
        t1 = time.monotonic()
        await wait_until(lambda: relay.acked == 4500, 30)
        print(f"partition noticed after {detected:.2f} s, drained {time.monotonic() - t1:.2f} s after restore")
        assert await hq_seqs(nats_server.url) == list(range(1, 4501))

        # A hard cut (connection reset, port closed) while entries are being written.
        await proxy.down()
        await store.sell(200)
        await wait_until(lambda: store.link.link == "disconnected", 5)
        await proxy.up()
        await wait_until(lambda: relay.acked == 4700, 20)
        assert await hq_seqs(nats_server.url) == list(range(1, 4701))
    finally:
        await store.close()
        await proxy.close()


async def test_repeated_resets_during_catchup_keep_exact_order(tmp_path: Path, nats_server: NatsServer) -> None:
    await provision_hq(nats_server.url)
    proxy = TcpProxy(nats_server.port)
    await proxy.start()
    store = Store(tmp_path / "l.db", f"nats://127.0.0.1:{proxy.port}", publish_window=1024)
    try:
        await store.sell(8000, per_txn=2000)
        await store.link.start()
        relay = store.link.relay
        assert relay is not None
        cuts = 0
        async with asyncio.timeout(40):
            while relay.acked < 8000:
                before = relay.acked
                await asyncio.sleep(0.15)
                if relay.acked < 8000 and cuts < 3:
                    await proxy.down()  # resets every connection with data in flight
                    cuts += 1
                    await asyncio.sleep(0.05)
                    await proxy.up()
                    await wait_until(lambda: store.link.link == "connected", 10)
                assert relay.acked >= before
        assert cuts >= 2
        assert await hq_seqs(nats_server.url) == list(range(1, 8001))
    finally:
        await store.close()
        await proxy.close()


async def test_server_paused_longer_than_ack_timeout(tmp_path: Path, nats_server: NatsServer) -> None:
    """SIGSTOP: acks stop coming on a live connection; timeouts mean "unknown" and are re-sent."""
    await provision_hq(nats_server.url)
    # Pings slower than the ack timeout, so the timeout path (not a reconnect) handles the pause.
    store = Store(tmp_path / "l.db", nats_server.url, publish_window=128, ack_timeout_s=1, ping_interval_s=10)
    assert nats_server.proc is not None
    try:
        await store.sell(5000, per_txn=1000)
        await store.link.start()
        relay = store.link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked >= 500, 15, step=0.001)
        nats_server.proc.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(2.5)
            assert relay.failures >= 1 and "TimeoutError" in relay.last_error
        finally:
            nats_server.proc.send_signal(signal.SIGCONT)
        await wait_until(lambda: relay.acked == 5000, 30)
        assert await hq_seqs(nats_server.url) == list(range(1, 5001))
        assert relay.duplicates >= 1  # the re-sent window was already stored
        assert store.link.disconnects == 0
    finally:
        await store.close()
