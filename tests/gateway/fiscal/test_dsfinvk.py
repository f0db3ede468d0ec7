"""Tests of the DSFinV-K export of a demo day: files, columns, index.xml vs DTD, reconciliation."""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from drivers.tse.api import TseTransaction
from drivers.tse.verify import verify_transaction
from gateway.fiscal.amounts import FiscalDataError
from gateway.fiscal.dsfinvk import closing_totals, tables_for, write_export
from gateway.fiscal.dsfinvk_records import Closing, TseMaster
from gateway.fiscal.dsfinvk_schema import TABLES

from .demo_day import CLIENT, DemoDay, build_demo_day

ALL_FILES = {
    "cashpointclosing.csv", "location.csv", "cashregister.csv", "slaves.csv", "pa.csv", "tse.csv", "vat.csv",
    "businesscases.csv", "payment.csv", "cash_per_currency.csv", "transactions.csv", "transactions_vat.csv",
    "allocation_groups.csv", "datapayment.csv", "transactions_tse.csv", "references.csv", "lines.csv",
    "lines_vat.csv", "itemamounts.csv", "subitems.csv",
}  # fmt: skip


@pytest.fixture
async def day(tmp_path: Path) -> DemoDay:
    return await build_demo_day(tmp_path / "tse")


@pytest.fixture
def export(day: DemoDay, tmp_path: Path) -> Path:
    assert day.closing is not None
    out = tmp_path / "export"
    write_export([day.closing], out)
    return out


def read(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""), delimiter=";", quotechar='"'))


def amount(text: str) -> int:
    """'12,34000' -> 1234 cents (the exports never carry sub-cent values)."""
    whole, _, frac = text.partition(",")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int((frac + "00")[:2]))


def test_all_files_present_with_spec_columns(export: Path) -> None:
    names = {p.name for p in export.iterdir()}
    assert names == ALL_FILES | {"index.xml", "gdpdu-01-09-2004.dtd"}
    assert len(TABLES) == 20
    for table in TABLES:
        header = (export / table.file).read_bytes().split(b"\r\n", 1)[0].decode()
        assert header.split(";") == list(table.column_names), table.file
        assert header.startswith("Z_KASSE_ID;Z_ERSTELLUNG;Z_NR")
    # spot checks against the fact sheet's column lists
    assert read(export / "transactions_tse.csv")[0].keys() == {
        "Z_KASSE_ID", "Z_ERSTELLUNG", "Z_NR", "BON_ID", "TSE_ID", "TSE_TANR", "TSE_TA_START", "TSE_TA_ENDE",
        "TSE_TA_VORGANGSART", "TSE_TA_SIGZ", "TSE_TA_SIG", "TSE_TA_FEHLER", "TSE_VORGANGSDATEN",
    }  # fmt: skip
    assert list(read(export / "datapayment.csv")[0].keys())[4:] == [
        "ZAHLART_TYP", "ZAHLART_NAME", "ZAHLWAEH_CODE", "ZAHLWAEH_BETRAG", "BASISWAEH_BETRAG"]  # fmt: skip


def test_empty_tables_are_header_only(export: Path) -> None:
    for name in ("slaves.csv", "pa.csv", "itemamounts.csv", "subitems.csv", "allocation_groups.csv"):
        data = (export / name).read_bytes()
        assert data.count(b"\r\n") == 1 and data.endswith(b"\r\n"), name


def test_index_xml_validates_against_dtd_and_matches_files(export: Path) -> None:
    dtd = etree.DTD(str(export / "gdpdu-01-09-2004.dtd"))
    doc = etree.parse(str(export / "index.xml"))
    assert dtd.validate(doc), dtd.error_log.filter_from_errors()
    assert doc.docinfo.system_url == "gdpdu-01-09-2004.dtd"
    tables = doc.findall(".//Table")
    assert [t.findtext("URL") for t in tables] == [t.file for t in TABLES]
    for t in tables:
        cols = [c.findtext("Name") for c in t.findall(".//VariableColumn")]
        header = (export / t.findtext("URL")).read_bytes().split(b"\r\n", 1)[0].decode().split(";")
        assert cols == header
        assert t.findtext(".//RecordDelimiter") == "\r\n"
        assert t.find("UTF8") is not None and t.findtext("DecimalSymbol") == ","
    # a broken index.xml is rejected, so the validation above can fail
    broken = etree.fromstring(b"<DataSet><Media><Name>x</Name></Media></DataSet>")
    assert not dtd.validate(broken)


