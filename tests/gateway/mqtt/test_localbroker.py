"""The private broker on free ports: a port taken between choosing and binding is chosen again."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import gateway.mqtt.localbroker as localbroker
from gateway.netutil import free_port
from tests.gateway.mqtt.conftest import make_broker

pytestmark = pytest.mark.skipif(not os.path.exists(localbroker.MOSQUITTO), reason="mosquitto is not installed")


def test_first_start_retries_when_a_port_was_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(localbroker, "free_port", lambda: next(ports, None) or free_port())
        broker = make_broker(tmp_path / "broker")
        assert broker.port == taken
        broker.start()
        try:
            assert broker.port != taken
            assert "Address already in use" in broker.log.read_text()
            with socket.create_connection(("127.0.0.1", broker.port), timeout=2):
                pass
        finally:
            broker.stop()


def test_restart_keeps_its_port_and_says_so_when_taken(tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "broker")
    broker.start()
    port = broker.port
    broker.stop()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(RuntimeError, match="Address already in use"):
            broker.start()
    assert broker.port == port
    broker.start()
    try:
        assert broker.port == port
    finally:
        broker.stop()
