"""Broker credentials follow the API clients: one token per client serves HTTP and MQTT.

``storegw clients add NAME`` stores the Mosquitto ``$7$`` hash of the new token beside the
client and rewrites ``passwd``, ``acl`` and ``mosquitto.conf`` in ``DATA_DIR/mosquitto/`` (the
Ansible role points the broker at them and sends SIGHUP); revoking removes the account. The
gateway's own broker account has a random secret in ``DATA_DIR/mosquitto/gateway.secret``
(mode 0600), used when ``[mqtt] password_file`` is empty. Client names that are not valid MQTT
ids (lower-case letters, digits, ``_``, ``-``) get no broker account.
"""

from __future__ import annotations

import contextlib
import grp
import os
from pathlib import Path
from typing import Any

from gateway.mqtt.broker import MQTT_NAME_RE as MQTT_NAME
from gateway.mqtt.broker import ClientCred, hash_password, new_secret, write_broker_files


def broker_dir(data_dir: Path) -> Path:
    """Where the generated broker files live."""
    return Path(data_dir) / "mosquitto"


def gateway_password_file(data_dir: Path) -> Path:
    """The gateway's own broker secret."""
    return broker_dir(data_dir) / "gateway.secret"


def _gateway_cred(data_dir: Path) -> ClientCred:
    path = gateway_password_file(data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_secret())
    return ClientCred.create("gateway", "gateway", path.read_text().strip())


def _broker_group() -> str | None:
    """The broker's group when it exists (it must read passwd and acl)."""
    try:
        grp.getgrnam("mosquitto")
    except KeyError:
        return None
    return "mosquitto"


def _own_like_data_dir(data_dir: Path, paths: list[Path]) -> None:
    """Files written by root for a gateway running as another user belong to that user."""
    try:
        st = Path(data_dir).stat()
    except OSError:
        return
    if os.geteuid() != 0 or st.st_uid == 0:
        return
    for p in paths:
        with contextlib.suppress(OSError):
            os.chown(p, st.st_uid, -1)


def on_client_change(gw: Any, name: str, role: str | None, token: str | None) -> None:
    """CLI hook: store the new client's broker hash and regenerate the broker files."""
    if token is not None and role is not None and MQTT_NAME.match(name):
        h = hash_password(token)
        gw.ledger.write_sync(lambda txn: txn.execute("UPDATE clients SET mqtt_hash=? WHERE name=? AND revoked IS NULL", (h, name)))
    rows = gw.ledger.query("SELECT name, role, mqtt_hash FROM clients WHERE revoked IS NULL AND mqtt_hash IS NOT NULL")
    creds = [_gateway_cred(gw.data_dir)] + [ClientCred(n, r, h) for n, r, h in rows]
    group = _broker_group()
    paths = write_broker_files(broker_dir(gw.data_dir), gw.config.store.id, creds, group=group, log_dest="stderr")
    _own_like_data_dir(gw.data_dir, [*paths.values(), gateway_password_file(gw.data_dir), broker_dir(gw.data_dir)])
    if token is not None and not MQTT_NAME.match(name):
        print(f"note: {name!r} is not a valid MQTT client id (a-z 0-9 _ -); no broker account was created")