def test_csv_conventions_and_identical_keys(export: Path, day: DemoDay) -> None:
    for table in TABLES:
        data = (export / table.file).read_bytes()
        data.decode("utf-8")
        assert b"\n" not in data.replace(b"\r\n", b"")
        for row in read(export / table.file):
            assert (row["Z_KASSE_ID"], row["Z_NR"]) == (CLIENT, "8")
            assert row["Z_ERSTELLUNG"] == "2026-12-04T20:00:00+01:00"
    tx = read(export / "transactions.csv")
    assert [r["BON_TYP"] for r in tx] == ["Beleg", "Beleg", "Beleg", "AVTraining", "AVBelegabbruch", "Beleg",
                                          "Beleg", "Beleg", "Beleg"]  # fmt: skip
    assert tx[0]["UMS_BRUTTO"] == "14,04" and tx[2]["UMS_BRUTTO"] == "-11,90"
    lines = read(export / "lines.csv")
    assert lines[1]["MENGE"] == "2,000" and lines[3]["P_STORNO"] == "1" and lines[3]["MENGE"] == "-1,000"
    weighed = next(r for r in lines if r["EINHEIT"] == "kg")
    assert weighed["MENGE"] == "0,750" and weighed["STK_BR"] == "3,98000"
    vat = read(export / "vat.csv")
    assert [(r["UST_SCHLUESSEL"], r["UST_SATZ"]) for r in vat] == [("1", "19,00"), ("2", "7,00"), ("5", "0,00")]
    refs = read(export / "references.csv")
    assert refs == [{**refs[0], "BON_ID": "B0003", "REF_TYP": "Transaktion", "REF_BON_ID": "B0001",
                     "REF_Z_NR": "8", "REF_DATUM": "2026-12-04T20:00:00+01:00", "POS_ZEILE": ""}]  # fmt: skip


def test_totals_reconcile_with_journal_and_z_report(export: Path, day: DemoDay) -> None:
    assert day.closing is not None
    z = closing_totals(day.closing)
    head = read(export / "cashpointclosing.csv")[0]
    beleg_ids = {r["BON_ID"] for r in read(export / "transactions.csv") if r["BON_TYP"] == "Beleg"}
    journal_total = sum(e["total"] for e in day.journal if e["type"] == "Beleg")
    tx_total = sum(amount(r["UMS_BRUTTO"]) for r in read(export / "transactions.csv") if r["BON_ID"] in beleg_ids)
    cases = read(export / "businesscases.csv")
    payments = read(export / "payment.csv")
    datapay = [r for r in read(export / "datapayment.csv") if r["BON_ID"] in beleg_ids]
    assert journal_total == tx_total == z.all_payments == amount(head["Z_SE_ZAHLUNGEN"])
    assert sum(amount(r["Z_UMS_BRUTTO"]) for r in cases) == journal_total
    assert sum(amount(r["Z_ZAHLART_BETRAG"]) for r in payments) == journal_total
    assert sum(amount(r["BASISWAEH_BETRAG"]) for r in datapay) == journal_total
    for r in cases:
        assert amount(r["Z_UMS_NETTO"]) + amount(r["Z_UST"]) == amount(r["Z_UMS_BRUTTO"])
    # VAT per key: Bon headers, lines and business cases agree
    per_key_tx: dict[str, int] = {}
    for r in read(export / "transactions_vat.csv"):
        if r["BON_ID"] in beleg_ids:
            per_key_tx[r["UST_SCHLUESSEL"]] = per_key_tx.get(r["UST_SCHLUESSEL"], 0) + amount(r["BON_BRUTTO"])
    per_key_cases: dict[str, int] = {}
    for r in cases:
        per_key_cases[r["UST_SCHLUESSEL"]] = per_key_cases.get(r["UST_SCHLUESSEL"], 0) + amount(r["Z_UMS_BRUTTO"])
    assert per_key_tx == per_key_cases == {"1": 1190 + 100 - 100 - 1190 + 357 + 1000, "2": 214 + 299,
                                           "5": -10000 - 5000}  # fmt: skip
    # cash: all Bar payments in EUR; the CHF note is also counted in CHF
    cash_eur = 1000 + 299 - 1190 - 10000 + 1000 - 5000
    assert amount(head["Z_SE_BARZAHLUNGEN"]) == z.cash_payments == cash_eur
    per_currency = {r["ZAHLART_WAEH"]: amount(r["ZAHLART_BETRAG_WAEH"]) for r in read(export / "cash_per_currency.csv")}
    assert per_currency == {"EUR": cash_eur - 1000, "CHF": 950}
    # training and abort are exported but stay out of the totals
    assert "AVTraining" not in {r["GV_TYP"] for r in cases}
    assert {(r["GV_TYP"], r["UST_SCHLUESSEL"]) for r in cases} >= {("Geldtransit", "5"), ("Privatentnahme", "5")}
    assert head["Z_START_ID"] == "B0001" and head["Z_ENDE_ID"] == "B0009"


