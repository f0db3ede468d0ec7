"""ASN.1 codec of TSE log messages (BSI TR-03151 transaction and system logs), pure bytes in/out.

Structure per fact sheet §1.7 (sources [S8] BSI TSE simulator ``TransactionLogMessage``,
[S9] konfidas/TTC ``LogMessageImplementation``): a DER SEQUENCE of version, certifiedDataType,
the certifiedData fields (context tags [0]..[6]), serialNumber, signatureAlgorithm,
signatureCounter, logTime and signatureValue. The signed data is the concatenation of the DER
encodings of every element before signatureValue (no outer SEQUENCE header).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import core

from .errors import TseError

VERSION = 2
OID_TRANSACTION_LOG = "0.4.0.127.0.7.3.7.1.1"
OID_SYSTEM_LOG = "0.4.0.127.0.7.3.7.1.2"
#: bsi-de algorithm OIDs (fact sheet §1.6, [S8][S9]).
SIGNATURE_ALGORITHM_OIDS = {
    "ecdsa-plain-SHA256": "0.4.0.127.0.7.1.1.4.1.3",
    "ecdsa-plain-SHA384": "0.4.0.127.0.7.1.1.4.1.4",
    "ecdsa-plain-SHA512": "0.4.0.127.0.7.1.1.4.1.5",
}


class LogMessageError(TseError, ValueError):
    """Bytes that are not a well-formed TR-03151 log message."""


class _AlgorithmIdentifier(core.Sequence):
    _fields = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _LogTime(core.Choice):
    _alternatives = [
        ("utc_time", core.UTCTime),
        ("generalized_time", core.GeneralizedTime),
        ("unix_time", core.Integer),
    ]


class _TransactionLog(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("certified_data_type", core.ObjectIdentifier),
        ("operation_type", core.PrintableString, {"implicit": 0}),
        ("client_id", core.PrintableString, {"implicit": 1}),
        ("process_data", core.OctetString, {"implicit": 2}),
        ("process_type", core.PrintableString, {"implicit": 3}),
        ("additional_external_data", core.OctetString, {"implicit": 4, "optional": True}),
        ("transaction_number", core.Integer, {"implicit": 5}),
        ("additional_internal_data", core.OctetString, {"implicit": 6, "optional": True}),
        ("serial_number", core.OctetString),
        ("signature_algorithm", _AlgorithmIdentifier),
        ("signature_counter", core.Integer),
        ("log_time", _LogTime),
        ("signature_value", core.OctetString),
    ]


class _SystemLog(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("certified_data_type", core.ObjectIdentifier),
        ("operation_type", core.PrintableString, {"implicit": 0}),
        ("system_operation_data", core.OctetString, {"implicit": 1, "optional": True}),
        ("additional_internal_data", core.OctetString, {"implicit": 2, "optional": True}),
        ("serial_number", core.OctetString),
        ("signature_algorithm", _AlgorithmIdentifier),
        ("signature_counter", core.Integer),
        ("log_time", _LogTime),
        ("signature_value", core.OctetString),
    ]


@dataclass(frozen=True)
class TransactionLog:
    """The decoded content of a transaction log message (everything but the signature is signed)."""

    operation_type: str
    client_id: str
    process_data: bytes
    process_type: str
    transaction_number: int
    serial_number: bytes
    signature_algorithm: str
    signature_counter: int
    log_time: int
    signature_value: bytes = b""


@dataclass(frozen=True)
class SystemLog:
    """The decoded content of a system log message (e.g. initialize, registerClient, selfTest)."""

    operation_type: str
    system_operation_data: bytes
    serial_number: bytes
    signature_algorithm: str
    signature_counter: int
    log_time: int
    signature_value: bytes = b""


def _algorithm(name: str) -> _AlgorithmIdentifier:
    try:
        return _AlgorithmIdentifier({"algorithm": SIGNATURE_ALGORITHM_OIDS[name]})
    except KeyError:
        raise LogMessageError(f"unsupported signature algorithm {name!r}") from None


def _algorithm_name(oid: str) -> str:
    for name, known in SIGNATURE_ALGORITHM_OIDS.items():
        if known == oid:
            return name
    raise LogMessageError(f"unknown signature algorithm OID {oid}")


def _printable(text: str, what: str) -> str:
    # PrintableString forbids e.g. '_' and '^'; TR-03151 types clientId/processType this way.
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
    bad = sorted(set(text) - allowed)
    if bad:
        raise LogMessageError(f"{what} {text!r} has characters not allowed in PrintableString: {bad}")
    return text


def _signed_part(msg: core.Sequence) -> bytes:
    names = [spec[0] for spec in msg._fields]
    out = []
    for name in names[:-1]:
        value = msg[name]
        if isinstance(value, core.Void):
            continue
        out.append(value.dump())
    return b"".join(out)


def _build_transaction(log: TransactionLog) -> _TransactionLog:
    fields: dict[str, Any] = {
        "version": VERSION,
        "certified_data_type": OID_TRANSACTION_LOG,
        "operation_type": _printable(log.operation_type, "operationType"),
        "client_id": _printable(log.client_id, "clientId"),
        "process_data": log.process_data,
        "process_type": _printable(log.process_type, "processType"),
        "transaction_number": log.transaction_number,
        "serial_number": log.serial_number,
        "signature_algorithm": _algorithm(log.signature_algorithm),
        "signature_counter": log.signature_counter,
        "log_time": _LogTime(name="unix_time", value=log.log_time),
        "signature_value": log.signature_value,
    }
    return _TransactionLog(fields)


def _build_system(log: SystemLog) -> _SystemLog:
    fields: dict[str, Any] = {
        "version": VERSION,
        "certified_data_type": OID_SYSTEM_LOG,
        "operation_type": _printable(log.operation_type, "operationType"),
        "serial_number": log.serial_number,
        "signature_algorithm": _algorithm(log.signature_algorithm),
        "signature_counter": log.signature_counter,
        "log_time": _LogTime(name="unix_time", value=log.log_time),
        "signature_value": log.signature_value,
    }
    if log.system_operation_data:
        fields["system_operation_data"] = log.system_operation_data
    return _SystemLog(fields)


def signed_data(log: TransactionLog | SystemLog) -> bytes:
    """The exact bytes the TSE signs for ``log`` (fields 1-8 DER-encoded and concatenated)."""
    msg = _build_transaction(log) if isinstance(log, TransactionLog) else _build_system(log)
    return _signed_part(msg)


def encode(log: TransactionLog | SystemLog) -> bytes:
    """The DER log message, as stored in the TSE and exported in the TAR."""
    msg = _build_transaction(log) if isinstance(log, TransactionLog) else _build_system(log)
    return bytes(msg.dump())


def _unix_time(choice: _LogTime) -> int:
    if choice.name == "unix_time":
        return int(choice.native)
    native = choice.native
    if not isinstance(native, datetime):
        raise LogMessageError("logTime is not a time")
    return int(native.astimezone(UTC).timestamp())


def decode(data: bytes) -> TransactionLog | SystemLog:
    """Parse a DER log message; raises :class:`LogMessageError` on anything malformed."""
    try:
        header = core.Sequence.load(data, strict=True)
        oid_value = core.ObjectIdentifier.load(header[1].dump()).dotted
        if oid_value == OID_TRANSACTION_LOG:
            msg: core.Sequence = _TransactionLog.load(data, strict=True)
            return TransactionLog(
                operation_type=str(msg["operation_type"].native),
                client_id=str(msg["client_id"].native),
                process_data=bytes(msg["process_data"].native),
                process_type=str(msg["process_type"].native),
                transaction_number=int(msg["transaction_number"].native),
                serial_number=bytes(msg["serial_number"].native),
                signature_algorithm=_algorithm_name(msg["signature_algorithm"]["algorithm"].dotted),
                signature_counter=int(msg["signature_counter"].native),
                log_time=_unix_time(msg["log_time"]),
                signature_value=bytes(msg["signature_value"].native),
            )
        if oid_value == OID_SYSTEM_LOG:
            msg = _SystemLog.load(data, strict=True)
            op_data = msg["system_operation_data"]
            return SystemLog(
                operation_type=str(msg["operation_type"].native),
                system_operation_data=b"" if isinstance(op_data, core.Void) else bytes(op_data.native),
                serial_number=bytes(msg["serial_number"].native),
                signature_algorithm=_algorithm_name(msg["signature_algorithm"]["algorithm"].dotted),
                signature_counter=int(msg["signature_counter"].native),
                log_time=_unix_time(msg["log_time"]),
                signature_value=bytes(msg["signature_value"].native),
            )
    except LogMessageError:
        raise
    except Exception as err:  # asn1crypto raises many types on bad input
        raise LogMessageError(f"malformed log message: {err}") from err
    raise LogMessageError(f"unsupported certifiedDataType {oid_value}")

