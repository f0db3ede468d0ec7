"""Creates (or updates) HQ's JetStream streams, per-store consumers and the store config KV bucket.

Settings follow the messaging fact sheet §6.2/§6.5: file storage, replicas 3 in a production
cluster (1 on a single test server), a duplicate window of hours so a store's re-sends after an
outage are dropped, limits retention with ``max_age``. Acknowledged data on a replica-1 stream is
only safe against power loss with the server option ``jetstream { sync_interval: always }``
(Jepsen 2025, NATS docs): the server's own setting, printed as advice by ``storegw hq provision``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nats.js.errors
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext

from gateway.mirror.subjects import (
    HQ_TO_STORE,
    HQ_TO_STORE_SUBJECTS,
    STORE_EVENTS,
    STORE_EVENTS_SUBJECTS,
    default_consumer,
    inbound_filters,
)

DAY = 86400.0
SERVER_ADVICE = "jetstream { sync_interval: always }  # fsync before every ack; needed for replica-1 streams"


@dataclass(frozen=True)
class ProvisionSpec:
    """What to create; defaults are production values for a 3-node HQ cluster."""

    replicas: int = 3
    duplicate_window_s: float = 6 * 3600.0
    events_max_age_days: float = 400.0
    commands_max_age_days: float = 30.0
    kv_bucket: str = "store_config"
    kv_history: int = 10
    stores: list[tuple[str, str]] = field(default_factory=list)  # (store id, zone)
    ingest_consumer: str = "hq-ingest"


def stream_configs(spec: ProvisionSpec) -> list[StreamConfig]:
    """The two streams of the link."""
    common: dict[str, Any] = {
        "storage": StorageType.FILE,
        "num_replicas": spec.replicas,
        "retention": RetentionPolicy.LIMITS,
        "discard": DiscardPolicy.OLD,
        "duplicate_window": spec.duplicate_window_s,
        "allow_direct": True,
    }
    return [
        StreamConfig(
            name=STORE_EVENTS,
            description="Store journals, one message per journal entry (Nats-Msg-Id store:seq)",
            subjects=list(STORE_EVENTS_SUBJECTS),
            max_age=spec.events_max_age_days * DAY,
            # The journals are fiscal records: nobody removes single entries at HQ either.
            deny_delete=True,
            **common,
        ),
        StreamConfig(
            name=HQ_TO_STORE,
            description="HQ messages to stores: hq.store.{sid}.>, hq.zone.{zone}.>, hq.all.>",
            subjects=list(HQ_TO_STORE_SUBJECTS),
            max_age=spec.commands_max_age_days * DAY,
            **common,
        ),
    ]


def store_consumer(store_id: str, zone: str) -> ConsumerConfig:
    """The durable pull consumer of one store (same config the gateway creates itself)."""
    name = default_consumer(store_id)
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subjects=inbound_filters(store_id, zone),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_ack_pending=1000,
        ack_wait=30,
    )


async def provision(js: JetStreamContext, spec: ProvisionSpec) -> list[str]:
    """Create or update everything in ``spec``; returns one line per object for the operator."""
    done: list[str] = []
    for cfg in stream_configs(spec):
        try:
            await js.stream_info(str(cfg.name))
            await js.update_stream(cfg)
            done.append(f"stream {cfg.name}: updated")
        except nats.js.errors.NotFoundError:
            await js.add_stream(cfg)
            done.append(f"stream {cfg.name}: created")
    await js.add_consumer(
        STORE_EVENTS,
        ConsumerConfig(
            name=spec.ingest_consumer,
            durable_name=spec.ingest_consumer,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=1000,
            ack_wait=30,
        ),
    )
    done.append(f"consumer {STORE_EVENTS}/{spec.ingest_consumer}: ok")
    for store_id, zone in spec.stores:
        ccfg = store_consumer(store_id, zone)
        await js.add_consumer(HQ_TO_STORE, ccfg)
        done.append(f"consumer {HQ_TO_STORE}/{ccfg.durable_name}: ok ({', '.join(ccfg.filter_subjects or [])})")
    if spec.kv_bucket:
        await js.create_key_value(
            KeyValueConfig(
                bucket=spec.kv_bucket,
                history=spec.kv_history,
                storage=StorageType.FILE,
                replicas=spec.replicas,
            )
        )
        done.append(f"kv {spec.kv_bucket}: ok")
    return done
