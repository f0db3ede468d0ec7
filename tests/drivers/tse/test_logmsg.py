"""Tests of the TR-03151 log message codec: exact structure, round trip and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.tse.logmsg import (
    OID_TRANSACTION_LOG,
    LogMessageError,
    SystemLog,
    TransactionLog,
    decode,
    encode,
    signed_data,
)

LOG = TransactionLog(
    operation_type="FinishTransaction",
    client_id="KASSE-1",
    process_data=b"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar",
    process_type="Kassenbeleg-V1",
    transaction_number=5,
    serial_number=bytes(range(32)),
    signature_algorithm="ecdsa-plain-SHA256",
    signature_counter=12,
    log_time=1_700_000_000,
    signature_value=b"\x07" * 64,
)


def test_transaction_log_layout() -> None:
    der = encode(LOG)
    assert der[0] == 0x30
    # version INTEGER 2, then the transaction-log OID 0.4.0.127.0.7.3.7.1.1
    assert der[3:6] == bytes([0x02, 0x01, 0x02])
    assert der[6:17] == bytes.fromhex("0609 04007f000703070101")
    # [0] IMPLICIT PrintableString operationType
    assert der[17] == 0x80 and der[19 : 19 + 17] == b"FinishTransaction"
    # the signed part is everything between the SEQUENCE header and the signatureValue TLV
    body = der[3:]
    assert body == signed_data(LOG) + bytes([0x04, 64]) + LOG.signature_value
    assert OID_TRANSACTION_LOG == "0.4.0.127.0.7.3.7.1.1"


def test_unix_log_time_is_integer() -> None:
    part = signed_data(LOG)
    # signatureCounter INTEGER 12 then logTime INTEGER 1700000000 close the signed data
    assert part.endswith(bytes([0x02, 0x01, 12, 0x02, 0x04]) + (1_700_000_000).to_bytes(4, "big"))


def test_round_trip_transaction_and_system_logs() -> None:
    assert decode(encode(LOG)) == LOG
    sys_log = SystemLog("registerClient", b"KASSE-1", bytes(32), "ecdsa-plain-SHA256", 3, 1_700_000_001, b"s" * 64)
    assert decode(encode(sys_log)) == sys_log


def test_printable_string_rules_enforced() -> None:
    with pytest.raises(LogMessageError):
        encode(TransactionLog(**{**LOG.__dict__, "client_id": "KASSE_1"}))


def test_unknown_algorithm_rejected() -> None:
    with pytest.raises(LogMessageError):
        encode(TransactionLog(**{**LOG.__dict__, "signature_algorithm": "rsa"}))


@pytest.mark.parametrize("data", [b"", b"\x30\x00", b"\x30\x03\x02\x01\x01", encode(LOG)[:-5], b"\xff" * 10])
def test_malformed_input_raises_typed_error(data: bytes) -> None:
    with pytest.raises(LogMessageError):
        decode(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_decode_only_raises_log_message_error(data: bytes) -> None:
    try:
        decode(data)
    except LogMessageError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=200),
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=1, max_value=2**40),
    st.sampled_from(["StartTransaction", "UpdateTransaction", "FinishTransaction"]),
)
def test_fuzz_round_trip(process_data: bytes, number: int, counter: int, op: str) -> None:
    log = TransactionLog(**{**LOG.__dict__, "process_data": process_data, "transaction_number": number,
                            "signature_counter": counter, "operation_type": op})
    assert decode(encode(log)) == log
    mutated = bytearray(encode(log))
    mutated[len(mutated) // 2] ^= 0xFF
    try:
        decode(bytes(mutated))
    except LogMessageError:
        pass
