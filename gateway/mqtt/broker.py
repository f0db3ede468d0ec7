"""Mosquitto broker files for one store: password hashes, ACL, and the rendered configuration.

Pure functions (no broker process is touched) plus :func:`write_broker_files`, which
``storegw clients add`` calls after changing the client list. The password format is
Mosquitto 2.0's ``$7$`` entry written by ``mosquitto_passwd``:
``user:$7$<iterations>$<base64 salt, 12 bytes>$<base64 PBKDF2-HMAC-SHA512, 64 bytes>``
(Mosquitto ``src/password_mosq.c`` / ``apps/mosquitto_passwd``; checked against
``mosquitto_passwd`` 2.0.11 and a running broker in the tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from gateway.errors import BadRequest

#: Mosquitto's own default iteration count for ``$7$`` hashes. Client secrets are random
#: tokens of 128+ bits, so more iterations would only slow every broker login.
PBKDF2_ITERATIONS = 101
_SALT_LEN = 12
MQTT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
GATEWAY_ROLE = "gateway"


@dataclass(frozen=True)
class ClientCred:
    """One broker account: ``name`` is both MQTT user name and client id.

    ``role`` ``"gateway"`` gets full access under the store's prefix; every other role is a
    POS client. Only the hash is kept; build one from a clear password with :meth:`create`.
    """

    name: str
    role: str
    password_hash: str

    def __post_init__(self) -> None:
        check_name(self.name)
        if not self.password_hash.startswith("$7$"):
            raise BadRequest(f"client {self.name!r}: password_hash must be a $7$ hash")

    @classmethod
    def create(cls, name: str, role: str, password: str) -> ClientCred:
        """A credential whose hash is computed from ``password`` (which is not kept)."""
        return cls(name, role, hash_password(password))


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid store/client id (``[a-z0-9_-]``, one MQTT topic level)."""
    if not MQTT_NAME_RE.match(name):
        raise BadRequest(f"invalid id {name!r}: use 1-64 of a-z 0-9 _ - (starting with a letter or digit)")
    return name


