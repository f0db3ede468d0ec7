"""Day closing (Kassenabschluss, Z report) and the DSFinV-K, DATEV and TSE exports built on it.

A closing journals one ``day.closed`` entry: the consecutive Z number, the business day, the
same figures as the X report (so the X report restarts after it), the TSE identity valid for
the closing and a reference (file name and SHA-256) to the TSE TAR export taken at that moment
(fact sheet §8.3: after closing, trigger the TSE export). Exports read only the journal.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from drivers.tse import Tse, TseError
from gateway.config import Config, PosConfig, StoreConfig, opt, section
from gateway.errors import BadRequest, Conflict
from gateway.ledger import Ledger, Txn
from gateway.pos.reports import x_report

from . import datev
from .dsfinvk import write_export
from .dsfinvk_records import Closing
from .journal_records import closings_from_journal
from .service import tse_master


@section
@dataclass(frozen=True)
class DatevConfig:
    """DATEV EXTF export (``storegw export datev``): header values and chart of accounts."""

    SECTION: ClassVar[str] = "datev"
    advisor_number: int = opt(1001, "Beraternummer of the tax advisor.", min=1001, max=9999999)
    client_number: int = opt(1, "Mandantennummer of the business.", min=1, max=99999)
    chart: str = opt("SKR03", "Chart of accounts (confirm the account mapping with the tax advisor).", choices=["SKR03", "SKR04"])
    fiscal_year_start_month: int = opt(1, "First month of the fiscal year.", min=1, max=12)
    account_length: int = opt(4, "Sachkontenlänge.", min=4, max=8)


def fiscal_dir(data_dir: Path) -> Path:
    """Where closings keep their TSE exports."""
    return Path(data_dir) / "fiscal"


def _store(out_dir: Path, name: str, data: bytes) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / name).write_bytes(data)


async def _tse_snapshot(tse: Tse | None, out_dir: Path, z_nr: int) -> tuple[dict[str, Any], dict[str, Any]]:
    if tse is None:
        return {}, {"error": "no TSE configured"}
    try:
        info = await tse.info()
        tar = await tse.export_tar()
    except TseError as err:
        return {}, {"error": f"{type(err).__name__}: {err}"}
    name = f"tse-export-Z{z_nr:06d}.tar"
    await asyncio.to_thread(_store, out_dir, name, tar)
    return tse_master(info), {"file": name, "sha256": hashlib.sha256(tar).hexdigest(), "bytes": len(tar)}


def next_z_nr(ledger: Ledger) -> int:
    """The Z number the next closing gets."""
    return int(ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='day.closed'") or 0) + 1


def cash_count(counted: int | None, expected: int) -> dict[str, int] | None:
    """The Kassensturz result of a closing: counted vs expected cash and the difference (fact sheet §8.2)."""
    if counted is None:
        return None
    if isinstance(counted, bool) or not isinstance(counted, int) or not 0 <= counted <= 10**12:
        raise BadRequest("counted_cash must be a non-negative integer number of cents", field="counted_cash")
    return {"expected": expected, "counted": counted, "difference": counted - expected}


async def close_day(ledger: Ledger, config: Config, data_dir: Path, *, tse: Tse | None = None, client_id: str = "",
                    cashier: str = "", counted_cash: int | None = None, known_tse: dict[str, Any] | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """Journal the Z report of everything since the last closing; returns the ``day.closed`` payload.

    ``tse`` is asked for its identity and TAR export (skip it during an outage; ``known_tse``
    then supplies the identity last seen); ``counted_cash`` records the cash count.
    """
    store = config.get(StoreConfig)
    tz = ZoneInfo(store.timezone)
    z_nr = next_z_nr(ledger)
    cash_count(counted_cash, 0)  # validate before anything is exported
    master, export = await _tse_snapshot(tse, fiscal_dir(data_dir), z_nr)
    master = master or dict(known_tse or {})
    for _ in range(5):
        report = x_report(ledger)
        created = (now or datetime.now(tz)).astimezone(tz)
        payload = {"z_nr": z_nr, "business_day": created.date().isoformat(), "created": created.isoformat(timespec="seconds"),
                   "register_id": store.register_id, "client_id": client_id or store.register_id, "cashier": cashier,
                   "report": report, "tse": master, "tse_export": export}
        count = cash_count(counted_cash, report["cash_balance"])
        if count is not None:
            payload["cash_count"] = count

        def fn(txn: Txn, payload: dict[str, Any] = payload, until: int = report["until_seq"]) -> dict[str, Any] | None:
            if int(txn.one("SELECT COALESCE(MAX(seq), 0) FROM journal") or 0) != until:
                return None  # something was sold meanwhile: report again
            if int(txn.one("SELECT COUNT(*) FROM journal WHERE type='day.closed'") or 0) != z_nr - 1:
                raise Conflict("another day closing was journaled meanwhile")
            entry = txn.append("day.closed", f"day:{z_nr}", payload)
            return dict(payload, seq=entry.seq)

        result = await ledger.write(fn)
        if result is not None:
            return result
    raise Conflict("the journal kept changing during the day closing; retry")


def list_closings(ledger: Ledger) -> list[dict[str, Any]]:
    """Every ``day.closed`` payload with its seq, oldest first (without the certificate)."""
    out = []
    for seq, raw in ledger.query("SELECT seq, payload FROM journal WHERE type='day.closed' ORDER BY seq"):
        p = json.loads(raw)
        p.get("tse", {}).pop("certificate", None)
        out.append(dict(p, seq=seq))
    return out


def closings(ledger: Ledger, config: Config, day_from: date | None = None, day_to: date | None = None) -> list[Closing]:
    """DSFinV-K closings of the business days in the range (all when unbounded)."""
    return closings_from_journal(ledger.reader, config.get(StoreConfig), reduced_vat_bp=config.get(PosConfig).reduced_vat_bp,
                                 day_from=day_from, day_to=day_to)


def export_dsfinvk(ledger: Ledger, config: Config, day_from: date, day_to: date, out_dir: Path) -> list[Path]:
    """Write the DSFinV-K export of the closed days in the range into ``out_dir``."""
    return write_export(closings(ledger, config, day_from, day_to), out_dir)


def dsfinvk_zip(ledger: Ledger, config: Config, day_from: date, day_to: date) -> bytes:
    """The DSFinV-K export as one ZIP (files at the top level)."""
    with tempfile.TemporaryDirectory() as tmp:
        files = export_dsfinvk(ledger, config, day_from, day_to, Path(tmp))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, path.name)
    return buf.getvalue()


def export_datev(ledger: Ledger, config: Config, day_from: date, day_to: date, created: datetime | None = None) -> bytes:
    """The DATEV EXTF Buchungsstapel (CP1252) of the closed days in the range."""
    cfg = config.get(DatevConfig)
    accounts = datev.SKR03 if cfg.chart == "SKR03" else datev.SKR04
    year = day_from.year if day_from.month >= cfg.fiscal_year_start_month else day_from.year - 1
    settings = datev.DatevSettings(advisor_number=cfg.advisor_number, client_number=cfg.client_number,
                                   fiscal_year_start=date(year, cfg.fiscal_year_start_month, 1),
                                   account_length=cfg.account_length, exported_by="storegw")
    tz = ZoneInfo(config.get(StoreConfig).timezone)
    stamp = (created or datetime.now(tz)).replace(tzinfo=None)
    return datev.export_extf(closings(ledger, config, day_from, day_to), accounts, settings, day_from, day_to, stamp)


def month_range(month: str) -> tuple[date, date]:
    """``"2026-12"`` -> (2026-12-01, 2026-12-31)."""
    first = date.fromisoformat(month + "-01")
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, date.fromordinal(nxt.toordinal() - 1)
