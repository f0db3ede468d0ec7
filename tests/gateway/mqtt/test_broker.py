"""Broker files: $7$ hashes as mosquitto_passwd writes them, ACL text, config, refused logins."""

from __future__ import annotations

import grp
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.errors import BadRequest
from gateway.mqtt.broker import (
    BrokerTls,
    ClientCred,
    hash_password,
    render_acl,
    render_config,
    render_passwd,
    verify_password,
    write_broker_files,
)
from tests.gateway.mqtt.conftest import Broker, Peer


def test_hash_format_is_mosquittos() -> None:
    h = hash_password("pw", salt=b"\x00" * 12, iterations=101)
    assert h.startswith("$7$101$AAAAAAAAAAAAAAAA$") and len(h.split("$")[4]) == 88
    assert verify_password("pw", h) and not verify_password("pw2", h)
    assert hash_password("pw") != hash_password("pw")  # fresh salt each time


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd missing")
def test_verifies_hashes_written_by_mosquitto_passwd(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(f), "alice", "s3cret"], check=True)
    user, hashed = f.read_text().strip().split(":", 1)
    assert user == "alice" and verify_password("s3cret", hashed) and not verify_password("s3cre", hashed)


def test_render_passwd_and_acl() -> None:
    gw = ClientCred("gateway", "gateway", hash_password("a"))
    till = ClientCred("till-1", "cashier", hash_password("b"))
    text = render_passwd([till, gw])
    assert text.splitlines()[0].startswith("gateway:$7$") and text.splitlines()[1].startswith("till-1:$7$")
    with pytest.raises(BadRequest):
        render_passwd([till, till])
    acl = render_acl("s1", [gw, till]).splitlines()
    gw_block = acl[acl.index("user gateway") + 1]
    assert gw_block == "topic readwrite store/s1/#"
    till_block = acl[acl.index("user till-1") + 1 :]
    assert "topic read store/s1/client/till-1/reply" in till_block
    assert "topic write store/s1/gateway/device/+/cmd/+/till-1" in till_block
    assert "topic write store/s1/gateway/cmd/+/till-1" in till_block
    assert not any(line.startswith("topic readwrite") or "gateway/#" in line for line in till_block)


def test_bad_names_are_refused() -> None:
    for name in ("", "Till", "a/b", "a+b", "#", "x" * 65):
        with pytest.raises(BadRequest):
            ClientCred.create(name, "cashier", "pw")


def test_render_config_listeners_and_tls() -> None:
    plain = render_config(password_file="/p", acl_file="/a", data_dir="/d", port=1883, ws_port=9001)
    assert "allow_anonymous false" in plain and "password_file /p" in plain and "acl_file /a" in plain
    assert "listener 1883 127.0.0.1\nprotocol mqtt" in plain and "protocol websockets" in plain
    assert "certfile" not in plain and "max_queued_messages 100000" in plain
    tls = render_config(
        password_file="/p", acl_file="/a", data_dir="/d", ws_port=9443, tls=BrokerTls("/c.pem", "/k.pem")
    )
    assert "listener 9443\nprotocol websockets\nuse_username_as_clientid true\ncertfile /c.pem\nkeyfile /k.pem" in tls
    assert "listener 8883\nprotocol mqtt" in tls
    none = render_config(password_file="/p", acl_file="/a", data_dir="/d", ws_port=None)
    assert "websockets" not in none.replace("WebSockets", "")


def test_mosquitto_accepts_the_rendered_config(broker: Broker) -> None:
    # The fixture already started mosquitto with it; it must still be running.
    assert broker.proc is not None and broker.proc.poll() is None


async def test_wrong_password_and_anonymous_are_refused(broker: Broker, peers: list[Peer]) -> None:
    wrong = Peer(broker, "till-1", password="nope")
    peers.append(wrong)
    assert (await wrong.connect()).is_failure
    anon = Peer(broker, "till-1")
    anon.client.username_pw_set(None)
    peers.append(anon)
    assert (await anon.connect()).is_failure
    unknown = Peer(broker, "stranger", password="x")
    peers.append(unknown)
    assert (await unknown.connect()).is_failure


def test_write_broker_files_keeps_hashes_private(tmp_path: Path) -> None:
    creds = [ClientCred.create("gateway", "gateway", "a"), ClientCred.create("till-1", "cashier", "b")]
    paths = write_broker_files(tmp_path / "b", "s1", creds, ws_port=None)
    for name in ("passwd", "acl", "conf"):
        assert paths[name].stat().st_mode & 0o777 == 0o600
    assert "password_file " + str(paths["passwd"]) in paths["conf"].read_text()
    assert paths["passwd"].read_text().count(":$7$") == 2
    try:
        grp.getgrnam("mosquitto")
    except KeyError:
        return
    paths = write_broker_files(tmp_path / "g", "s1", creds, group="mosquitto")
    assert paths["passwd"].stat().st_mode & 0o777 == 0o640
    assert grp.getgrgid(paths["acl"].stat().st_gid).gr_name == "mosquitto"
