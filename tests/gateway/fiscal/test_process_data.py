"""Tests of processData and QR code strings (DSFinV-K Anhang I) and the QR image."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ValidationFailed
from gateway.fiscal.amounts import FiscalDataError, comma_amount, dot_amount, qr_time, vat_split
from gateway.fiscal.process_data import (
    Payment,
    QrFields,
    abort_process_data,
    other_process_data,
    qr_code_string,
    qr_png,
    receipt_process_data,
    vat_slot,
)

CASH, CARD = True, False


def test_fact_sheet_examples() -> None:
    assert receipt_process_data("Beleg", {1: 1000}, [Payment(1000, CASH)]) == "Beleg^10.00_0.00_0.00_0.00_0.00^10.00:Bar"
    assert receipt_process_data("Beleg", {2: 255}, [Payment(255, CASH)]) == "Beleg^0.00_2.55_0.00_0.00_0.00^2.55:Bar"
    assert receipt_process_data("Beleg", {1: 4999}, [Payment(4999, CARD)]) == (
        "Beleg^49.99_0.00_0.00_0.00_0.00^49.99:Unbar"
    )


def test_mixed_vat_split_payment_cash_and_card() -> None:
    pd = receipt_process_data("Beleg", {1: 1190, 2: 214}, [Payment(404, CARD), Payment(1000, CASH)])
    assert pd == "Beleg^11.90_2.14_0.00_0.00_0.00^10.00:Bar_4.04:Unbar"


def test_same_kind_payments_are_added_and_foreign_currency_suffixed() -> None:
    payments = [
        Payment(500, CASH),
        Payment(500, CASH, "CHF"),
        Payment(6430, CARD),
        Payment(500, CASH, "USD"),
        Payment(500, CASH),
    ]
    # the DSFinV-K example string
    assert receipt_process_data("Beleg", {1: 7533, 2: 799}, payments) == (
        "Beleg^75.33_7.99_0.00_0.00_0.00^10.00:Bar_5.00:Bar:CHF_5.00:Bar:USD_64.30:Unbar"
    )


def test_change_given_as_negative_cash_is_netted() -> None:
    pd = receipt_process_data("Beleg", {1: 1190}, [Payment(2000, CASH), Payment(-810, CASH)])
    assert pd == "Beleg^11.90_0.00_0.00_0.00_0.00^11.90:Bar"


def test_return_negative_amounts() -> None:
    assert receipt_process_data("Beleg", {1: -1000}, [Payment(-1000, CASH)]) == (
        "Beleg^-10.00_0.00_0.00_0.00_0.00^-10.00:Bar"
    )
    # a partial return of a mixed receipt refunded to card
    assert receipt_process_data("Beleg", {1: -119, 2: -107}, [Payment.of_type("ECKarte", -226)]) == (
        "Beleg^-1.19_-1.07_0.00_0.00_0.00^-2.26:Unbar"
    )


def test_void_after_the_fact_is_a_negative_beleg_and_storno_type_is_refused() -> None:
    original = receipt_process_data("Beleg", {1: 1190, 2: 214}, [Payment(1404, CASH)])
    void = receipt_process_data("Beleg", {1: -1190, 2: -214}, [Payment(-1404, CASH)])
    assert original == "Beleg^11.90_2.14_0.00_0.00_0.00^14.04:Bar"
    assert void == "Beleg^-11.90_-2.14_0.00_0.00_0.00^-14.04:Bar"
    with pytest.raises(FiscalDataError, match="AVBelegstorno"):
        receipt_process_data("AVBelegstorno", {1: -1190}, [Payment(-1190, CASH)])


def test_training_has_no_payment_part() -> None:
    assert receipt_process_data("AVTraining", {1: 500}) == "AVTraining^5.00_0.00_0.00_0.00_0.00^"
    with pytest.raises(FiscalDataError, match="must not carry a payment"):
        receipt_process_data("AVTraining", {1: 500}, [Payment(500, CASH)])


def test_abort_transfer_order_and_other() -> None:
    assert abort_process_data() == "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"
    assert receipt_process_data("AVTransfer", {1: 2380}) == "AVTransfer^23.80_0.00_0.00_0.00_0.00^"
    assert receipt_process_data("AVBestellung", {2: 749}) == "AVBestellung^0.00_7.49_0.00_0.00_0.00^"
    assert other_process_data("Schublade geoeffnet") == "Schublade geoeffnet"
    with pytest.raises(FiscalDataError):
        other_process_data("two\nlines")


def test_cash_movement_goes_to_slot_e() -> None:
    assert receipt_process_data("Beleg", {5: -10000}, [Payment(-10000, CASH)]) == (
        "Beleg^0.00_0.00_0.00_0.00_-100.00^-100.00:Bar"
    )


@pytest.mark.parametrize(
    ("key", "slot"),
    [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 4), (7, 4), (8, 4), (11, 0), (12, 1), (21, 0), (22, 1),
     (13, 2), (23, 2), (33, 2), (43, 2)],
)  # fmt: skip
def test_vat_key_slots(key: int, slot: int) -> None:
    assert vat_slot(key) == slot


def test_unknown_vat_key_and_bad_currency_are_typed_errors() -> None:
    with pytest.raises(ValidationFailed):
        receipt_process_data("Beleg", {9: 100}, [])
    with pytest.raises(FiscalDataError):
        receipt_process_data("Beleg", {1: 100}, [Payment(100, CASH, "EURO")])
    with pytest.raises(FiscalDataError):
        Payment.of_type("Keine", 0)


def test_qr_code_string_field_order_and_times() -> None:
    fields = QrFields(
        client_serial="955002-00",
        process_type="Kassenbeleg-V1",
        process_data="Beleg^0.00_2.55_0.00_0.00_0.00^2.55:Bar",
        transaction_number=18,
        signature_counter=112,
        start=datetime(2019, 7, 10, 18, 41, 4, tzinfo=UTC),
        end=datetime(2019, 7, 10, 18, 41, 4, 123456, tzinfo=UTC),
        signature_algorithm="ecdsa-plain-SHA256",
        log_time_format="unixTime",
        signature="c2ln",
        public_key="cHVi",
    )
    assert qr_code_string(fields) == (
        "V0;955002-00;Kassenbeleg-V1;Beleg^0.00_2.55_0.00_0.00_0.00^2.55:Bar;18;112;"
        "2019-07-10T18:41:04.000Z;2019-07-10T18:41:04.123Z;ecdsa-plain-SHA256;unixTime;c2ln;cHVi"
    )
    assert len(qr_code_string(fields).split(";")) == 12


def test_qr_png_is_a_png() -> None:
    png = qr_png("V0;x;Kassenbeleg-V1;Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar;1;2;a;b;c;d;e;f")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 200


def test_amount_formats() -> None:
    assert dot_amount(0) == "0.00" and dot_amount(-5) == "-0.05" and dot_amount(123456) == "1234.56"
    assert comma_amount(-1234, 5) == "-12,34000"
    assert qr_time(datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == "2026-01-02T03:04:05.999Z"
    with pytest.raises(FiscalDataError):
        qr_time(datetime(2026, 1, 2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8]), st.integers(-10**9, 10**9), max_size=8),
       st.lists(st.tuples(st.integers(-10**8, 10**8), st.booleans()), max_size=6))  # fmt: skip
def test_fuzz_process_data_shape(gross: dict[int, int], pays: list[tuple[int, bool]]) -> None:
    pd = receipt_process_data("Beleg", gross, [Payment(a, c) for a, c in pays])
    kind, amounts, payments = pd.split("^")
    assert kind == "Beleg"
    slots = amounts.split("_")
    assert len(slots) == 5
    total = sum(int(s.replace(".", "").replace("-", "")) * (-1 if s.startswith("-") else 1) for s in slots)
    assert total == sum(gross.values())
    for p in filter(None, payments.split("_")):
        amount, kind_ = p.split(":")
        assert kind_ in ("Bar", "Unbar") and amount.count(".") == 1 and len(amount.split(".")[1]) == 2


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**9, 10**9), st.sampled_from([0, 700, 1900, 1070, 550]))
def test_fuzz_vat_split_adds_up(gross: int, rate: int) -> None:
    net, vat = vat_split(gross, rate)
    assert net + vat == gross
    assert abs(net * (10000 + rate) - gross * 10000) <= (10000 + rate) // 2
