"""Maps the journal (receipts, aborts, day closings, TSE data) to DSFinV-K closing records.

One :class:`~gateway.fiscal.dsfinvk_records.Closing` per ``day.closed`` entry, holding every Bon
journaled since the previous closing: ``sale.finished``/``sale.voided``/``sale.returned`` and
``cash.deposit``/``cash.withdrawal`` as ``Beleg`` (``AVTraining`` in training mode) with their
printed totals, and ``cart.tse_aborted`` as ``AVBelegabbruch``. Voids and returns reference the
original Bon (REF_TYP ``Transaktion``, fact sheet §8.6). TSE values come from the receipt's
``tse`` object; a failed one becomes TSE_TA_FEHLER.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway import __version__
from gateway.config import StoreConfig
from gateway.pos.money import VAT_NAMES, VAT_RATES_BP

from .dsfinvk_records import (
    Address,
    Bon,
    BonPayment,
    BonTse,
    BonVat,
    CashRegister,
    Closing,
    Line,
    Reference,
    TseMaster,
    VatRate,
)
from .service import CASH_MOVE_GV_TYPE, CASH_MOVE_VAT_KEY

BON_ENTRY_TYPES = ("sale.finished", "sale.voided", "sale.returned", "cash.deposit", "cash.withdrawal", "cart.tse_aborted")


def parse_time(text: str) -> datetime:
    """An aware datetime from the journal's ISO or the TSE's ``…Z`` form."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def split_address(address: str) -> tuple[str, str, str]:
    """``"Musterstraße 1, 10115 Berlin"`` -> (street, postcode, city); best effort for other forms."""
    street, _, rest = address.rpartition(",")
    if not street:
        return address.strip(), "", ""
    postcode, _, city = rest.strip().partition(" ")
    return street.strip(), postcode, city.strip()


def store_address(store: StoreConfig) -> Address:
    """The company/location address of the ``[store]`` section."""
    street, postcode, city = split_address(store.address)
    return Address(store.name, street, postcode, city, "DEU", store.vat_id)


def vat_rates(reduced_vat_bp: int = VAT_RATES_BP[3]) -> list[VatRate]:
    """vat.csv rows of every UST_SCHLUESSEL the till knows (id 3 at the configured rate)."""
    rates = {**VAT_RATES_BP, 3: reduced_vat_bp}
    return [VatRate(k, rates[k], VAT_NAMES[k]) for k in sorted(rates)]


@dataclass(frozen=True)
class ClosedDay:
    """A ``day.closed`` journal entry and the seq range of the entries it closes."""

    seq: int
    after_seq: int
    payload: dict[str, Any]

    @property
    def z_nr(self) -> int:
        """The Z number."""
        return int(self.payload["z_nr"])

    @property
    def created(self) -> datetime:
        """Z_ERSTELLUNG."""
        return parse_time(self.payload["created"])

    @property
    def business_day(self) -> date:
        """The business day closed."""
        return date.fromisoformat(self.payload["business_day"])


def closed_days(conn: sqlite3.Connection) -> list[ClosedDay]:
    """Every closing in order."""
    out: list[ClosedDay] = []
    prev = 0
    for seq, raw in conn.execute("SELECT seq, payload FROM journal WHERE type='day.closed' ORDER BY seq"):
        out.append(ClosedDay(seq, prev, json.loads(raw)))
        prev = seq
    return out


def _bon_tse(tse: dict[str, Any] | None, fallback: datetime) -> BonTse:
    if not tse:
        return BonTse(tse_id=1, start=fallback, end=fallback, error="no TSE configured")
    if tse.get("failed"):
        return BonTse(tse_id=1, start=parse_time(tse["start"]), end=parse_time(tse["end"]), error=str(tse["reason"])[:200])
    return BonTse(
        tse_id=1, start=parse_time(tse["start"]), end=parse_time(tse["end"]), process_type=tse["process_type"],
        transaction_number=int(tse["transaction_number"]), signature_counter=int(tse["signature_counter"]),
        signature=tse["signature"], process_data=tse["process_data"],
    )  # fmt: skip


def _line(ln: dict[str, Any], gross: int) -> Line:
    return Line(
        line_no=str(ln["line"]), text=str(ln.get("name", ""))[:255], vat_key=int(ln["vat_id"]), gross=gross,
        quantity=int(ln["qty_milli"]), unit_price=ln.get("unit_price"), unit="kg" if ln.get("unit") == "kg" else "Stk",
        voided=bool(ln.get("voided")), article_no=str(ln.get("code", ""))[:50], group_name=str(ln.get("group", ""))[:40],
    )  # fmt: skip


