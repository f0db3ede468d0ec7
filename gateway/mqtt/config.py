"""Configuration of the MQTT interface: one frozen dataclass with documented, bounded defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from gateway.config import section
from gateway.errors import ConfigError

_SECTION = "mqtt"


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker listens, parsed from ``mqtt://host:port`` / ``mqtts://host:port``."""

    host: str
    port: int
    tls: bool


@section
@dataclass(frozen=True)
class MqttConfig:
    """The ``[mqtt]`` section. ``url`` empty means the interface is off."""

    SECTION: ClassVar[str] = "mqtt"

    url: str = field(
        default="mqtt://127.0.0.1:1883",
        metadata={"doc": "Broker URL, mqtt://HOST:PORT or mqtts://HOST:PORT (TLS); empty disables MQTT"},
    )
    username: str = field(default="gateway", metadata={"doc": "MQTT user name of the gateway"})
    password_file: str = field(
        default="",
        metadata={"doc": "File holding the gateway's MQTT password (first line); empty means no password"},
    )
    client_id: str = field(default="storegw", metadata={"doc": "MQTT client id of the gateway"})
    keepalive: int = field(
        default=15, metadata={"doc": "Keep-alive in seconds; the broker sends the will after 1.5x", "min": 5, "max": 600}
    )
    tls_ca: str = field(default="", metadata={"doc": "CA bundle for mqtts://; empty uses the system store"})
    reconnect_min: float = field(
        default=0.5, metadata={"doc": "First reconnect delay in seconds (doubles per failure)", "min": 0.05, "max": 60}
    )
    reconnect_max: float = field(
        default=30.0, metadata={"doc": "Largest reconnect delay in seconds", "min": 0.1, "max": 600}
    )
    qos: int = field(default=1, metadata={"doc": "QoS of everything the gateway publishes", "min": 0, "max": 1})
    event_expiry: int = field(
        default=60,
        metadata={"doc": "Message expiry (s) of device events, so late subscribers get no stale scans", "min": 1, "max": 86400},
    )
    max_queued: int = field(
        default=10000,
        metadata={"doc": "Outgoing messages held in memory while the broker is away; beyond, counted as dropped", "min": 100, "max": 1_000_000},
    )
    connect_timeout: float = field(
        default=5.0, metadata={"doc": "Seconds to wait for TCP connect and CONNACK", "min": 0.5, "max": 60}
    )

    def __post_init__(self) -> None:
        for name, f in self.__dataclass_fields__.items():
            lo, hi = f.metadata.get("min"), f.metadata.get("max")
            value = getattr(self, name)
            if lo is not None and value < lo:
                raise ConfigError("", _SECTION, name, f"must be >= {lo}, got {value}")
            if hi is not None and value > hi:
                raise ConfigError("", _SECTION, name, f"must be <= {hi}, got {value}")
        if self.reconnect_max < self.reconnect_min:
            raise ConfigError("", _SECTION, "reconnect_max", "must be >= reconnect_min")
        if self.url:
            self.address()

    @property
    def enabled(self) -> bool:
        """False when no broker URL is configured."""
        return bool(self.url)

    def address(self) -> BrokerAddress:
        """The parsed broker URL; raises :class:`ConfigError` naming the key when it is invalid."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError("", _SECTION, "url", f"expected mqtt://HOST:PORT or mqtts://HOST:PORT, got {self.url!r}")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as err:
            raise ConfigError("", _SECTION, "url", f"bad port in {self.url!r}") from err
        return BrokerAddress(parts.hostname, port, tls)

    def password(self) -> str | None:
        """The secret from ``password_file`` (never logged), or None when no file is set."""
        if not self.password_file:
            return None
        try:
            text = Path(self.password_file).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError("", _SECTION, "password_file", f"cannot read: {err.strerror}") from err
        return text.splitlines()[0].strip() if text.strip() else ""
