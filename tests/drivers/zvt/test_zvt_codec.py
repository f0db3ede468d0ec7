"""Byte-exact tests of the ZVT codecs and command builders in both directions.

Expected bytes are written by hand from PA00P015/PA00P016 as quoted in the fact sheet
``reference/zvt.md`` (section numbers cited per test).
"""

from __future__ import annotations

import pytest

from drivers.zvt import commands as c
from drivers.zvt.apdu import Apdu, ApduReassembler, decode_apdu, encode_apdu, split_apdus
from drivers.zvt.errors import ZvtDecodeError, ZvtEncodeError
from drivers.zvt.fields import decode_bmps, decode_var_length, encode_bmp, encode_var_length
from drivers.zvt.layout import decode_message
from drivers.zvt.messages import (
    Completion,
    IntermediateStatus,
    PrintLine,
    PrintTextBlock,
    PtAbort,
    StatusInformation,
    build_completion,
    build_intermediate_status,
    build_print_line,
    build_print_text_block,
    build_pt_abort,
    build_status_completion,
    parse_pt_message,
)
from drivers.zvt.tables import intermediate_text, result_text
from drivers.zvt.tlv import cons, decode_length, decode_tlv, encode_length, encode_tlv, prim


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ---- APDU (fact sheet section 2) ---------------------------------------------------------------


def test_short_length_apdu() -> None:
    assert encode_apdu(0x06, 0x50, h("123456")) == h("06 50 03 12 34 56")
    assert decode_apdu(h("06 50 03 12 34 56")) == Apdu(0x06, 0x50, h("123456"))


def test_extended_length_is_little_endian() -> None:
    assert decode_apdu(h("04 0F FF 01 00 27")) == Apdu(0x04, 0x0F, b"\x27")
    data = bytes(654)
    raw = encode_apdu(0x06, 0xD3, data)
    assert raw[:5] == h("06 D3 FF 8E 02")  # 654 = 0x028E, low byte first
    assert decode_apdu(raw).data == data


def test_length_switches_to_extended_at_255() -> None:
    assert encode_apdu(0x06, 0xD3, bytes(254))[2] == 0xFE
    assert encode_apdu(0x06, 0xD3, bytes(255))[2:5] == h("FF FF 00")


@pytest.mark.parametrize("raw", ["06", "06 01", "06 01 03 12", "06 01 FF 02", "06 01 00 00"])
def test_bad_apdus_raise_typed_error(raw: str) -> None:
    with pytest.raises(ZvtDecodeError):
        decode_apdu(h(raw))


def test_reassembler_handles_split_and_merged_reads() -> None:
    stream = h("80 00 00 04 FF 01 0A 06 0F 00")
    splitter = ApduReassembler()
    got = []
    for i in range(len(stream)):
        got += splitter.feed(stream[i : i + 1])
    assert [a.encode() for a in got] == [h("80 00 00"), h("04 FF 01 0A"), h("06 0F 00")]
    assert split_apdus(stream) == got
    with pytest.raises(ZvtDecodeError):
        split_apdus(stream[:-1])


# ---- BCD, LLVAR, BMPs (section 4, 7) ----------------------------------------------------------


@pytest.mark.parametrize(("raw", "length"), [("F0 F3", 3), ("F1 F0", 10)])
def test_llvar_lengths(raw: str, length: int) -> None:
    assert decode_var_length(h(raw), 0, 2) == (length, 2)
    assert encode_var_length(length, 2) == h(raw)


@pytest.mark.parametrize(("raw", "length"), [("F0 F1 F9", 19), ("F1 F8 F9", 189)])
def test_lllvar_lengths(raw: str, length: int) -> None:
    assert decode_var_length(h(raw), 0, 3) == (length, 3)
    assert encode_var_length(length, 3) == h(raw)


def test_llvar_rejects_non_f_high_nibble() -> None:
    with pytest.raises(ZvtDecodeError):
        decode_var_length(h("E0 F3"), 0, 2)


def test_amount_and_currency_bcd() -> None:
    assert encode_bmp(0x04, 1234) == h("04 00 00 00 00 12 34")
    assert encode_bmp(0x49, 978) == h("49 09 78")
    fields = decode_bmps(h("04 00 00 00 00 12 34 49 09 78"))
    assert fields.values == {0x04: 1234, 0x49: 978}


def test_masked_pan() -> None:
    fields = decode_bmps(h("22 F0 F8 EE EE EE EE EE EE 47 71"))
    assert fields.values[0x22] == "************4771"
    assert encode_bmp(0x22, "************4771") == h("22 F0 F8 EE EE EE EE EE EE 47 71")


def test_card_name_is_null_terminated() -> None:
    assert encode_bmp(0x8B, "girocard") == h("8B F0 F9") + b"girocard\x00"
    assert decode_bmps(h("8B F0 F9") + b"girocard\x00").values[0x8B] == "girocard"


def test_unknown_bmp_stops_and_keeps_rest() -> None:
    fields = decode_bmps(h("27 00 5F 01 02 03"))
    assert fields.values == {0x27: 0}
    assert fields.unparsed == h("5F 01 02 03")


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(ZvtEncodeError):
        encode_bmp(0x04, 10**12)
    with pytest.raises(ZvtEncodeError):
        c.authorization(-1)


