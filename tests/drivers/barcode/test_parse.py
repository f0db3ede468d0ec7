"""Barcode parsing: GTIN family, UPC-E, German in-store codes, deposit vouchers, GS1 strings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.barcode import (
    GERMAN_RULES,
    BarcodeError,
    InvalidBarcode,
    RcnKind,
    RcnRule,
    expand_upce,
    make_gtin,
    parse,
    rules_from_mapping,
    split_aim,
)
from drivers.barcode.checksums import gs1_check_digit, price_check_digit
from drivers.barcode.cli import main


@pytest.mark.parametrize(
    ("payload", "digit"),
    [("400638133393", 1), ("9638507", 4), ("0400638133393", 1), ("06510000432", 7)],
)
def test_gtin_check_digit(payload: str, digit: int) -> None:
    assert gs1_check_digit(payload) == digit


@pytest.mark.parametrize(
    ("value", "digit"),
    # GenSpec 7.9.3 example (4 digits) and the 5-digit vectors of the fact sheet §3.7.
    [("2875", 9), ("06870", 1), ("00239", 4), ("00012", 9), ("01234", 1), ("00060", 6)],
)
def test_price_check_digit(value: str, digit: int) -> None:
    assert price_check_digit(value) == digit


def test_price_check_digit_rejects_other_lengths() -> None:
    with pytest.raises(ValueError):
        price_check_digit("123")


def test_ean13() -> None:
    bc = parse("4006381333931")
    assert (bc.kind, bc.symbology, bc.gtin, bc.gtin14) == ("ean13", "EAN-13", "4006381333931", "04006381333931")
    assert bc.check_digits_valid is True


def test_ean13_bad_check_digit_is_reported_not_raised() -> None:
    bc = parse("4006381333932")
    assert bc.check_digits_valid is False
    assert bc.problems == ("check digit wrong",)


def test_ean8_and_upca() -> None:
    assert parse("96385074").kind == "ean8"
    assert parse("96385074").check_digits_valid is True
    upca = parse("036000291452")
    assert (upca.kind, upca.gtin, upca.check_digits_valid) == ("upca", "0036000291452", True)


@pytest.mark.parametrize(
    ("upce", "upca"),
    [
        ("04252614", "042100005264"),  # last digit 4 (fact sheet §3.6)
        ("01234565", "012345000065"),  # last digit 5..9
        ("06543217", "065100004327"),  # last digit 0..2
        ("01234133", "012300000413"),  # last digit 3
    ],
)
def test_upce_expansion(upce: str, upca: str) -> None:
    assert expand_upce(upce)[:11] == upca[:11]
    assert parse(upce, upce=True).gtin == "0" + upca[:11] + upce[-1]


def test_upce_parse_with_flag_and_aim() -> None:
    bc = parse("04252614", upce=True)
    assert (bc.kind, bc.gtin, bc.check_digits_valid) == ("upce", "0042100005264", True)
    bc2 = parse("]E004252614")
    assert (bc2.kind, bc2.aim_id, bc2.gtin) == ("upce", "]E0", "0042100005264")
    # Without hint: fails as EAN-8, passes as UPC-E -> UPC-E.
    assert parse("04252614").kind == "upce"


def test_in_store_price_weight_count() -> None:
    price = parse("2211114002394")
    assert (price.kind, price.price_cents, price.item_code) == ("in_store_price", 239, "2211110000004")
    weight = parse("2811111068708")
    assert (weight.kind, weight.weight_g, weight.check_digits_valid) == ("in_store_weight", 6870, True)
    count = parse("2511119000129")
    assert (count.kind, count.count) == ("in_store_count", 12)
    assert parse("2811111012343").item_code == "2811110000006"


def test_in_store_inner_check_digit_wrong() -> None:
    # Value 06870 needs inner digit 1; use 2 and recompute the outer digit so only the inner fails.
    code = make_gtin("281111" + "2" + "06870")
    bc = parse(code)
    assert bc.check_digits_valid is False
    assert bc.problems == ("inner price/weight check digit wrong",)


def test_deposit_voucher() -> None:
    bc = parse("2100996000607")
    assert (bc.kind, bc.price_cents, bc.check_digits_valid) == ("deposit_voucher", 60, True)


def test_configurable_rules() -> None:
    rules = rules_from_mapping({"24": {"kind": "price", "value_digits": 4, "inner_check": True}, "21": "internal"})
    code = make_gtin("2412345" + "9" + "2875")
    bc = parse(code, rules=rules)
    assert (bc.kind, bc.price_cents, bc.check_digits_valid) == ("in_store_price", 2875, True)
    assert parse("2100996000607", rules=rules).kind == "in_store"
    nocheck = {**GERMAN_RULES, "23": RcnRule(RcnKind.PRICE, 5, inner_check=False)}
    assert parse(make_gtin("231234500199"), rules=nocheck).price_cents == 199
    with pytest.raises(ValueError):
        rules_from_mapping({"31": "price"})


def test_gs1_128_with_aim_and_gs() -> None:
    bc = parse("]C10104006381333931\x1d1124010117251231310300123410LOT42\x1d21SN7")
    assert bc.kind == "gs1" and bc.symbology == "GS1-128"
    assert bc.gtin == "04006381333931"
    assert bc.ais == {"01": "04006381333931", "11": "240101", "17": "251231", "3103": "001234", "10": "LOT42", "21": "SN7"}
    assert bc.weight_g == 1234
    values = bc.to_json()["ai_values"]
    assert values["17"]["value"] == "2025-12-31"
    assert values["3103"]["value"] == "1.234"


def test_gs1_datamatrix_money_count_and_day_zero() -> None:
    bc = parse("]d2010400638133393115240200\x1d39222990\x1d3712")
    assert bc.symbology == "GS1 DataMatrix"
    assert bc.price_cents == 2990
    assert bc.count == 12
    assert bc.to_json()["ai_values"]["15"]["value"] == "2024-02-29"


def test_gs1_iso_money_and_8008() -> None:
    bc = parse("(01)04006381333931(3932)9781995(8008)2401011230")
    assert bc.price_cents == 1995
    assert bc.ais["8008"] == "2401011230"


def test_gs1_more_ais() -> None:
    bc = parse("]C1020400638133393113240315\x1d3010\x1d00340123450000000017\x1d7007240101240131\x1d8006040063813339310102")
    assert bc.gtin == "04006381333931"  # from AI 02 when there is no AI 01
    assert bc.count == 10
    values = {ai: v["value"] for ai, v in bc.to_json()["ai_values"].items()}
    assert values["13"] == "2024-03-15"
    assert values["7007"] == "2024-01-01/2024-01-31"
    assert bc.check_digits_valid is True  # SSCC 340123450000000017 has a valid check digit
    assert bc.ais["8006"] == "040063813339310102"


def test_gs1_fixed_field_needs_no_separator_and_tolerates_one() -> None:
    assert parse("]C10104006381333931\x1d10X").ais == parse("]C1010400638133393110X").ais


def test_gs1_sscc_bad_check_digit() -> None:
    bc = parse("]C100340123450000000018")
    assert bc.check_digits_valid is False


def test_gs1_leading_fnc1_as_gs() -> None:
    assert parse("\x1d0104006381333931").gtin == "04006381333931"


def test_gs1_bad_gtin_check_digit() -> None:
    bc = parse("]C10104006381333932")
    assert bc.check_digits_valid is False
    assert bc.problems == ("AI 01 check digit wrong",)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty code"),
        ("12345", "5 digits is no EAN/UPC/GTIN length"),
        ("]C12301", "unknown application identifier"),
        ("]C101123", "AI 01 needs 14 characters"),
        ("]C11012345678901234567890123", "longer than 20"),
        ("]C111241301", "month 13"),
        ("]E4123", "]E4 (EAN-8) needs 8 digits"),
        ("]E012345", "needs 8, 12 or 13 digits"),
        ("]E39771234567003123", "]E3 needs"),
        ("]E1123", "add-on needs 2 digits"),
        ("]E0ABC", "needs digits"),
        ("abc\x07", "control character"),
        ("(01)04006381333931(01)04006381333948", "occurs twice"),
        ("]C1", "no data"),
    ],
)
def test_invalid_codes(code: str, reason: str) -> None:
    with pytest.raises(InvalidBarcode) as ei:
        parse(code)
    assert reason in ei.value.reason
    assert isinstance(ei.value, BarcodeError) and isinstance(ei.value, ValueError)


def test_ean_with_addon() -> None:
    bc = parse("]E3977123456700304")
    assert (bc.kind, bc.gtin, bc.addon, bc.check_digits_valid) == ("ean13", "9771234567003", "04", True)
    assert parse("]E39638507412345").addon == "12345"
    solo = parse("]E212345")
    assert (solo.kind, solo.addon, solo.check_digits_valid) == ("addon", "12345", None)


def test_text_code_with_aim() -> None:
    bc = parse("]C0ABC-123")
    assert (bc.kind, bc.symbology, bc.data, bc.check_digits_valid) == ("text", "Code 128", "ABC-123", None)


def test_split_aim() -> None:
    aim, rest = split_aim("]E04006381333931")
    assert aim is not None and aim.symbology == "EAN-13/UPC" and rest == "4006381333931"
    assert split_aim("]x") == (None, "]x")


def test_cli_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "2811111068708"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "in_store_weight" and out["weight_g"] == 6870 and out["check_digits_valid"] is True


def test_cli_gs_escape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "]C110LOT1<GS>0104006381333931"]) == 0
    assert json.loads(capsys.readouterr().out)["ais"] == {"10": "LOT1", "01": "04006381333931"}


def test_cli_bad_check_digit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "4006381333932"]) == 1
    cap = capsys.readouterr()
    assert json.loads(cap.out)["check_digits_valid"] is False
    assert "check digit wrong" in cap.err


def test_cli_unreadable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "]C1xx"]) == 2
    assert "error: GS1 element string" in capsys.readouterr().err
    assert main([]) == 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_parse_never_crashes(text: str) -> None:
    try:
        bc = parse(text)
    except InvalidBarcode:
        return
    json.dumps(bc.to_json())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["", "]C1", "]d2", "(01)", "(3103)", "(30)"]), st.text(alphabet="0123456789\x1dABC()²¹٣", max_size=50))
def test_fuzz_gs1_like(prefix: str, body: str) -> None:
    try:
        parse(prefix + body)
    except InvalidBarcode:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["22", "28", "25", "21"]), st.from_regex(r"\A[0-9]{4}\Z"), st.integers(0, 99999))
def test_fuzz_in_store_roundtrip(prefix: str, item: str, value: int) -> None:
    v = f"{value:05d}"
    bc = parse(make_gtin(prefix + item + str(price_check_digit(v)) + v))
    assert bc.check_digits_valid is True
    assert value in (bc.price_cents, bc.weight_g, bc.count)


@pytest.mark.parametrize("code", ["(3103)00012²", "]C130²", "(11)2²0101", "(01)0400638133393²", "(٣0)5"])
def test_non_ascii_digits_are_an_invalid_barcode(code: str) -> None:
    """``str.isdigit`` is true for "²" and "٣"; such bytes from a scanner make a bad code, not a crash."""
    with pytest.raises(InvalidBarcode):
        parse(code)
