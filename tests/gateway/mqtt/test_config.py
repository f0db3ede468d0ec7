"""MqttConfig: URL parsing, bounds, secret file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.mqtt.config import BrokerAddress, MqttConfig


def test_url_forms() -> None:
    assert MqttConfig(url="mqtt://10.0.0.2:1884").address() == BrokerAddress("10.0.0.2", 1884, False)
    assert MqttConfig(url="mqtts://broker.local").address() == BrokerAddress("broker.local", 8883, True)
    assert not MqttConfig(url="").enabled


@pytest.mark.parametrize("url", ["http://x:1", "mqtt://", "mqtt://h:notaport", "127.0.0.1:1883"])
def test_bad_url_names_the_key(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        MqttConfig(url=url)
    assert err.value.key == "url" and err.value.section == "mqtt"


def test_bounds() -> None:
    with pytest.raises(ConfigError) as err:
        MqttConfig(keepalive=1)
    assert err.value.key == "keepalive"
    with pytest.raises(ConfigError):
        MqttConfig(reconnect_min=5, reconnect_max=1)


def test_password_file(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text("hunter2\n")
    assert MqttConfig(password_file=str(f)).password() == "hunter2"
    assert MqttConfig().password() is None
    with pytest.raises(ConfigError) as err:
        MqttConfig(password_file=str(tmp_path / "missing")).password()
    assert err.value.key == "password_file"
    assert "hunter2" not in repr(MqttConfig(password_file=str(f)))
