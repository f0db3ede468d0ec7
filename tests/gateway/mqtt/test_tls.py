"""mqtts:// end to end: the template's TLS listener and the link's TLS path with a private CA."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.bus import Bus
from gateway.mqtt.broker import BrokerTls, ClientCred
from gateway.mqtt.commands import CommandRegistry
from gateway.mqtt.component import MqttComponent
from gateway.mqtt.config import MqttConfig
from gateway.mqtt.idempotency import MemoryIdempotencyStore
from gateway.mqtt.localbroker import LocalBroker
from tests.gateway.mqtt.conftest import PASSWORDS, ROLES, STORE


def _pki(d: Path) -> BrokerTls:
    """A CA and a server certificate for 127.0.0.1, written as PEM files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "storegw test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    d.mkdir(parents=True, exist_ok=True)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return BrokerTls(str(d / "cert.pem"), str(d / "key.pem"))


def test_gateway_over_mqtts(tmp_path: Path) -> None:
    tls = _pki(tmp_path / "pki")
    creds = [ClientCred.create(n, ROLES[n], pw) for n, pw in PASSWORDS.items()]
    secret = tmp_path / "gw.secret"
    secret.write_text(PASSWORDS["gateway"])
    with LocalBroker(tmp_path / "broker", STORE, creds, tls=tls) as broker:
        assert broker.tls is not None
        cfg = MqttConfig(
            url=f"mqtts://127.0.0.1:{broker.tls.mqtts_port}",
            username="gateway",
            password_file=str(secret),
            tls_ca=str(tmp_path / "pki" / "ca.pem"),
        )

        async def run() -> dict[str, object]:
            comp = MqttComponent(cfg, Bus(), STORE, CommandRegistry(), MemoryIdempotencyStore(), client_roles=ROLES.get)
            await comp.start()
            try:
                assert comp.link is not None
                async with asyncio.timeout(5):
                    await comp.link.wait_connected()
                ok = await comp.link.publish_acked(f"store/{STORE}/gateway/catalog/version", b'{"v":1}', retain=True)
                assert ok
                return comp.status()
            finally:
                await comp.stop()

        st = asyncio.run(run())
        assert st["state"] == "ok" and st["connects"] == 1


def test_untrusted_broker_certificate_is_refused(tmp_path: Path) -> None:
    tls = _pki(tmp_path / "pki")
    _pki(tmp_path / "other")  # a CA that did not sign the broker's certificate
    creds = [ClientCred.create(n, ROLES[n], pw) for n, pw in PASSWORDS.items()]
    with LocalBroker(tmp_path / "broker", STORE, creds, tls=tls) as broker:
        assert broker.tls is not None
        cfg = MqttConfig(
            url=f"mqtts://127.0.0.1:{broker.tls.mqtts_port}",
            username="gateway",
            tls_ca=str(tmp_path / "other" / "ca.pem"),
        )

        async def run() -> dict[str, object]:
            comp = MqttComponent(cfg, Bus(), STORE, CommandRegistry(), MemoryIdempotencyStore(), client_roles=ROLES.get)
            await comp.start()
            await asyncio.sleep(0.5)
            try:
                return comp.status()
            finally:
                await comp.stop()

        st = asyncio.run(run())
        assert st["state"] == "degraded" and st["connects"] == 0
        assert "certificate" in str(st["last_error"]).lower()
