"""HQ tool tests reuse the real nats-server fixture of the link tests."""

from tests.gateway.mirror.conftest import nats_server

__all__ = ["nats_server"]
