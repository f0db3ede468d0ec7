"""A demo day through the real SaleService with the software TSE, closed, exported as DSFinV-K and DATEV."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lxml import etree

from drivers.tse.verify import verify_transaction
from gateway.fiscal.archive import tse_transaction_of
from gateway.fiscal.closing import closings, export_datev, export_dsfinvk
from gateway.fiscal.datev import parse_amount, read_postings
from gateway.fiscal.dsfinvk import closing_totals
from gateway.fiscal.dsfinvk_schema import TABLES
from gateway.pos.reports import x_report

from .fiscal_gateway import APPLES, CHOC, PEN, FiscalGateway, start_gateway, wait_entry


@dataclass
class ClosedDay:
    """The gateway after the demo day, the receipts it produced, the Z report and the export."""

    fg: FiscalGateway
    receipts: list[dict[str, Any]]
    z: dict[str, Any]
    x_before: dict[str, Any]
    export: Path


async def run_demo_day(fg: FiscalGateway) -> list[dict[str, Any]]:
    """Sales with mixed VAT and split payments, a return, a void, cash moves, training, an abort, an outage."""
    s, carts = fg.gw.sales, fg.gw.carts
    out = [await s.finish(cashier="c", lines=[{"code": PEN, "qty": 2}, {"code": CHOC}],
                          payments=[{"method": "cash", "amount": 400}, {"method": "card", "amount": 200}])]
    cart = await carts.open("c")
    await carts.add_line(cart["id"], APPLES, weight_g=750, weight_source="scale")
    await carts.add_line(cart["id"], PEN)
    await carts.void_line(cart["id"], 2)
    await wait_entry(fg.gw, "cart.tse_started", f"cart:{cart['id']}")
    out.append(await s.finish(cashier="c", cart_id=cart["id"], payments=[{"method": "card", "amount": 187}]))
    out.append(await s.finish(cashier="c", lines=[{"code": PEN}, {"code": CHOC, "qty": 3}],
                              payments=[{"method": "cash", "amount": 1000}]))
    out.append(await s.return_items(out[2]["receipt_no"], [{"line": 2, "qty": 1}], cashier="c"))
    out.append(await s.void(out[0]["receipt_no"], cashier="m"))
    out.append(await s.cash_move("deposit", 10000, cashier="m", reason="Wechselgeld"))
    out.append(await s.cash_move("withdrawal", 2500, cashier="m", reason="Bank"))
    out.append(await s.finish(cashier="c", lines=[{"code": PEN}], payments=[{"method": "cash", "amount": 199}], training=True))
    aborted = await carts.open("c")
    await carts.add_line(aborted["id"], CHOC)
    await wait_entry(fg.gw, "cart.tse_started", f"cart:{aborted['id']}")
    await carts.cancel(aborted["id"])
    await wait_entry(fg.gw, "cart.tse_aborted", f"cart:{aborted['id']}")
    fg.tse.set_failing("TSE unplugged")  # sold during an outage: exported with TSE_TA_FEHLER
    out.append(await s.finish(cashier="c", lines=[{"code": CHOC}], payments=[{"method": "cash", "amount": 119}]))
    fg.tse.set_failing(None)
    assert await fg.svc.recover()
    return out


@pytest.fixture
async def day(tmp_path: Path) -> AsyncIterator[ClosedDay]:
    fg = await start_gateway(tmp_path / "data")
    try:
        receipts = await run_demo_day(fg)
        x_before = x_report(fg.gw.ledger)
        token = fg.gw.clients.add("boss", "manager")
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{fg.gw.http_port}/api/v1/day/close", headers={"Authorization": f"Bearer {token}"},
                json={"counted_cash": 7900}) as r:
            assert r.status == 201
            z = await r.json()
        z_day = date.fromisoformat(z["business_day"])
        export_dsfinvk(fg.gw.ledger, fg.gw.config, z_day, z_day, tmp_path / "dsfinvk")
        yield ClosedDay(fg, receipts, z, x_before, tmp_path / "dsfinvk")
    finally:
        await fg.gw.stop()


def read(path: Path) -> list[dict[str, str]]:
    """Rows of a DSFinV-K CSV file."""
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8")), delimiter=";", quotechar='"'))


def amount(text: str) -> int:
    """DSFinV-K decimal comma -> cents."""
    return parse_amount(text)


def test_z_report_is_the_x_report_and_restarts_it(day: ClosedDay) -> None:
    z = day.z
    assert z["z_nr"] == 1 and z["report"]["gross"] == day.x_before["gross"]
    assert z["report"]["by_vat"] == day.x_before["by_vat"] and z["report"]["payments"] == day.x_before["payments"]
    assert z["report"]["receipts"] == {"sale": 4, "return": 1, "void": 1, "deposit": 1, "withdrawal": 1}
    assert z["report"]["training_receipts"] == 1
    # cash: 3.17 + 5.56 - 1.19 - 3.17 (void) + 100.00 - 25.00 + 1.19 expected, 79.00 counted
    assert z["cash_count"] == {"expected": 8056, "counted": 7900, "difference": -156}
    assert z["tse_export"]["file"] == "tse-export-Z000001.tar" and len(z["tse_export"]["sha256"]) == 64
    assert (day.fg.gw.data_dir / "fiscal" / z["tse_export"]["file"]).stat().st_size == z["tse_export"]["bytes"]
    after = x_report(day.fg.gw.ledger)
    assert after["receipts"] == {} and after["gross"] == 0 and after["since_seq"] == z["seq"]


def test_index_validates_and_every_file_has_the_spec_columns(day: ClosedDay) -> None:
    dtd = etree.DTD(str(day.export / "gdpdu-01-09-2004.dtd"))
    assert dtd.validate(etree.parse(str(day.export / "index.xml"))), dtd.error_log.filter_from_errors()
    for table in TABLES:
        text = (day.export / table.file).read_text("utf-8")
        header = next(csv.reader(io.StringIO(text), delimiter=";"))
        assert tuple(header) == table.column_names, table.file
    bons = read(day.export / "transactions.csv")
    assert {r["Z_NR"] for r in bons} == {"1"}
    assert sorted(r["BON_TYP"] for r in bons) == sorted(["Beleg"] * 8 + ["AVTraining", "AVBelegabbruch"])


def test_totals_reconcile_with_journal_and_z_report(day: ClosedDay) -> None:
    (closing,) = closings(day.fg.gw.ledger, day.fg.gw.config)
    totals = closing_totals(closing)
    report = day.z["report"]
    # revenue per VAT key = the Z report's gross per VAT id = the journal's sales/voids/returns
    revenue = {k[2]: v[0] for k, v in totals.business_cases.items() if k[0] == "Umsatz"}
    assert revenue == {v["vat_id"]: v["gross"] for v in report["by_vat"]}
    journal: dict[int, int] = defaultdict(int)
    for r in day.receipts:
        if not r["training"] and "totals" in r:
            for v in r["totals"]["by_vat"]:
                journal[v["vat_id"]] += v["gross"]
    assert revenue == dict(journal)
    # payments: cash incl. deposits/withdrawals, card as ECKarte
    moves = report["cash_moves"]
    assert totals.cash_payments == report["payments"]["cash"] + moves["deposit"] - moves["withdrawal"]
    assert totals.payments[("ECKarte", "card")] == report["payments"]["card"]
    assert totals.business_cases[("Geldtransit", 0, 5)][0] == moves["deposit"] - moves["withdrawal"]
    # files agree with the aggregates
    head = read(day.export / "cashpointclosing.csv")[0]
    assert amount(head["Z_SE_ZAHLUNGEN"]) == totals.all_payments == report["gross"] + moves["deposit"] - moves["withdrawal"]
    assert amount(head["Z_SE_BARZAHLUNGEN"]) == totals.cash_payments
    cases = read(day.export / "businesscases.csv")
    assert sum(amount(r["Z_UMS_BRUTTO"]) for r in cases) == totals.all_payments


def test_tse_rows_verify_and_reference_the_original(day: ClosedDay) -> None:
    rows = {r["BON_ID"]: r for r in read(day.export / "transactions_tse.csv")}
    sale = day.receipts[0]
    row = rows[str(sale["receipt_no"])]
    assert int(row["TSE_TANR"]) == sale["tse"]["transaction_number"] and row["TSE_TA_SIG"] == sale["tse"]["signature"]
    assert row["TSE_TA_VORGANGSART"] == "Kassenbeleg-V1" and row["TSE_TA_FEHLER"] == ""
    for r in day.receipts[:-1]:
        verify_transaction(tse_transaction_of(r["tse"]))
    failed = rows[str(day.receipts[-1]["receipt_no"])]
    assert "TSE unplugged" in failed["TSE_TA_FEHLER"] and failed["TSE_TA_SIG"] == "" and failed["TSE_TANR"] == ""
    refs = read(day.export / "references.csv")
    void = day.receipts[4]
    assert {"BON_ID": str(void["receipt_no"]), "REF_BON_ID": str(sale["receipt_no"]), "REF_TYP": "Transaktion"}.items() <= {
        k: v for r in refs if r["BON_ID"] == str(void["receipt_no"]) for k, v in r.items()}.items()
    tse = read(day.export / "tse.csv")[0]
    assert tse["TSE_SERIAL"] == sale["tse"]["serial_number"] and tse["TSE_PUBLIC_KEY"] == sale["tse"]["public_key"]
    register = read(day.export / "cashregister.csv")[0]
    assert register["KASSE_SERIENNR"] == "KASSE-01"


def test_datev_reconciles(day: ClosedDay) -> None:
    z_day = date.fromisoformat(day.z["business_day"])
    rows = read_postings(export_datev(day.fg.gw.ledger, day.fg.gw.config, z_day, z_day))
    bal: dict[int, int] = defaultdict(int)
    for r in rows:
        cents = parse_amount(r["Umsatz (ohne Soll/Haben-Kz)"]) * (1 if r["Soll/Haben-Kennzeichen"] == "S" else -1)
        bal[int(r["Konto"])] += cents
        bal[int(r["Gegenkonto (ohne BU-Schlüssel)"])] -= cents
    report = day.z["report"]
    gross = {v["vat_id"]: v["gross"] for v in report["by_vat"]}
    moves = report["cash_moves"]
    assert sum(bal.values()) == 0
    assert bal[8400] == -gross[1] and bal[8300] == -gross[2]
    assert bal[1000] == report["payments"]["cash"] + moves["deposit"] - moves["withdrawal"]
    assert bal[1360] == report["payments"]["card"] - (moves["deposit"] - moves["withdrawal"])


async def test_http_zip_export_and_closings(day: ClosedDay) -> None:
    gw = day.fg.gw
    token = gw.clients.add("boss2", "manager")
    cashier = gw.clients.add("till2", "cashier")
    url = f"http://127.0.0.1:{gw.http_port}"
    d = day.z["business_day"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/v1/exports/dsfinvk?from={d}&to={d}", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200 and r.content_type == "application/zip"
            zf = zipfile.ZipFile(io.BytesIO(await r.read()))
        assert {"index.xml", "gdpdu-01-09-2004.dtd", "transactions.csv"} <= set(zf.namelist()) and len(zf.namelist()) == 22
        assert zf.read("transactions.csv") == (day.export / "transactions.csv").read_bytes()
        async with http.get(f"{url}/api/v1/day/closings", headers={"Authorization": f"Bearer {token}"}) as r:
            listed = (await r.json())["closings"]
        assert [c["z_nr"] for c in listed] == [1] and "certificate" not in listed[0]["tse"]
        async with http.post(f"{url}/api/v1/day/close", headers={"Authorization": f"Bearer {cashier}"}) as r:
            assert r.status == 403
        async with http.get(f"{url}/api/v1/exports/dsfinvk?from={d}&to=bad", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 400
