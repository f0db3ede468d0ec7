"""The test nats-server on a free port: a port taken before the server binds it is chosen again."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.gateway.mirror.harness import NatsServer

pytestmark = pytest.mark.timeout(30)


async def test_taken_port_is_chosen_again_before_first_ready(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = NatsServer(tmp_path / "nats")
        server.port = taken  # as if another process took the chosen port meanwhile
        server.start()
        try:
            await server.wait_ready()
            assert server.port != taken
            assert "address already in use" in (tmp_path / "nats" / "server.log").read_text().lower()
        finally:
            server.stop()


async def test_fixed_port_taken_is_an_error_naming_the_cause(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = NatsServer(tmp_path / "nats", port=squatter.getsockname()[1])
        server.start()
        try:
            with pytest.raises(RuntimeError, match="address already in use"):
                await server.wait_ready(within=10)
        finally:
            server.stop()