# ---- TLV (section 8) --------------------------------------------------------------------------


def test_tlv_lengths_all_forms() -> None:
    assert encode_length(0x7F) == h("7F")
    assert encode_length(0x80) == h("81 80")
    assert encode_length(650) == h("82 02 8A")
    assert decode_length(h("82 02 8A"), 0) == (650, 3)
    for bad in ("80", "83 00 00 00", "81"):
        with pytest.raises(ZvtDecodeError):
            decode_length(h(bad), 0)


def test_tlv_multibyte_and_constructed_tags() -> None:
    raw = h("26 04 0A 02 06 D3 1F 07 01 02 1F 80 00 00")
    objs = decode_tlv(raw)
    assert [o.tag_hex for o in objs] == ["26", "1F07", "1F8000"]
    assert objs[0].children is not None and objs[0].children[0].value == h("06 D3")
    assert objs[2].value == b""
    assert encode_tlv(objs) == raw


def test_constructed_tag_with_non_tlv_value_stays_raw() -> None:
    objs = decode_tlv(h("FF 41 02 05 99"))  # Feig-style primitive under a constructed-looking tag
    assert objs[0].children is None and objs[0].value == h("05 99")


def test_tlv_builders() -> None:
    assert encode_tlv([cons(0x25, prim(0x09, b"\x81"))]) == h("25 03 09 01 81")


# ---- ECR -> PT commands (section 5, 13) -------------------------------------------------------


def test_registration_from_spec_example() -> None:
    # Section 13.1: pwd 123456, config BE, EUR, TLV 26 {0A 06D3}.
    apdu = c.registration("123456", 0xBE, 978, permitted_commands=[(0x06, 0xD3)])
    assert apdu.encode() == h("06 00 0E 12 34 56 BE 09 78 06 06 26 04 0A 02 06 D3")
    d = decode_message(apdu)
    assert d.positional == {"password": "123456", "config_byte": 0xBE, "currency_code": 978}


def test_registration_with_service_byte_and_minimal() -> None:
    assert c.registration(123456, 0xBA, 978, service_byte=0x01).encode() == h("06 00 08 12 34 56 BA 09 78 03 01")
    assert c.registration("000000", 0x08, None).encode() == h("06 00 04 00 00 00 08")
    with pytest.raises(ZvtEncodeError):
        c.registration("000000", 0x08, None, service_byte=1)


def test_authorization() -> None:
    assert c.authorization(1234).encode() == h("06 01 0A 04 00 00 00 00 12 34 49 09 78")
    assert c.authorization(1000, None).encode() == h("06 01 07 04 00 00 00 00 10 00")


def test_authorization_with_sync_receipt() -> None:
    apdu = c.authorization(1000, None, tlv=[c.sync_receipt_tlv(42)])
    assert apdu.encode() == h("06 01 0E 04 00 00 00 00 10 00 06 05 1F 1F 02 00 42")
    assert c.sync_receipt_tlv(None).value == b""


def test_pre_auth_book_total_partial_reversal() -> None:
    assert c.pre_authorization(500).encode() == h("06 22 0A 04 00 00 00 00 05 00 49 09 78")
    assert c.book_total(1, 500).encode() == h("06 24 0D 87 00 01 04 00 00 00 00 05 00 49 09 78")
    assert c.partial_reversal(7, 100).encode() == h("06 23 0D 87 00 07 04 00 00 00 00 01 00 49 09 78")


def test_reversal_refund_end_of_day() -> None:
    assert c.reversal("123456", 42).encode() == h("06 30 06 12 34 56 87 00 42")
    assert c.refund("123456", 250).encode() == h("06 31 0D 12 34 56 04 00 00 00 00 02 50 49 09 78")
    assert c.end_of_day("123456").encode() == h("06 50 03 12 34 56")


def test_diagnosis_status_enquiry_repeat_receipt() -> None:
    assert c.diagnosis().encode() == h("06 70 00")
    assert c.diagnosis(0x02).encode() == h("06 70 05 06 03 1B 01 02")
    assert c.status_enquiry("123456").encode() == h("05 01 03 12 34 56")
    assert c.status_enquiry().encode() == h("05 01 00")
    assert c.status_enquiry("123456", 0x02).encode() == h("05 01 05 12 34 56 03 02")
    assert c.repeat_receipt("123456", 0x01).encode() == h("06 20 05 12 34 56 03 01")


def test_abort_logoff_display_acks() -> None:
    assert c.abort().encode() == h("06 B0 00")
    assert c.log_off().encode() == h("06 02 00")
    assert c.display_text(["Hallo"], duration=5, beeps=1).encode() == h("06 E0 0C F0 05 F1 F0 F5") + b"Hallo" + h(
        "F9 01"
    )
    assert c.ack().encode() == h("80 00 00")
    assert c.nack(0xCC).encode() == h("84 CC 00")


