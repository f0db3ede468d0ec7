"""Static checks of the Ansible playbook: syntax, ansible-lint production profile, templates.

The example inventory's vault files are opened with the test-only password in
tests/deploy/ansible/, so lint and syntax check see the secrets as a real run would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from gateway.netutil import free_port

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
ROLES = ANSIBLE / "roles"
VAULT_PASSWORD = REPO / "tests/deploy/ansible/TEST-ONLY-vault-password"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} not installed (pip install -e '.[test]')")
    return str(path)


def _env() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(VAULT_PASSWORD), "ANSIBLE_NOCOLOR": "1",
            "NO_COLOR": "1", "ANSIBLE_LOCAL_TEMP": "/tmp", "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}


def test_playbook_syntax() -> None:
    result = subprocess.run([_tool("ansible-playbook"), "--syntax-check", "site.yml"], cwd=ANSIBLE, env=_env(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile_is_clean() -> None:
    result = subprocess.run([_tool("ansible-lint"), "--profile", "production", "--offline", "."], cwd=ANSIBLE,
                            env=_env(), capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 failure(s), 0 warning(s)" in output
    assert "Profile 'production' was required, and it passed" in output


def test_vault_files_are_encrypted() -> None:
    vaults = sorted(ANSIBLE.glob("inventories/*/host_vars/*/vault.yml"))
    assert vaults
    for vault in vaults:
        assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256\n"), vault


@pytest.mark.parametrize("role", sorted(p.name for p in ROLES.iterdir()))
def test_role_defaults_are_prefixed_and_documented(role: str) -> None:
    lines = (ROLES / role / "defaults/main.yml").read_text().splitlines()
    block_start = True
    for line in lines[1:]:
        if not line.strip():
            block_start = True
            continue
        key = re.match(r"^([a-z_]+):", line)
        if key:
            assert key.group(1).startswith(f"{role}_"), line
            if block_start:
                pytest.fail(f"{role}: {key.group(1)} has no comment above it")
        block_start = False


def _defaults(*roles: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for role in roles:
        merged.update(yaml.safe_load((ROLES / role / "defaults/main.yml").read_text()))
    return merged


def render(role: str, template: str, **overrides: Any) -> str:
    """Render a role template with its defaults the way Ansible would (lazy variables)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    env.filters["to_json"] = json.dumps
    env.filters["dirname"] = os.path.dirname
    env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).lower() in ("yes", "true", "1")
    context: dict[str, Any] = {"ansible_managed": "Managed by Ansible", "playbook_dir": str(ANSIBLE)}
    context.update(_defaults(role))
    context.update(overrides)
    for _ in range(3):  # defaults refer to each other
        context = {k: env.from_string(v).render(context) if isinstance(v, str) and "{{" in v else v
                   for k, v in context.items()}
    return env.from_string((ROLES / role / "templates" / template).read_text()).render(context)


def test_gateway_config_template_is_valid_toml() -> None:
    text = render("storegw", "etc/storegw/gateway.toml.j2", storegw_store_id="0042",
                  storegw_store_name='Hamburg "Altona" Süd', storegw_store_address="Große Bergstraße 1, 22767 Hamburg",
                  storegw_store_vat_id="DE811111111", storegw_config_extra='[tse]\nclient_id = "K1"\n')
    doc = tomllib.loads(text)
    # The receipt identity comes from the inventory, never from the built-in demo defaults.
    assert doc["store"] == {"id": "0042", "name": 'Hamburg "Altona" Süd', "address": "Große Bergstraße 1, 22767 Hamburg",
                            "vat_id": "DE811111111", "register_id": "till-1", "zone": "default"}
    assert doc["http"]["port"] == 8080
    assert doc["hq"]["creds_file"] == "/etc/storegw/hq/store.creds"
    assert doc["tse"] == {"client_id": "K1"}


def test_backup_env_matches_the_unit_variables() -> None:
    text = render("storegw", "etc/storegw/backup.env.j2", storegw_backup_usb_label="STOREGW-BAK")
    env = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert env == {"STOREGW_BACKUP_DIR": "/srv/storegw-backup", "STOREGW_BACKUP_KEEP": "14",
                   "STOREGW_BACKUP_OPTS": "--require-mount"}
    unit = (REPO / "systemd/storegw-backup.service").read_text()
    assert all(f"{name}" in unit for name in env)


MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


_free_port = free_port


def _connack(port: int, username: str | None = None, password: str | None = None) -> int:
    """MQTT 3.1.1 CONNECT; returns the CONNACK return code (0 accepted, 5 not authorised)."""
    def utf8(s: str) -> bytes:
        return len(s.encode()).to_bytes(2, "big") + s.encode()
    flags = 0x02 | (0x80 if username else 0) | (0x40 if password else 0)
    body = utf8("MQTT") + bytes([4, flags]) + (30).to_bytes(2, "big") + utf8("storegw-test")
    body += (utf8(username) if username else b"") + (utf8(password) if password else b"")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        reply = sock.recv(4)
    assert reply[:2] == b"\x20\x02", reply
    return reply[3]


@pytest.fixture
def broker() -> Iterator[tuple[int, int]]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    # mosquitto started as root drops to its own user, which must be able to read the files.
    tmp_path = Path(tempfile.mkdtemp(prefix="storegw-mqtt-"))
    tmp_path.chmod(0o755)
    local, lan = _free_port(), _free_port()
    listeners = [{"port": local, "address": "127.0.0.1", "protocol": "mqtt", "anonymous": True},
                 {"port": lan, "address": "127.0.0.1", "protocol": "mqtt", "anonymous": False}]
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    # What `storegw clients add` produces: a hashed user and its ACL entry.
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "pos-1", "s3cret"], check=True, timeout=30,
                   capture_output=True)
    acl.write_text("user pos-1\ntopic readwrite store/#\n")
    if os.geteuid() == 0:
        shutil.chown(passwd, "mosquitto")
        shutil.chown(acl, "mosquitto")
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(render("mosquitto", "etc/mosquitto/conf.d/storegw.conf.j2", mosquitto_listeners=listeners,
                           mosquitto_password_file=str(passwd), mosquitto_acl_file=str(acl)))
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", lan), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
                assert time.monotonic() < deadline, "mosquitto did not listen"
                time.sleep(0.05)
        yield local, lan
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_mosquitto_listeners_enforce_credentials(broker: tuple[int, int]) -> None:
    local, lan = broker
    assert _connack(local) == 0
    assert _connack(lan) == 5
    assert _connack(lan, "pos-1", "wrong") in (4, 5)
    assert _connack(lan, "pos-1", "s3cret") == 0
