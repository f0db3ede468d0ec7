"""Signature checks for TSE log messages, as an auditor's receipt/QR checker performs them.

A finished transaction can be verified without the TAR: rebuild the Finish log message from
the receipt values (fact sheet §1.7 "Verifying a receipt without the TAR", [S3][S8][S9]) and
check the plain ECDSA signature with the public key. Supports ``ecdsa-plain-SHA256/384/512``
with the public key given as the raw uncompressed point (fiskaly, software TSE) or as DER
SubjectPublicKeyInfo (fact sheet §1.6: accept both).
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .api import TseTransaction
from .errors import TseError
from .logmsg import SystemLog, TransactionLog, signed_data

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "ecdsa-plain-SHA256": hashes.SHA256,
    "ecdsa-plain-SHA384": hashes.SHA384,
    "ecdsa-plain-SHA512": hashes.SHA512,
}
_CURVES: dict[int, ec.EllipticCurve] = {65: ec.SECP256R1(), 97: ec.SECP384R1(), 133: ec.SECP521R1()}


class SignatureInvalid(TseError, ValueError):
    """The signature does not match the logged data and public key."""


def load_public_key(public_key: bytes) -> ec.EllipticCurvePublicKey:
    """An EC public key from a raw uncompressed point or a DER SubjectPublicKeyInfo."""
    if public_key[:1] == b"\x04" and len(public_key) in _CURVES:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[len(public_key)], public_key)
    key = serialization.load_der_public_key(public_key)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureInvalid("public key is not an EC key")
    return key


def raw_point(public_key: bytes) -> bytes:
    """The uncompressed point of a key given in either encoding (its SHA-256 is the TSE serial)."""
    return load_public_key(public_key).public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def verify_plain(public_key: bytes, algorithm: str, data: bytes, signature: bytes) -> None:
    """Check a plain r||s signature over ``data``; raises :class:`SignatureInvalid`."""
    try:
        hash_cls = _HASHES[algorithm]
    except KeyError:
        raise SignatureInvalid(f"unsupported algorithm {algorithm!r}") from None
    half = len(signature) // 2
    if half == 0 or len(signature) % 2:
        raise SignatureInvalid(f"plain signature has odd length {len(signature)}")
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    try:
        load_public_key(public_key).verify(encode_dss_signature(r, s), data, ec.ECDSA(hash_cls()))
    except (InvalidSignature, ValueError) as err:
        raise SignatureInvalid("signature does not verify") from err


def verify_log(log: TransactionLog | SystemLog, public_key: bytes) -> None:
    """Verify a decoded log message (e.g. from a TAR export) with ``public_key``."""
    verify_plain(public_key, log.signature_algorithm, signed_data(log), log.signature_value)


def verify_transaction(tx: TseTransaction) -> None:
    """Verify a finished transaction from its receipt/QR values alone (rebuilds the Finish log)."""
    if tx.log_time_format != "unixTime":
        raise SignatureInvalid(f"rebuilding logs in {tx.log_time_format} is not supported")
    public_key = base64.b64decode(tx.public_key)
    ops = {"Start": "StartTransaction", "Update": "UpdateTransaction", "Finish": "FinishTransaction"}
    log = TransactionLog(
        operation_type=ops[tx.operation],
        client_id=tx.client_id,
        process_data=tx.process_data.encode("utf-8"),
        process_type=tx.process_type,
        transaction_number=tx.number,
        serial_number=bytes.fromhex(tx.serial_number),
        signature_algorithm=tx.signature_algorithm,
        signature_counter=tx.signature_counter,
        log_time=int(tx.log_time.timestamp()),
        signature_value=base64.b64decode(tx.signature),
    )
    verify_log(log, raw_point(public_key))
