"""A demo business day signed with the software TSE: journal entries plus the closing records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from drivers.tse.software import SoftwareTse
from gateway.fiscal.dsfinvk_records import (
    Address,
    Bon,
    BonPayment,
    BonTse,
    CashRegister,
    Closing,
    Line,
    Reference,
    TseMaster,
    VatRate,
)
from gateway.fiscal.process_data import Payment, abort_process_data, receipt_process_data
from gateway.fiscal.signing import SaleSigner

CLIENT = "KASSE-01"
BERLIN = timezone(timedelta(hours=1))
RATES = {1: 1900, 2: 700, 5: 0}
CREATED = datetime(2026, 12, 4, 20, 0, 0, tzinfo=BERLIN)


@dataclass
class DemoDay:
    """What the demo produced: the journal (sales as the gateway stores them) and the closing."""

    journal: list[dict[str, Any]] = field(default_factory=list)
    closing: Closing | None = None
    tse: SoftwareTse | None = None


def _tse_record(tse_obj: dict[str, Any], began: datetime) -> BonTse:
    if tse_obj.get("failed"):
        end = datetime.fromisoformat(tse_obj["end"].replace("Z", "+00:00"))
        return BonTse(tse_id=1, start=began, end=end, error=tse_obj["reason"])
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return BonTse(
        tse_id=1,
        start=parse(tse_obj["start"]),
        end=parse(tse_obj["end"]),
        process_type=tse_obj["process_type"],
        transaction_number=tse_obj["transaction_number"],
        signature_counter=tse_obj["signature_counter"],
        signature=tse_obj["signature"],
        process_data=tse_obj["process_data"],
    )


async def build_demo_day(state_dir: Path) -> DemoDay:
    """Sign nine Vorgänge (sales, return, training, abort, cash movements, one in TSE outage)."""
    tse = SoftwareTse(state_dir)
    await tse.register_client(CLIENT)
    signer = SaleSigner(tse, CLIENT)
    day = DemoDay(tse=tse)
    bons: list[Bon] = []
    t0 = datetime(2026, 12, 4, 9, 0, tzinfo=BERLIN)

    async def vorgang(
        bon_type: str,
        lines: list[Line],
        payments: list[BonPayment],
        *,
        fail: bool = False,
        refs: tuple[Reference, ...] = (),
    ) -> Bon:
        n = len(bons) + 1
        began = t0 + timedelta(minutes=10 * n)
        started = await signer.start()
        if fail:
            tse.fail_next()
        gross: dict[int, int] = {}
        for line in lines:
            gross[line.vat_key] = gross.get(line.vat_key, 0) + line.gross
        if bon_type == "AVBelegabbruch":
            pd = abort_process_data()
        else:
            pd = receipt_process_data(bon_type, gross, [Payment.of_type(p.typ, p.amount) for p in payments])
        tse_obj = await signer.finish(started, "Kassenbeleg-V1", pd, bon_id=f"B{n:04d}", began=began)
        total = sum(line.gross for line in lines)
        bon = Bon(
            bon_id=f"B{n:04d}", bon_nr=n, bon_type=bon_type, start=began, end=began + timedelta(minutes=2),
            total_gross=total, lines=lines, payments=payments, tse=_tse_record(tse_obj, began.astimezone(UTC)),
            references=refs, operator_id="op-1",
        )  # fmt: skip
        bons.append(bon)
        day.journal.append({"bon_id": bon.bon_id, "type": bon_type, "total": total, "tse": tse_obj})
        if fail:
            await signer.try_recover()
        return bon

    first = await vorgang(
        "Beleg",
        [
            Line("1", "Kaffee 500g", 1, 1190, unit_price=1190, gtin="4000000000001"),
            Line("2", "Milch 1l", 2, 214, quantity=2000, unit_price=107),
            Line("3", "Tasche", 1, 100, unit_price=100),
            Line("4", "Tasche", 1, -100, quantity=-1000, unit_price=100, voided=True),
        ],
        [BonPayment("Bar", 1000, "Bargeld"), BonPayment("ECKarte", 404, "girocard")],
    )
    await vorgang("Beleg", [Line("1", "Äpfel lose", 2, 299, quantity=750, unit="kg", unit_price=398)],
                  [BonPayment("Bar", 299, "Bargeld")])  # fmt: skip
    await vorgang(
        "Beleg",
        [Line("1", "Kaffee 500g (Rückgabe)", 1, -1190, quantity=-1000, unit_price=1190)],
        [BonPayment("Bar", -1190, "Bargeld")],
        refs=(Reference("Transaktion", bon_id=first.bon_id, z_kasse_id=CLIENT, z_nr=8, closing_created=CREATED),),
    )
    await vorgang("AVTraining", [Line("1", "Schulung Kaffee", 1, 500)], [])
    await vorgang("AVBelegabbruch", [Line("1", "Brot", 2, 0, unit_price=250)], [])
    await vorgang("Beleg", [Line("1", "Einzahlung Bank", 5, -10000, gv_type="Geldtransit")],
                  [BonPayment("Bar", -10000, "Bargeld")])  # fmt: skip
    await vorgang("Beleg", [Line("1", "Schokolade", 1, 357)], [BonPayment("Kreditkarte", 357, "Visa")], fail=True)
    await vorgang("Beleg", [Line("1", "Wein", 1, 1000)],
                  [BonPayment("Bar", 1000, "Bargeld CHF", currency="CHF", foreign_amount=950)])  # fmt: skip
    await vorgang("Beleg", [Line("1", "Privatentnahme", 5, -5000, gv_type="Privatentnahme")],
                  [BonPayment("Bar", -5000, "Bargeld")])  # fmt: skip

    info = await tse.info()
    company = Address("Muster Markt GmbH", "Hauptstr. 1", "10115", "Berlin", "DEU", "DE123456789", "30/123/45678")
    day.closing = Closing(
        cash_register_id=CLIENT,
        z_nr=8,
        created=CREATED,
        business_day=date(2026, 12, 4),
        company=company,
        location=Address("Filiale Mitte", "Hauptstr. 1", "10115", "Berlin", "DEU", "DE123456789"),
        register=CashRegister(CLIENT, "storegw", "gateway", "storegw", "0.1.0"),
        vat_rates=[VatRate(1, 1900, "Regelsteuersatz"), VatRate(2, 700, "Ermäßigter Steuersatz"),
                   VatRate(5, 0, "Nicht Steuerbar")],
        bons=bons,
        tses=[TseMaster(1, info.serial_number, info.signature_algorithm, info.log_time_format, info.public_key,
                        info.certificate)],
    )
    return day
