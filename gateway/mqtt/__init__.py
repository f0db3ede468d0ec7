"""MQTT interface of the gateway: store topics on the local Mosquitto, commands with replies.

Public API for the composition root and the CLI (see ``docs/mqtt.md``).
"""

from gateway.mqtt.broker import BrokerTls, ClientCred, hash_password, new_secret, write_broker_files
from gateway.mqtt.commands import ANY_DEVICE, GATEWAY_TARGET, CommandContext, CommandRegistry, Param
from gateway.mqtt.component import MqttComponent
from gateway.mqtt.config import MqttConfig
from gateway.mqtt.idempotency import IdempotencyStore, MemoryIdempotencyStore, SqliteIdempotencyStore

__all__ = [
    "ANY_DEVICE",
    "GATEWAY_TARGET",
    "BrokerTls",
    "ClientCred",
    "CommandContext",
    "CommandRegistry",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "MqttComponent",
    "MqttConfig",
    "Param",
    "SqliteIdempotencyStore",
    "hash_password",
    "new_secret",
    "write_broker_files",
]
