"""Property-based fuzzing of the ZVT decoders: whatever the bytes, only ``ZvtDecodeError`` escapes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.zvt.apdu import ApduReassembler, decode_apdu, encode_apdu
from drivers.zvt.cli import decode_to_json
from drivers.zvt.errors import ZvtDecodeError
from drivers.zvt.fields import BMP_TABLE, decode_bmps
from drivers.zvt.framing import Deframer, frame, unframe
from drivers.zvt.layout import decode_message
from drivers.zvt.messages import parse_pt_message
from drivers.zvt.tlv import decode_tlv, encode_tlv

FUZZ = settings(max_examples=300, deadline=None)
CONTROLS = st.sampled_from(
    [(6, 0), (6, 1), (6, 0x0F), (6, 0x1E), (6, 0xD1), (6, 0xD3), (4, 0x0F), (4, 0xFF), (5, 1), (6, 0x30), (0x84, 0x9C), (6, 0xC0)]
)
# Bytes biased towards the interesting values: BMP numbers, F-nibble lengths, TLV length bytes.
INTERESTING = st.lists(
    st.one_of(st.integers(0, 255), st.sampled_from([*BMP_TABLE, 0xF0, 0xF1, 0xF9, 0x81, 0x82, 0x1F, 0x10])),
    max_size=120,
).map(bytes)


@FUZZ
@given(st.binary(max_size=300))
def test_decode_apdu_only_typed_errors(raw: bytes) -> None:
    try:
        apdu = decode_apdu(raw)
    except ZvtDecodeError:
        return
    assert apdu.encode() == raw or raw[2] == 0xFF  # non-minimal extended lengths are accepted


@FUZZ
@given(CONTROLS, INTERESTING)
def test_message_decoders_only_typed_errors(control: tuple[int, int], data: bytes) -> None:
    apdu = decode_apdu(encode_apdu(control[0], control[1], data))
    for decoder in (decode_message, parse_pt_message):
        try:
            decoder(apdu)
        except ZvtDecodeError:
            pass


@FUZZ
@given(INTERESTING)
def test_bmp_decoder_only_typed_errors(data: bytes) -> None:
    try:
        decode_bmps(data)
    except ZvtDecodeError:
        pass


@FUZZ
@given(INTERESTING)
def test_tlv_decoder_only_typed_errors_and_roundtrips(data: bytes) -> None:
    try:
        objects = decode_tlv(data)
    except ZvtDecodeError:
        return
    assert decode_tlv(encode_tlv(objects)) == decode_tlv(encode_tlv(decode_tlv(encode_tlv(objects))))


@FUZZ
@given(st.text(max_size=80))
def test_cli_decode_only_typed_errors(text: str) -> None:
    try:
        decode_to_json(text)
    except ZvtDecodeError:
        pass


@FUZZ
@given(st.binary(max_size=200))
def test_frame_roundtrip(apdu: bytes) -> None:
    assert unframe(frame(apdu)) == apdu


@FUZZ
@given(st.binary(max_size=200))
def test_unframe_and_deframer_only_typed_errors(raw: bytes) -> None:
    try:
        unframe(raw)
    except ZvtDecodeError:
        pass
    deframer = Deframer()
    for byte in raw:
        deframer.feed(byte)


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=5), st.integers(1, 7))
def test_reassembler_any_chunking(datas: list[bytes], step: int) -> None:
    stream = b"".join(encode_apdu(6, 0xD3, d) for d in datas)
    splitter = ApduReassembler()
    got = []
    for i in range(0, len(stream), step):
        got += splitter.feed(stream[i : i + step])
    assert [a.data for a in got] == datas
