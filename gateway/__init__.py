"""storegw: the store gateway daemon (ledger, sales core, device ownership, HTTP/MQTT/NATS interfaces)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("storegw")  # one source of truth: pyproject.toml
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