def test_tse_rows_verify_and_outage_is_marked(export: Path) -> None:
    tse = read(export / "tse.csv")[0]
    assert tse["TSE_SIG_ALGO"] == "ecdsa-plain-SHA256" and tse["TSE_ZEITFORMAT"] == "unixTime"
    assert tse["TSE_ZERTIFIKAT_I"] and len(tse["TSE_SERIAL"]) == 64
    rows = read(export / "transactions_tse.csv")
    failed = [r for r in rows if r["TSE_TA_FEHLER"]]
    assert [r["BON_ID"] for r in failed] == ["B0007"]
    assert failed[0]["TSE_TANR"] == "" and failed[0]["TSE_TA_SIG"] == ""
    signed = [r for r in rows if not r["TSE_TA_FEHLER"]]
    assert len(signed) == 8
    numbers = [int(r["TSE_TANR"]) for r in signed]
    assert numbers == sorted(numbers)
    for r in signed:
        assert r["TSE_TA_START"].endswith("Z") and len(r["TSE_TA_START"]) == 24
        # an auditor's check: rebuild the Finish log from the export alone and verify it
        verify_transaction(TseTransaction(
            number=int(r["TSE_TANR"]), client_id=CLIENT, operation="Finish",
            signature_counter=int(r["TSE_TA_SIGZ"]),
            start_time=datetime.fromisoformat(r["TSE_TA_START"].replace("Z", "+00:00")),
            log_time=datetime.fromisoformat(r["TSE_TA_ENDE"].replace("Z", "+00:00")),
            end_time=datetime.fromisoformat(r["TSE_TA_ENDE"].replace("Z", "+00:00")),
            signature=r["TSE_TA_SIG"], serial_number=tse["TSE_SERIAL"], public_key=tse["TSE_PUBLIC_KEY"],
            signature_algorithm=tse["TSE_SIG_ALGO"], log_time_format=tse["TSE_ZEITFORMAT"],
            process_type=r["TSE_TA_VORGANGSART"], process_data=r["TSE_VORGANGSDATEN"],
        ))  # fmt: skip
    pd = {r["BON_ID"]: r["TSE_VORGANGSDATEN"] for r in signed}
    assert pd["B0001"] == "Beleg^11.90_2.14_0.00_0.00_0.00^10.00:Bar_4.04:Unbar"
    assert pd["B0004"] == "AVTraining^5.00_0.00_0.00_0.00_0.00^"
    assert pd["B0005"] == "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"
    assert pd["B0006"] == "Beleg^0.00_0.00_0.00_0.00_-100.00^-100.00:Bar"
    assert pd["B0008"] == "Beleg^10.00_0.00_0.00_0.00_0.00^10.00:Bar"


def test_invalid_closings_are_refused(day: DemoDay, tmp_path: Path) -> None:
    assert day.closing is not None
    c = day.closing
    dup = replace(c, bons=[*c.bons, c.bons[0]])
    with pytest.raises(FiscalDataError, match="used twice"):
        write_export([dup], tmp_path / "x")
    with pytest.raises(FiscalDataError, match="UST_SCHLUESSEL"):
        write_export([replace(c, vat_rates=c.vat_rates[:1])], tmp_path / "y")
    unpaid = replace(c.bons[0], payments=c.bons[0].payments[:1])
    with pytest.raises(FiscalDataError, match="payments"):
        write_export([replace(c, bons=[unpaid])], tmp_path / "z")
    storno = replace(c.bons[0], bon_type="AVBelegstorno")
    with pytest.raises(FiscalDataError, match="AVBelegstorno"):
        write_export([replace(c, bons=[storno])], tmp_path / "w")


def test_long_certificate_extends_tse_columns(day: DemoDay, tmp_path: Path) -> None:
    assert day.closing is not None
    cert = base64.b64encode(b"x" * 1800).decode()  # 2400 characters: three chunks
    t = day.closing.tses[0]
    closing: Closing = replace(day.closing, tses=[TseMaster(t.tse_id, t.serial, t.signature_algorithm,
                                                            t.time_format, t.public_key, cert)])  # fmt: skip
    assert [c.name for c in tables_for([closing])[5].columns][-3:] == [
        "TSE_ZERTIFIKAT_I", "TSE_ZERTIFIKAT_II", "TSE_ZERTIFIKAT_III"]  # fmt: skip
    out = tmp_path / "long"
    write_export([closing], out)
    row = read(out / "tse.csv")[0]
    assert row["TSE_ZERTIFIKAT_I"] + row["TSE_ZERTIFIKAT_II"] + row["TSE_ZERTIFIKAT_III"] == cert
    dtd = etree.DTD(str(out / "gdpdu-01-09-2004.dtd"))
    assert dtd.validate(etree.parse(str(out / "index.xml")))
