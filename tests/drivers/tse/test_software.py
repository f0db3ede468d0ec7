"""Tests of the software TSE: signatures, persistence across restarts, failures, TAR export."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import tarfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from drivers.tse import TseConflict, TseNotFound, TseStateError, TseTimeout, TseUnavailable
from drivers.tse.logmsg import TransactionLog, decode, signed_data
from drivers.tse.software import NOT_CERTIFIED, SoftwareTse
from drivers.tse.verify import SignatureInvalid, verify_transaction

CLIENT = "KASSE-1"
PD = "Beleg^11.90_2.14_0.00_0.00_0.00^10.00:Bar_4.04:Unbar"


class Clock:
    """A settable clock so log times are exact."""

    def __init__(self, now: float = 1_733_320_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def tse(tmp_path: Path) -> SoftwareTse:
    t = SoftwareTse(tmp_path / "tse", clock=Clock())
    await t.register_client(CLIENT)
    return t


def _verify_with_cryptography(public_key_b64: str, data: bytes, signature: bytes) -> None:
    point = base64.b64decode(public_key_b64)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))


async def test_sale_signature_verifies_over_logged_data(tse: SoftwareTse, tmp_path: Path) -> None:
    async with asyncio.timeout(10):
        start = await tse.start_transaction(CLIENT)
        fin = await tse.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
    assert start.number == fin.number == 1
    assert start.process_type == "" and start.process_data == ""
    assert fin.signature_counter == start.signature_counter + 1
    assert fin.end_time == fin.log_time and fin.start_time == start.log_time
    assert fin.signature_algorithm == "ecdsa-plain-SHA256" and fin.log_time_format == "unixTime"
    assert len(base64.b64decode(fin.signature)) == 64 and not fin.certified
    # the log file on disk is the signed message; verify it with cryptography directly
    logs = sorted((tmp_path / "tse" / "logs").glob("*_Finish_Client-KASSE-1.log"))
    assert len(logs) == 1
    log = decode(logs[0].read_bytes())
    assert isinstance(log, TransactionLog)
    assert log.process_data == PD.encode() and log.transaction_number == 1
    assert base64.b64encode(log.signature_value).decode() == fin.signature
    _verify_with_cryptography(fin.public_key, signed_data(log), log.signature_value)
    # the same check from receipt values alone (QR checker path)
    verify_transaction(fin)
    tampered = TransactionLog(**{**log.__dict__, "process_data": PD.replace("11.90", "11.80").encode()})
    with pytest.raises(InvalidSignature):
        _verify_with_cryptography(fin.public_key, signed_data(tampered), log.signature_value)


async def test_tampered_receipt_fails_verification(tse: SoftwareTse) -> None:
    start = await tse.start_transaction(CLIENT)
    fin = await tse.finish_transaction(CLIENT, start.number, "Kassenbeleg-V1", PD)
    from dataclasses import replace

    with pytest.raises(SignatureInvalid):
        verify_transaction(replace(fin, process_data=PD.replace("10.00", "1.00")))
    with pytest.raises(SignatureInvalid):
        verify_transaction(replace(fin, signature_counter=fin.signature_counter + 1))


async def test_serial_is_sha256_of_public_point(tse: SoftwareTse) -> None:
    import hashlib

    info = await tse.info()
    assert info.serial_number == hashlib.sha256(base64.b64decode(info.public_key)).hexdigest()
    assert not info.certified and "NOT CERTIFIED" in info.description
    assert info.registered_clients == (CLIENT,)


async def test_counters_survive_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = SoftwareTse(tmp_path / "s", clock=clock)
    await first.register_client(CLIENT)
    s1 = await first.start_transaction(CLIENT)
    f1 = await first.finish_transaction(CLIENT, s1.number, "Kassenbeleg-V1", PD)
    open_tx = await first.start_transaction(CLIENT)
    key_before = (await first.info()).public_key
    del first

    second = SoftwareTse(tmp_path / "s", clock=clock)
    info = await second.info()
    assert info.public_key == key_before
    assert info.signature_counter == open_tx.signature_counter
    assert info.open_transactions == (open_tx.number,)
    # the transaction opened before the restart can be finished after it
    f2 = await second.finish_transaction(CLIENT, open_tx.number, "Kassenbeleg-V1", PD)
    assert f2.number == 2 and f2.signature_counter == open_tx.signature_counter + 1
    s3 = await second.start_transaction(CLIENT)
    assert s3.number == 3
    assert f1.signature_counter < f2.signature_counter < s3.signature_counter


async def test_state_is_rebuilt_from_logs_only(tmp_path: Path) -> None:
    t = SoftwareTse(tmp_path / "r", clock=Clock())
    await t.register_client(CLIENT)
    s1 = await t.start_transaction(CLIENT)
    await t.finish_transaction(CLIENT, s1.number, "Kassenbeleg-V1", PD)
    s2 = await t.start_transaction(CLIENT)
    again = SoftwareTse(tmp_path / "r", clock=Clock())
    info = await again.info()
    assert info.registered_clients == (CLIENT,) and info.open_transactions == (s2.number,)
    assert info.transaction_counter == 2 and info.signature_counter == s2.signature_counter
    with pytest.raises(TseConflict):
        await again.finish_transaction(CLIENT, s1.number, "Kassenbeleg-V1", PD)
    fin = await again.finish_transaction(CLIENT, s2.number, "Kassenbeleg-V1", PD)
    assert fin.signature_counter == s2.signature_counter + 1 and fin.start_time == s2.start_time


async def test_files_written_atomically(tmp_path: Path) -> None:
    t = SoftwareTse(tmp_path / "a", clock=Clock())
    await t.register_client(CLIENT)
    await t.start_transaction(CLIENT)
    names = set(os.listdir(tmp_path / "a"))
    assert names == {"key.pem", "certificate.der", "logs"}
    assert not [n for n in os.listdir(tmp_path / "a" / "logs") if not n.endswith(".log")]
    assert (tmp_path / "a" / "key.pem").stat().st_mode & 0o077 == 0


async def test_failure_simulation(tse: SoftwareTse) -> None:
    tse.fail_next()
    with pytest.raises(TseUnavailable) as err:
        await tse.start_transaction(CLIENT)
    assert isinstance(err.value, ConnectionError)
    ok = await tse.start_transaction(CLIENT)
    tse.fail_next(error=TseTimeout("slow"))
    with pytest.raises(TimeoutError):
        await tse.finish_transaction(CLIENT, ok.number, "Kassenbeleg-V1", PD)
    tse.set_failing("USB TSE unplugged")
    for _ in range(3):
        with pytest.raises(TseUnavailable, match="unplugged"):
            await tse.finish_transaction(CLIENT, ok.number, "Kassenbeleg-V1", PD)
    tse.set_failing(None)
    fin = await tse.finish_transaction(CLIENT, ok.number, "Kassenbeleg-V1", PD)
    # failed calls signed nothing: the counter moved by exactly one log
    assert fin.signature_counter == ok.signature_counter + 1


async def test_lifecycle_errors(tse: SoftwareTse) -> None:
    with pytest.raises(TseStateError):
        await tse.start_transaction("UNKNOWN")
    with pytest.raises(TseStateError):
        await tse.self_test("UNKNOWN")
    with pytest.raises(TseStateError):
        await tse.register_client("BAD_ID")
    with pytest.raises(TseNotFound):
        await tse.finish_transaction(CLIENT, 99, "Kassenbeleg-V1", PD)
    s = await tse.start_transaction(CLIENT)
    await tse.finish_transaction(CLIENT, s.number, "Kassenbeleg-V1", PD)
    with pytest.raises(TseConflict):
        await tse.finish_transaction(CLIENT, s.number, "Kassenbeleg-V1", PD)
    await tse.register_client(CLIENT)  # idempotent
    await tse.self_test(CLIENT)
    await tse.update_time()


async def test_update_is_signed(tse: SoftwareTse) -> None:
    s = await tse.start_transaction(CLIENT)
    u = await tse.update_transaction(CLIENT, s.number, "Kassenbeleg-V1", "Beleg^1.00_0.00_0.00_0.00_0.00^")
    assert u.operation == "Update" and u.end_time is None
    verify_transaction(u)


async def test_tar_export_contains_logs_certificate_and_marker(tse: SoftwareTse) -> None:
    s = await tse.start_transaction(CLIENT)
    fin = await tse.finish_transaction(CLIENT, s.number, "Kassenbeleg-V1", PD)
    data = await tse.export_tar()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        files = {n: tar.extractfile(n).read() for n in names}  # type: ignore[union-attr]
    info = await tse.info()
    cert_name = f"{info.serial_number.upper()}_X509.cer"
    assert cert_name in names
    assert NOT_CERTIFIED.encode() in files["info.csv"]
    assert NOT_CERTIFIED.encode() in files["NOT-CERTIFIED.txt"]
    cert = x509.load_der_x509_certificate(files[cert_name])
    point = cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert base64.b64encode(point).decode() == fin.public_key
    logs = [n for n in names if n.endswith(".log")]
    assert any("_Log-Sys_initialize" in n for n in logs)
    assert any("_Log-Sys_registerClient" in n for n in logs)
    assert any(n.endswith("_Log-Tra_No-1_Finish_Client-KASSE-1.log") for n in logs)
    # every exported log verifies with the certificate's key
    for name in logs:
        log = decode(files[name])
        _verify_with_cryptography(fin.public_key, signed_data(log), log.signature_value)
