"""The link over TLS: the server's certificate is verified against the configured CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import nats
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.hq.provision import ProvisionSpec, provision
from tests.gateway.mirror.conftest import Store, wait_until
from tests.gateway.mirror.harness import NatsServer


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(d: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("test ca")).issuer_name(_name("test ca"))
        .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name("hq")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(2).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (d / "ca.pem", d / "server.pem", d / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


async def provision_hq_tls(port: int, ca: Path) -> None:
    """Provision through a TLS client."""
    nc = await nats.connect(f"tls://127.0.0.1:{port}", tls=ssl.create_default_context(cafile=str(ca)), allow_reconnect=False)
    try:
        await provision(nc.jetstream(), ProvisionSpec(replicas=1, duplicate_window_s=600))
    finally:
        await nc.close()


async def test_link_over_tls_with_ca(tmp_path: Path) -> None:
    ca, cert, key = make_pki(tmp_path)
    server = NatsServer(tmp_path / "nats", extra_conf=f'tls {{ cert_file: "{cert}", key_file: "{key}" }}\n')
    server.start()
    store = Store(tmp_path / "l.db", f"tls://127.0.0.1:{server.port}", ca_file=str(ca))
    (tmp_path / "other").mkdir()
    wrong_ca, _, _ = make_pki(tmp_path / "other")
    untrusting = Store(tmp_path / "l2.db", f"tls://127.0.0.1:{server.port}", ca_file=str(wrong_ca))
    try:
        await server.wait_ready_tcp()
        await provision_hq_tls(server.port, ca)
        await store.sell(10)
        await untrusting.sell(10)
        await store.link.start()
        await untrusting.link.start()
        relay = store.link.relay
        assert relay is not None
        await wait_until(lambda: relay.acked == 10, 10)
        # A store that does not trust the server's certificate never sends anything.
        assert untrusting.link.link != "connected" and untrusting.link.status()["backlog"] == 10
    finally:
        await store.close()
        await untrusting.close()
        server.kill()
