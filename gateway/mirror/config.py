"""The ``[hq]`` config section: how the store reaches HQ's NATS JetStream cluster.

Defaults leave the link disabled (no URL), so the demo and a store without HQ run unchanged.
Keepalive defaults notice a silently dead WAN link in ``ping_interval_s × (max_outstanding_pings
+ 1)`` = 9 s: nats-py only detects a half-open connection by unanswered pings (messaging fact
sheet §6.6, measured there: 6 s for 2 s × 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import opt, section


@section
@dataclass(frozen=True)
class HqConfig:
    """Link to HQ over NATS JetStream: outbound journal relay, inbound HQ messages, store config KV."""

    SECTION: ClassVar[str] = "hq"
    enabled: bool = opt(False, "Connect to HQ at all (also needs at least one URL).")
    urls: list[str] = opt([], "NATS server URLs of the HQ cluster (nats:// or tls://); tried in turn.")
    creds_file: str = opt("", "Per-store NATS credentials file (JWT + NKey seed); empty = none.")
    nkey_file: str = opt("", "Per-store NKey seed file (alternative to creds_file); empty = none.")
    tls: bool = opt(False, "Require TLS even for nats:// URLs.")
    ca_file: str = opt("", "CA bundle to verify HQ's server certificate; empty = system store.")
    cert_file: str = opt("", "Client certificate for mutual TLS; empty = none.")
    key_file: str = opt("", "Private key of cert_file.")
    inbox_prefix: str = opt("", "Reply inbox prefix; empty = _INBOX_{store id} so HQ can scope reply permissions per store.", pattern=r"^[A-Za-z0-9_.-]{0,64}$")
    connect_timeout_s: int = opt(5, "Seconds to wait for one connection attempt.", min=1, max=120)
    reconnect_wait_s: int = opt(2, "Seconds between reconnection attempts.", min=1, max=300)
    ping_interval_s: int = opt(3, "Seconds between client pings; with max_outstanding_pings this bounds how long a dead link goes unnoticed.", min=1, max=600)
    max_outstanding_pings: int = opt(2, "Unanswered pings before the connection is declared dead.", min=1, max=10)
    stream: str = opt("STORE_EVENTS", "HQ stream that receives store.{sid}.evt.> (checked on every publish).", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    publish_window: int = opt(256, "Most journal entries published and not yet acknowledged at once (catch-up speed).", min=1, max=4000)
    ack_timeout_s: int = opt(5, "Seconds to wait for HQ's acknowledgement of one publish before resending it with the same id.", min=1, max=300)
    batch_size: int = opt(500, "Journal rows read per query by the relay.", min=1, max=10000)
    cursor_flush_ms: int = opt(200, "Largest delay before the acknowledged cursor is written to the ledger.", min=10, max=60000)
    inbound_stream: str = opt("HQ_TO_STORE", "HQ stream with hq.store.{sid}.>, hq.zone.{zone}.> and hq.all.>.", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    consumer: str = opt("", "Durable pull consumer name; empty = store-{store id}.", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    fetch_batch: int = opt(50, "Inbound messages fetched per pull.", min=1, max=1000)
    fetch_wait_s: int = opt(5, "Seconds one pull waits for messages.", min=1, max=60)
    kv_bucket: str = opt("store_config", "KV bucket with this store's configuration (keys {sid}.*); empty = off.", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    status_interval_s: int = opt(5, "Seconds between hq.status events while nothing changes.", min=1, max=3600)
