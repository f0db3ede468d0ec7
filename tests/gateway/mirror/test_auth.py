"""Per-store NKey credentials and a per-store inbox prefix against a server that enforces them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import nats
import nkeys

from gateway.hq.provision import ProvisionSpec, provision
from gateway.hq.tools import push
from tests.gateway.mirror.conftest import Store, wait_until
from tests.gateway.mirror.harness import NatsServer


def new_user() -> tuple[bytes, str]:
    """A fresh user NKey: (seed, public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed, nkeys.from_seed(seed).public_key.decode()


async def test_store_connects_with_nkey_and_scoped_inbox(tmp_path: Path) -> None:
    store_seed, store_pub = new_user()
    hq_seed, hq_pub = new_user()
    (tmp_path / "s1.nk").write_bytes(store_seed)
    (tmp_path / "hq.nk").write_bytes(hq_seed)
    # The store may only receive on its own inbox prefix; HQ may do anything.
    auth = (
        "authorization { users = [\n"
        f'  {{ nkey: "{store_pub}", permissions: {{ subscribe: {{ allow: ["_INBOX_s1.>"] }} }} }},\n'
        f'  {{ nkey: "{hq_pub}" }}\n'
        "] }\n"
    )
    server = NatsServer(tmp_path / "nats", extra_conf=auth)
    server.start()
    store = Store(tmp_path / "l.db", server.url, nkey_file=str(tmp_path / "s1.nk"))
    try:
        await server.wait_ready_tcp()
        hq = await nats.connect(server.url, nkeys_seed=str(tmp_path / "hq.nk"), allow_reconnect=False)
        try:
            await provision(hq.jetstream(), ProvisionSpec(replicas=1, duplicate_window_s=600, stores=[("s1", "z1")]))
            await push(hq.jetstream(), [{"type": "config", "version": 1, "settings": {"a": 1}}], "store:s1")
        finally:
            await hq.close()
        await store.sell(20)
        await store.link.start()
        relay = store.link.relay
        assert relay is not None
        # 20 sales + the journal entry of the applied HQ message, all acknowledged by HQ.
        await wait_until(lambda: store.link.inbox.applied == 1 and relay.acked == 21, 10)
        assert store.ledger.last_seq == 21
        assert store.link.status()["link"] == "connected"
    finally:
        await store.close()
        server.kill()


async def test_wrong_key_is_refused(tmp_path: Path) -> None:
    _, store_pub = new_user()
    other_seed, _ = new_user()
    (tmp_path / "other.nk").write_bytes(other_seed)
    server = NatsServer(tmp_path / "nats", extra_conf=f'authorization {{ users = [ {{ nkey: "{store_pub}" }} ] }}\n')
    server.start()
    store = Store(tmp_path / "l.db", server.url, nkey_file=str(tmp_path / "other.nk"))
    try:
        await server.wait_ready_tcp()
        await store.sell(5)
        await store.link.start()
        await wait_until(lambda: store.link.link == "connecting", 2)
        await asyncio.sleep(1.5)
        st = store.link.status()
        assert st["link"] != "connected" and st["backlog"] == 5 and st["state"] == "degraded"
    finally:
        await store.close()
        server.kill()
