"""Dialog 06 public records: exact bytes of requests, parsing of replies, vendor gate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scale import ScaleError, ScaleProtocolError, ScaleUnsupported
from drivers.scale.dialog06 import (
    STATUS_REQUEST,
    WEIGHT_REQUEST,
    Record02,
    Record09,
    Record11,
    decode_reply,
    encode_unit_price,
    require_authenticator,
)


def test_request_bytes() -> None:
    assert encode_unit_price(1299) == b"\x04\x0201\x1b001299\x1b\x03"
    assert encode_unit_price(1299, tare_g=15) == b"\x04\x0203\x1b001299\x1b0015\x03"
    assert encode_unit_price(1299, text="Gouda") == b"\x04\x0204\x1b001299\x1bGouda        \x03"
    assert encode_unit_price(1299, 15, "Emmentaler gerieben") == b"\x04\x0205\x1b001299\x1b0015\x1bEmmentaler ge\x03"
    assert WEIGHT_REQUEST == b"\x04\x05"
    assert STATUS_REQUEST == b"\x04\x0208\x03"
    with pytest.raises(ValueError):
        encode_unit_price(1_000_000)
    with pytest.raises(ValueError):
        encode_unit_price(100, tare_g=10_000)


def test_replies() -> None:
    assert decode_reply(b"\x06") is True
    assert decode_reply(b"\x15") is False
    assert decode_reply(b"\x0202\x1b3\x1b01234\x1b001299\x1b001603\x03") == Record02(1234, 1299, 1603)
    rec09 = decode_reply(b"\x0209\x1b20\x03")
    assert rec09 == Record09(20) and isinstance(rec09, Record09) and rec09.text == "scale still in motion"
    assert decode_reply(b"\x0211\x1b2A7\x03") == Record11(2, 0xA7)


@pytest.mark.parametrize(
    "frame", [b"", b"\x02\x03", b"0202", b"\x0202\x1b3\x1b12\x03", b"\x0209\x1bxx\x03", b"\x0277\x1b1\x03", b"\x0202x\x03"]
)
def test_garbage(frame: bytes) -> None:
    with pytest.raises(ScaleProtocolError):
        decode_reply(frame)


def test_no_vendor_module() -> None:
    with pytest.raises(ScaleUnsupported) as ei:
        require_authenticator(None)
    assert isinstance(ei.value, NotImplementedError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz(frame: bytes) -> None:
    try:
        decode_reply(b"\x02" + frame + b"\x03")
    except ScaleError:
        pass