class _Builder:
    """Turns journal rows into Bons; remembers which closing every receipt number belongs to."""

    def __init__(self, register_id: str, tz: ZoneInfo) -> None:
        self.register_id = register_id
        self.tz = tz
        self.closing_of: dict[int, tuple[int, datetime]] = {}

    def bon(self, seq: int, ts: str, type_: str, p: dict[str, Any], z: tuple[int, datetime]) -> Bon:
        when = parse_time(ts).astimezone(self.tz)
        tse = p.get("tse")
        bon_tse = _bon_tse(tse, when)
        start, end = bon_tse.start.astimezone(self.tz), bon_tse.end.astimezone(self.tz)
        if type_ == "cart.tse_aborted":
            lines = [_line(ln, 0) for ln in p.get("lines", ())] or [Line("1", "Abbruch", 1, 0)]
            return Bon(f"abort-{p['cart_id'][:32]}", seq, "AVBelegabbruch", start, end, 0, lines, tse=bon_tse)
        no = int(p["receipt_no"])
        self.closing_of[no] = z
        bon_type = (p.get("fiscal") or {}).get("bon_type") or ("AVTraining" if p.get("training") else "Beleg")
        types = (p.get("fiscal") or {}).get("payment_types") or []
        if type_ in ("cash.deposit", "cash.withdrawal"):
            amount = p["amount"] if type_ == "cash.deposit" else -p["amount"]
            text = p.get("reason") or ("Einlage" if amount > 0 else "Entnahme")
            lines = [Line("1", text[:255], CASH_MOVE_VAT_KEY, amount, gv_type=CASH_MOVE_GV_TYPE)]
            payments = [BonPayment("Bar", amount, "cash")]
            vat = [BonVat(CASH_MOVE_VAT_KEY, amount, amount, 0)]
        else:
            lines = [_line(ln, int(ln.get("total", 0)) if not ln.get("voided") else 0) for ln in p["lines"]]
            payments = [BonPayment(types[i] if i < len(types) else ("Bar" if pay["method"] == "cash" else "Unbar"),
                                   pay["amount"], pay["method"]) for i, pay in enumerate(p["payments"])]
            vat = [BonVat(v["vat_id"], v["gross"], v["net"], v["vat"]) for v in p["totals"]["by_vat"]]
        refs: tuple[Reference, ...] = ()
        if "original" in p:
            oz, ocreated = self.closing_of.get(int(p["original"]), z)
            refs = (Reference("Transaktion", bon_id=str(p["original"]), z_kasse_id=self.register_id, z_nr=oz,
                              closing_created=ocreated.astimezone(self.tz)),)
        return Bon(
            bon_id=str(no), bon_nr=no, bon_type=bon_type, start=start, end=end,
            total_gross=sum(line.gross for line in lines), lines=lines,
            payments=[] if bon_type == "AVTraining" else payments, vat=vat, tse=bon_tse, references=refs,
            operator_id=str(p.get("cashier", ""))[:50],
        )  # fmt: skip


def _entries(conn: sqlite3.Connection, after: int, until: int) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    marks = ",".join("?" * len(BON_ENTRY_TYPES))
    sql = f"SELECT seq, ts, type, payload FROM journal WHERE seq > ? AND seq < ? AND type IN ({marks}) ORDER BY seq"
    for seq, ts, type_, raw in conn.execute(sql, (after, until, *BON_ENTRY_TYPES)):
        yield seq, ts, type_, json.loads(raw)


def closings_from_journal(conn: sqlite3.Connection, store: StoreConfig, *, reduced_vat_bp: int = VAT_RATES_BP[3],
                          day_from: date | None = None, day_to: date | None = None) -> list[Closing]:
    """The DSFinV-K closings of every ``day.closed`` whose business day is within the range."""
    tz = ZoneInfo(store.timezone)
    builder = _Builder(store.register_id, tz)
    company = store_address(store)
    rates = vat_rates(reduced_vat_bp)
    out: list[Closing] = []
    for day in closed_days(conn):
        z = (day.z_nr, day.created)
        bons = [builder.bon(seq, ts, t, p, z) for seq, ts, t, p in _entries(conn, day.after_seq, day.seq)]
        if (day_from and day.business_day < day_from) or (day_to and day.business_day > day_to):
            continue
        t = day.payload.get("tse") or {}
        client = str(day.payload.get("client_id") or store.register_id)
        tse = TseMaster(1, t.get("serial_number", ""), t.get("signature_algorithm", ""), t.get("log_time_format", ""),
                        t.get("public_key", ""), t.get("certificate", ""), t.get("process_data_encoding", "UTF-8"))
        out.append(Closing(
            cash_register_id=store.register_id, z_nr=day.z_nr, created=day.created.astimezone(tz),
            business_day=day.business_day, company=company, location=company,
            register=CashRegister(client, "storegw", "storegw gateway", "storegw", __version__, store.currency),
            vat_rates=rates, bons=bons, tses=[tse],
        ))  # fmt: skip
    return out
