"""storegw: the store gateway daemon (ledger, sales core, device ownership, HTTP/MQTT/NATS interfaces)."""

__version__ = "0.1.0"
