"""DLE EOT status codec: query bytes, reply validation, decoding, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.printer.status import (
    HEALTHY_REPLIES,
    PrinterStatus,
    device_state,
    extract_reply,
    is_status_byte,
    status_query,
)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_status_query_bytes(n: int) -> None:
    assert status_query(n) == bytes([0x10, 0x04, n])


@pytest.mark.parametrize("n", [0, 5, 255])
def test_status_query_rejects_other_classes(n: int) -> None:
    with pytest.raises(ValueError):
        status_query(n)


def test_fixed_bits() -> None:
    assert is_status_byte(0x12) and is_status_byte(0x16) and is_status_byte(0x72) and is_status_byte(0x7E)
    # bit 0 set, bit 7 set, bit 1 clear, bit 4 clear: not replies; XON/XOFF are not replies either.
    assert not any(is_status_byte(b) for b in (0x13, 0x92, 0x10, 0x02, 0x11, 0x00, 0xFF))


def test_extract_reply_takes_last_valid_byte() -> None:
    assert extract_reply(b"\xff\x12\x00\x1e") == 0x1E
    assert extract_reply(b"\xff\x00") is None
    assert extract_reply(b"") is None


def test_healthy_printer() -> None:
    s = PrinterStatus.decode(*HEALTHY_REPLIES)
    assert s.ready and s.online and s.problem is None and s.state == "ok"
    assert not (s.paper_out or s.paper_near_end or s.cover_open or s.drawer_pin3_high)


def test_paper_out_triple() -> None:
    # The reply triple of a printer out of paper (fact sheet §1.6): 1A / 32 / 7E.
    s = PrinterStatus.decode(0x1A, 0x32, 0x12, 0x7E)
    assert not s.online and s.paper_out and s.paper_near_end and s.stopped_by_paper_end
    assert not s.ready and s.problem == "paper out" and s.state == "paper-out"


def test_paper_near_end_only() -> None:
    s = PrinterStatus.decode(0x12, 0x12, 0x12, 0x1E)
    assert s.ready and s.paper_near_end and not s.paper_out and s.state == "paper-low"


def test_cover_open_and_drawer_pin() -> None:
    s = PrinterStatus.decode(0x1E, 0x16, 0x12, 0x12)
    assert s.cover_open and s.drawer_pin3_high and not s.online and s.problem == "cover open"


def test_error_bits() -> None:
    s = PrinterStatus.decode(0x12, 0x52, 0x3A, 0x12)
    assert s.error and s.autocutter_error and s.unrecoverable_error and not s.ready
    assert s.problem == "unrecoverable error"
    assert PrinterStatus.decode(0x12, 0x12, 0x1A, 0x12).problem == "autocutter error"


def test_decode_rejects_non_replies() -> None:
    with pytest.raises(ValueError, match="DLE EOT 3"):
        PrinterStatus.decode(0x12, 0x12, 0xFF, 0x12)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_fuzz_extract_reply(data: bytes) -> None:
    value = extract_reply(data)
    assert value is None or (is_status_byte(value) and value in data)


@settings(max_examples=300)
@given(st.tuples(*(st.integers(0, 255) for _ in range(4))))
def test_fuzz_decode(values: tuple[int, int, int, int]) -> None:
    if all(is_status_byte(v) for v in values):
        s = PrinterStatus.decode(*values)
        assert s.raw == values
        assert s.ready == (s.problem is None)
    else:
        with pytest.raises(ValueError):
            PrinterStatus.decode(*values)


def test_device_state() -> None:
    assert device_state(PrinterStatus.decode(*HEALTHY_REPLIES)) == ("online", "")
    assert device_state(PrinterStatus.decode(0x12, 0x12, 0x12, 0x1E)) == ("online", "paper near end")
    assert device_state(PrinterStatus.decode(0x1A, 0x32, 0x12, 0x7E)) == ("error", "paper out")
    assert device_state(None, "offline: Connection refused") == ("offline", "offline: Connection refused")
    assert device_state(None) == ("offline", "no status")
