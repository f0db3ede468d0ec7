"""Tests of the legal receipt model: required fields, marks, VAT table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.tse.software import SoftwareTse
from gateway.fiscal.amounts import FiscalDataError
from gateway.fiscal.process_data import Payment, receipt_process_data
from gateway.fiscal.receipt import (
    NOT_CERTIFIED_MARK,
    TRAINING_MARK,
    TSE_FAILURE_MARK,
    Receipt,
    ReceiptLine,
    ReceiptPayment,
    ReceiptTse,
    Seller,
    vat_lines,
)
from gateway.fiscal.signing import SaleSigner, failed_tse_object

SELLER = Seller("Muster Markt GmbH", "Hauptstr. 1", "10115", "Berlin", vat_id="DE123456789")
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
LINES = [ReceiptLine("Kaffee", 1000, "Stk", 1190, 1190, 1), ReceiptLine("Äpfel", 750, "kg", 398, 299, 2)]
RATES = {1: 1900, 2: 700}


def _receipt(**kw: object) -> Receipt:
    base: dict[str, object] = dict(
        seller=SELLER, client_serial="KASSE-03", bon_id="B1", bon_type="Beleg", issued_at=NOW, started_at=NOW,
        lines=LINES, vat=vat_lines({1: 1190, 2: 299}, RATES), payments=[ReceiptPayment("Bar", 1489, True)],
        total=1489,
    )  # fmt: skip
    base.update(kw)
    return Receipt(**base)  # type: ignore[arg-type]


async def test_signed_receipt_has_all_section_6_fields(tmp_path: Path) -> None:
    tse = SoftwareTse(tmp_path / "t")
    await tse.register_client("KASSE-03")
    signer = SaleSigner(tse, "KASSE-03")
    pd = receipt_process_data("Beleg", {1: 1190, 2: 299}, [Payment(1489, True)])
    obj = await signer.finish(await signer.start(), "Kassenbeleg-V1", pd)
    receipt = _receipt(tse=ReceiptTse.from_tse_object(obj))
    assert receipt.missing_fields() == []
    labels = dict(receipt.tse_lines())
    assert labels["TSE-Transaktion"] == "1" and labels["Kassen-Seriennummer"] == "KASSE-03"
    assert labels["TSE-Seriennummer"] == obj["serial_number"] and labels["TSE-Signatur"] == obj["signature"]
    assert labels["TSE-Signaturzähler"] == str(obj["signature_counter"])
    assert receipt.marks() == [NOT_CERTIFIED_MARK]
    assert receipt.vat_table() == [("19,00 %", "10,00", "1,90", "11,90"), ("7,00 %", "2,79", "0,20", "2,99")]


def test_tse_failure_receipt_is_marked() -> None:
    failed = failed_tse_object("TseUnavailable: USB-TSE entfernt", NOW, NOW)
    assert ReceiptTse.from_tse_object(failed) is None
    receipt = _receipt(tse=None, tse_failure=failed["reason"])
    assert TSE_FAILURE_MARK in receipt.marks()
    assert ("TSE", "ausgefallen: TseUnavailable: USB-TSE entfernt") in receipt.tse_lines()
    with pytest.raises(FiscalDataError):
        _receipt(tse=None)


def test_training_receipt_is_marked() -> None:
    receipt = _receipt(bon_type="AVTraining", training=True, tse_failure="x", payments=[])
    assert receipt.marks()[0] == TRAINING_MARK
    with pytest.raises(FiscalDataError):
        _receipt(bon_type="AVTraining", tse_failure="x")


def test_inconsistent_vat_is_refused() -> None:
    with pytest.raises(FiscalDataError):
        _receipt(total=1500, tse_failure="x")
    with pytest.raises(FiscalDataError):
        vat_lines({3: 100}, RATES)
    assert _receipt(tse_failure="x", seller=Seller("", "", "", "")).missing_fields()[:2] == ["seller.name", "seller.address"]