def test_ecr_commands_decode_back() -> None:
    d = decode_message(c.reversal("123456", 42))
    assert d.positional == {"password": "123456"} and d.bmp(0x87) == "0042"
    d = decode_message(c.display_text(["A", "B"]))
    assert d.bmp(0xF1) == "A" and d.bmp(0xF2) == "B"


# ---- PT -> ECR messages (section 6, 13) -------------------------------------------------------


def test_intermediate_status() -> None:
    apdu = decode_apdu(h("04 FF 01 0A"))
    msg = parse_pt_message(apdu)
    assert msg == IntermediateStatus(0x0A, "insert card", None, [])
    assert build_intermediate_status(0x0A).encode() == h("04 FF 01 0A")
    assert build_intermediate_status(0x17, 1).encode() == h("04 FF 02 17 01")
    assert intermediate_text(0x4A) == "insert card, please remove card"


def test_intermediate_status_with_display_text() -> None:
    msg = parse_pt_message(decode_apdu(h("04 FF 08 FF 01 06 04 24 02 07 00")))
    assert isinstance(msg, IntermediateStatus) and msg.timeout_minutes == 1 and msg.display_lines == [""]


def test_declined_status_information_from_spec() -> None:
    raw = h("04 0F 25 27 05 29 29 00 02 74 3C F0 F0 F9") + b"Abgelehnt" + h("8A 06 06 0D 24 0B 07 09") + b"Abgelehnt"
    msg = parse_pt_message(decode_apdu(raw))
    assert isinstance(msg, StatusInformation)
    assert (msg.result_code, msg.terminal_id, msg.additional_text, msg.card_type) == (5, "29000274", "Abgelehnt", 6)
    assert msg.raw == raw


def test_approved_status_information() -> None:
    raw = h(
        "04 0F 2C 27 00 04 00 00 00 00 12 34 49 09 78 0B 00 00 07 0C 12 30 45 0D 12 04"
        " 22 F0 F8 EE EE EE EE EE EE 47 71 29 29 00 10 06 87 00 42 8A 05"
    )
    msg = parse_pt_message(decode_apdu(raw))
    assert isinstance(msg, StatusInformation)
    assert msg.amount_cents == 1234 and msg.trace_number == 7 and msg.receipt_number == 42
    assert msg.masked_pan == "************4771" and msg.date == "1204" and msg.time == "123045"


def test_print_line() -> None:
    raw = h("06 D1 06 81") + b"Hallo"
    assert build_print_line(0x81, "Hallo").encode() == raw
    msg = parse_pt_message(decode_apdu(raw))
    assert msg == PrintLine(0x81, "Hallo") and msg.last
    assert not PrintLine(0x80, "").last


def test_print_line_with_trailing_tlv() -> None:
    msg = parse_pt_message(decode_apdu(h("06 D1 09 00") + b"Hi" + h("06 04 1F 07 01 02")))
    assert msg == PrintLine(0x00, "Hi")


def test_print_text_block() -> None:
    raw = h("06 D3 12 06 10 1F 07 01 01 25 0A 07 03") + b"abc" + h("07 00 09 01 81")
    assert build_print_text_block(["abc", ""], 1).encode() == raw
    assert parse_pt_message(decode_apdu(raw)) == PrintTextBlock(1, ["abc", ""], True)


def test_completion_after_registration_from_spec() -> None:
    msg = parse_pt_message(decode_apdu(h("06 0F 0A 19 00 29 29 00 10 06 49 09 78")))
    assert msg == Completion(status_byte=0, terminal_id="29001006", currency_code=978)
    assert build_completion([(0x19, 0), (0x29, "29001006"), (0x49, 978)]).encode() == h(
        "06 0F 0A 19 00 29 29 00 10 06 49 09 78"
    )


def test_status_enquiry_completion_from_spec() -> None:
    raw = h("06 0F 15 F0 F1 F7") + b"ABC[DEF 123456789" + h("00")
    assert build_status_completion("ABC[DEF 123456789", 0).encode() == raw
    msg = parse_pt_message(decode_apdu(raw))
    assert isinstance(msg, Completion) and msg.sw_version == "ABCÄDEF 123456789" and msg.terminal_status == 0


def test_pt_abort() -> None:
    assert build_pt_abort(0x6C).encode() == h("06 1E 01 6C")
    assert parse_pt_message(decode_apdu(h("06 1E 01 05"))) == PtAbort(5, result_text(5))
    assert parse_pt_message(decode_apdu(h("06 1E 04 B8 87 FF FF"))) == PtAbort(0xB8, result_text(0xB8), None)
    assert parse_pt_message(decode_apdu(h("06 1E 00"))).result_code == 0xFF  # type: ignore[union-attr]


def test_acks_decode() -> None:
    assert decode_apdu(h("80 00 00")).is_ack()
    assert decode_apdu(h("84 00 00")).is_ack()
    nack = decode_apdu(h("84 9C 00"))
    assert nack.is_nack() and decode_message(nack).positional == {"result_code": 0x9C}


def test_result_texts() -> None:
    assert result_text(0x6C) == "abort via timeout or abort key"
    assert result_text(0x33).startswith("declined by the authorisation host")
    assert result_text(0x99) == "unknown result code"
