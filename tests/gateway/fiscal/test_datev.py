"""Tests of the DATEV EXTF export: header, columns, encoding and reconciliation with DSFinV-K."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from gateway.fiscal.amounts import FiscalDataError
from gateway.fiscal.datev import (
    EXTF_COLUMNS,
    SKR03,
    SKR04,
    DatevSettings,
    export_extf,
    parse_amount,
    read_postings,
)
from gateway.fiscal.dsfinvk import closing_totals

from .demo_day import DemoDay, build_demo_day

SETTINGS = DatevSettings(advisor_number=29098, client_number=55003, fiscal_year_start=date(2026, 1, 1),
                         exported_by="storegw", dictation="SG")  # fmt: skip
CREATED = datetime(2026, 12, 31, 14, 4, 40, 439000)


@pytest.fixture
async def day(tmp_path: Path) -> DemoDay:
    return await build_demo_day(tmp_path / "tse")


def _export(day: DemoDay, accounts: object = SKR03) -> bytes:
    assert day.closing is not None
    return export_extf([day.closing], accounts, SETTINGS, date(2026, 12, 1), date(2026, 12, 31), CREATED)  # type: ignore[arg-type]


def balances(rows: list[dict[str, str]]) -> dict[int, int]:
    """Signed balance per account (debit positive) from Konto/Gegenkonto and S/H."""
    out: dict[int, int] = defaultdict(int)
    for r in rows:
        amount = parse_amount(r["Umsatz (ohne Soll/Haben-Kz)"])
        sign = 1 if r["Soll/Haben-Kennzeichen"] == "S" else -1
        out[int(r["Konto"])] += sign * amount
        out[int(r["Gegenkonto (ohne BU-Schlüssel)"])] -= sign * amount
    return dict(out)


def test_header_and_column_lines(day: DemoDay) -> None:
    data = _export(day)
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and b"\n" not in data.replace(b"\r\n", b"")
    header = lines[0].decode("cp1252")
    assert header == (
        '"EXTF";700;21;"Buchungsstapel";13;20261231140440439;;"RE";"storegw";"";29098;55003;20260101;4;'
        '20261201;20261231;"Kasse";"SG";1;0;0;"EUR";;"";;;"03";;;"";""'
    )
    assert len(header.split(";")) == 31
    assert lines[1].decode("cp1252").split(";") == list(EXTF_COLUMNS)
    assert len(EXTF_COLUMNS) == 125
    for row in lines[2:-1]:
        assert len(row.split(b";")) == 125


def test_rows_use_positive_amounts_ttmm_and_z_number(day: DemoDay) -> None:
    rows = read_postings(_export(day))
    assert rows
    for r in rows:
        assert r["Soll/Haben-Kennzeichen"] in ("S", "H")
        assert not r["Umsatz (ohne Soll/Haben-Kz)"].startswith("-")
        assert r["Belegdatum"] == "0412" and r["Belegfeld 1"] == "Z-000008"
        assert r["WKZ Umsatz"] == "EUR" and r["BU-Schlüssel"] == ""
    # the cash return of 19 % goods is an H booking on the till against revenue
    assert any(r["Konto"] == "1000" and r["Gegenkonto (ohne BU-Schlüssel)"] == "8400"
               and r["Soll/Haben-Kennzeichen"] == "H" and r["Umsatz (ohne Soll/Haben-Kz)"] == "11,90"
               for r in rows)  # fmt: skip


def test_totals_reconcile_with_dsfinvk(day: DemoDay) -> None:
    assert day.closing is not None
    z = closing_totals(day.closing)
    bal = balances(read_postings(_export(day)))
    assert sum(bal.values()) == 0
    assert bal[1000] == z.cash_payments
    non_cash = z.all_payments - z.cash_payments
    assert bal[1360] == non_cash + 10000  # card money plus the cash brought to the bank
    assert bal[8400] == -z.gross_per_vat[1]
    assert bal[8300] == -z.gross_per_vat[2]
    assert bal[1800] == 5000
    revenue = sum(g for (gv, _, _), (g, _, _) in z.business_cases.items() if gv == "Umsatz")
    assert -(bal[8400] + bal[8300]) == revenue


def test_skr04_mapping(day: DemoDay) -> None:
    bal = balances(read_postings(_export(day, SKR04)))
    assert set(bal) == {1600, 1460, 4400, 4300, 2100}
    assert '"04"' in _export(day, SKR04).split(b"\r\n")[0].decode("cp1252")


def test_unmapped_business_case_is_a_clear_error(day: DemoDay) -> None:
    with pytest.raises(FiscalDataError, match="Privatentnahme"):
        _export(day, replace(SKR03, business_cases={"Geldtransit": 1360}))
    with pytest.raises(FiscalDataError, match="outside the period"):
        assert day.closing is not None
        export_extf([day.closing], SKR03, SETTINGS, date(2026, 11, 1), date(2026, 11, 30), CREATED)


def test_cp1252_encoding(day: DemoDay) -> None:
    data = _export(day, replace(SKR03, bu_keys={}))
    text = data.decode("cp1252")
    assert "Gegenkonto (ohne BU-Schlüssel)" in text
    assert "ü".encode("cp1252") in data and "ü".encode() not in data


def test_amounts_read_back_with_their_sign() -> None:
    assert [parse_amount(t) for t in ("119,00", "0,5", "-1,50", "-0,50", "+2,00", "7")] == [11900, 50, -150, -50, 200, 700]