def new_secret() -> str:
    """A fresh random client secret (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """The ``$7$`` PBKDF2-SHA512 hash Mosquitto 2.x accepts in its ``password_file``."""
    salt = os.urandom(_SALT_LEN) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches a ``$7$`` hash (as the broker would check it)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(got, digest)


def render_passwd(entries: Iterable[ClientCred]) -> str:
    """The ``password_file`` text: one ``name:hash`` line per account, sorted by name."""
    seen: set[str] = set()
    lines = []
    for cred in sorted(entries, key=lambda c: c.name):
        if cred.name in seen:
            raise BadRequest(f"duplicate client {cred.name!r}")
        seen.add(cred.name)
        lines.append(f"{cred.name}:{cred.password_hash}")
    return "\n".join(lines) + "\n"


def client_read_topics(store_id: str, client: str) -> list[str]:
    """Topics a POS client may read: the store's public gateway topics and its own replies.

    Listed one by one instead of ``gateway/#`` so that other clients' commands (which live
    under ``gateway/.../cmd/``) stay private.
    """
    g = f"store/{store_id}/gateway"
    return [
        f"{g}/status",
        f"{g}/hq",
        f"{g}/catalog/#",
        f"{g}/device/+/info",
        f"{g}/device/+/status",
        f"{g}/device/+/state",
        f"{g}/device/+/evt/#",
        f"{g}/ledger/evt/#",
        f"store/{store_id}/client/{client}/reply",
    ]


def client_write_topics(store_id: str, client: str) -> list[str]:
    """Topics a POS client may publish: commands whose last level is its own id."""
    g = f"store/{store_id}/gateway"
    return [f"{g}/device/+/cmd/+/{client}", f"{g}/cmd/+/{client}"]


def render_acl(store_id: str, clients: Iterable[ClientCred]) -> str:
    """The ``acl_file`` text; anything not listed is denied by Mosquitto."""
    check_name(store_id)
    out = [f"# storegw ACL for store {store_id}; generated, edits are lost.", ""]
    for cred in sorted(clients, key=lambda c: c.name):
        out.append(f"user {cred.name}")
        if cred.role == GATEWAY_ROLE:
            out.append(f"topic readwrite store/{store_id}/#")
        else:
            out += [f"topic read {t}" for t in client_read_topics(store_id, cred.name)]
            out += [f"topic write {t}" for t in client_write_topics(store_id, cred.name)]
        out.append("")
    return "\n".join(out)


@dataclass(frozen=True)
class BrokerTls:
    """Certificate files for the WebSockets listener (wss://) and the optional mqtts listener."""

    certfile: str
    keyfile: str
    cafile: str = ""
    mqtts_port: int = 8883

    def lines(self) -> list[str]:
        """The listener options naming these files."""
        out = [f"certfile {self.certfile}", f"keyfile {self.keyfile}"]
        if self.cafile:
            out.append(f"cafile {self.cafile}")
        return out


def render_config(
    *,
    password_file: str | Path,
    acl_file: str | Path,
    data_dir: str | Path,
    port: int = 1883,
    bind: str = "127.0.0.1",
    ws_port: int | None = 9001,
    ws_bind: str = "",
    tls: BrokerTls | None = None,
    persistence: bool = True,
    log_dest: str = "syslog",
    user: str = "mosquitto",
) -> str:
    """``mosquitto.conf`` from the shipped template.

    ``port``/``bind``: the plain listener for the gateway (loopback by default);
    ``ws_port``/``ws_bind``: the WebSockets listener for browsers (``None`` disables it; with
    ``tls`` it speaks wss://); ``tls`` also adds an MQTT-over-TLS listener on ``tls.mqtts_port``;
    ``user``: the account Mosquitto switches to when started as root.
    """
    ws = ""
    if ws_port is not None:
        ws_lines = [f"listener {ws_port} {ws_bind}".rstrip(), "protocol websockets", "use_username_as_clientid true"]
        ws_lines += tls.lines() if tls else []
        ws = "\n".join(ws_lines) + "\n"
    tls_listener = ""
    if tls is not None:
        tls_listener = "\n".join([f"listener {tls.mqtts_port}", "protocol mqtt", "use_username_as_clientid true", *tls.lines()]) + "\n"
    template = Template(resources.files("gateway.mqtt").joinpath("mosquitto.conf.template").read_text("utf-8"))
    return template.substitute(
        password_file=password_file,
        acl_file=acl_file,
        data_dir=str(data_dir).rstrip("/"),
        port=port,
        bind=bind,
        ws_listener=ws,
        tls_listener=tls_listener,
        persistence="true" if persistence else "false",
        log_dest=log_dest,
        user=user,
    )


def _write_private(path: Path, text: str, group: str | None) -> None:
    """Write ``text`` atomically, readable by the owner (and ``group``) only: it holds hashes."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    if group is not None:
        shutil.chown(tmp, group=group)
        os.chmod(tmp, 0o640)
    os.replace(tmp, path)


def write_broker_files(
    directory: str | Path,
    store_id: str,
    clients: list[ClientCred],
    *,
    group: str | None = None,
    port: int = 1883,
    bind: str = "127.0.0.1",
    ws_port: int | None = 9001,
    ws_bind: str = "",
    tls: BrokerTls | None = None,
    persistence: bool = True,
    log_dest: str = "syslog",
    user: str = "mosquitto",
) -> dict[str, Path]:
    """Write ``passwd``, ``acl`` and ``mosquitto.conf`` (and create ``data/``) in ``directory``.

    ``clients`` includes the gateway's own account (role ``"gateway"``). ``group``: the
    broker's group (e.g. ``mosquitto``) that must read the files and write ``data/``; the
    listener options are those of :func:`render_config`. Returns the paths by name
    (``passwd``, ``acl``, ``conf``, ``data``). A running broker re-reads passwd and ACL on
    SIGHUP; listener changes need a restart.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"passwd": d / "passwd", "acl": d / "acl", "conf": d / "mosquitto.conf", "data": d / "data"}
    paths["data"].mkdir(exist_ok=True)
    if group is not None:
        shutil.chown(paths["data"], group=group)
        os.chmod(paths["data"], 0o770)
    _write_private(paths["passwd"], render_passwd(clients), group)
    _write_private(paths["acl"], render_acl(store_id, clients), group)
    conf = render_config(
        password_file=paths["passwd"],
        acl_file=paths["acl"],
        data_dir=paths["data"],
        port=port,
        bind=bind,
        ws_port=ws_port,
        ws_bind=ws_bind,
        tls=tls,
        persistence=persistence,
        log_dest=log_dest,
        user=user,
    )
    _write_private(paths["conf"], conf, group)
    return paths
