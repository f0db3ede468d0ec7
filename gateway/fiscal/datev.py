"""DATEV EXTF Buchungsstapel export of day closings (format category 21, version 700/13).

File rules per fact sheet §5 ([S18] DATEV developer portal, [S19] ERPNext, [S37]): CP1252,
``;`` separated, CRLF, text in ``"`` with doubled inner quotes, decimal comma without grouping,
line 1 the metadata header, line 2 the column names (all 125 of format version 13), data from
line 3; amounts always positive with an S/H flag relative to ``Konto``; Belegdatum ``TTMM``.

Postings are derived from the same closing records as the DSFinV-K export, so both reconcile
to the cent: per Bon of type ``Beleg`` the money side (payments by money account) is matched
against the goods side (lines by counter account) in cents, then summed per closing.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from .amounts import FiscalDataError, comma_amount
from .dsfinvk_records import Bon, Closing

_INFO = [f"Beleginfo - {kind} {i}" for i in range(1, 9) for kind in ("Art", "Inhalt")]
_EXTRA = [f"Zusatzinformation - {kind} {i}" for i in range(1, 21) for kind in ("Art", "Inhalt")]
#: The 125 column names of Buchungsstapel format version 13, in order (names per [S19] ERPNext
#: for columns 1-120, plus the five columns 121-125 that format 13 added).
EXTF_COLUMNS: tuple[str, ...] = (
    "Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz",
    "WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum",
    "Belegfeld 1", "Belegfeld 2", "Skonto", "Buchungstext", "Postensperre", "Diverse Adressnummer",
    "Geschäftspartnerbank", "Sachverhalt", "Zinssperre", "Beleglink", *_INFO,
    "KOST1 - Kostenstelle", "KOST2 - Kostenstelle", "KOST-Menge", "EU-Mitgliedstaat u. USt-IdNr.",
    "EU-Steuersatz", "Abw. Versteuerungsart", "Sachverhalt L+L", "Funktionsergänzung L+L",
    "BU 49 Hauptfunktionstyp", "BU 49 Hauptfunktionsnummer", "BU 49 Funktionsergänzung", *_EXTRA,
    "Stück", "Gewicht", "Zahlweise", "Forderungsart", "Veranlagungsjahr", "Zugeordnete Fälligkeit",
    "Skontotyp", "Auftragsnummer", "Buchungstyp", "USt-Schlüssel (Anzahlungen)",
    "EU-Mitgliedstaat (Anzahlungen)", "Sachverhalt L+L (Anzahlungen)", "EU-Steuersatz (Anzahlungen)",
    "Erlöskonto (Anzahlungen)", "Herkunft-Kz", "Leerfeld", "KOST-Datum", "SEPA-Mandatsreferenz",
    "Skontosperre", "Gesellschaftername", "Beteiligtennummer", "Identifikationsnummer", "Zeichnernummer",
    "Postensperre bis", "Bezeichnung SoBil-Sachverhalt", "Kennzeichen SoBil-Buchung", "Festschreibung",
    "Leistungsdatum", "Datum Zuord. Steuerperiode", "Fälligkeit", "Generalumkehr (GU)", "Steuersatz",
    "Land", "Abrechnungsreferenz", "BVV-Position", "EU-Mitgliedstaat u. UStID (Ursprung)",
    "EU-Steuersatz (Ursprung)", "Abw. Skontokonto",
)  # fmt: skip

#: GV_TYP whose counter account is the revenue account of the line's VAT key.
REVENUE_GV_TYPES = frozenset(
    {"Umsatz", "Rabatt", "Aufschlag", "Pfand", "PfandRueckzahlung", "EinzweckgutscheinKauf", "ZuschussUnecht"}
)


@dataclass(frozen=True)
class DatevAccounts:
    """Account mapping of one chart (SKR03/SKR04); confirm every account with the tax advisor."""

    chart: str
    cash: int
    transit: int
    #: UST_SCHLUESSEL -> revenue account (automatic accounts: DATEV posts the VAT itself)
    revenue: Mapping[int, int]
    #: GV_TYP -> counter account for business cases that are not revenue
    business_cases: Mapping[str, int] = field(default_factory=dict)
    #: ZAHLART_TYP -> money account for non-cash payments (default: ``transit``)
    non_cash: Mapping[str, int] = field(default_factory=dict)
    #: revenue account -> BU key, only for accounts that are not automatic accounts
    bu_keys: Mapping[int, str] = field(default_factory=dict)

    def counter_account(self, gv_type: str, vat_key: int) -> int:
        """Counter account of a line; raises naming what to configure when there is none."""
        if gv_type in REVENUE_GV_TYPES:
            if vat_key not in self.revenue:
                raise FiscalDataError(f"no revenue account for UST_SCHLUESSEL {vat_key} in SKR{self.chart}")
            return self.revenue[vat_key]
        if gv_type not in self.business_cases:
            raise FiscalDataError(f"no account configured for business case {gv_type} in SKR{self.chart}")
        return self.business_cases[gv_type]

    def money_account(self, zahlart_typ: str) -> int:
        """Money account of a payment: the till for cash, else the card/transit clearing account."""
        return self.cash if zahlart_typ == "Bar" else self.non_cash.get(zahlart_typ, self.transit)

    def is_money(self, account: int) -> bool:
        """True for the till and clearing accounts (they go into ``Konto``)."""
        return account in (self.cash, self.transit, *self.non_cash.values())


# Defaults per fact sheet §5.4 ([S20b][S36]); private accounts are [K] and SKR04 private
# accounts (2100/2180) are the usual ones - confirm both with the tax advisor.
SKR03 = DatevAccounts(
    "03", cash=1000, transit=1360, revenue={1: 8400, 2: 8300},
    business_cases={"Geldtransit": 1360, "Privatentnahme": 1800, "Privateinlage": 1890},
)  # fmt: skip
SKR04 = DatevAccounts(
    "04", cash=1600, transit=1460, revenue={1: 4400, 2: 4300},
    business_cases={"Geldtransit": 1460, "Privatentnahme": 2100, "Privateinlage": 2180},
)  # fmt: skip


@dataclass(frozen=True)
class DatevSettings:
    """Header values of the EXTF file."""

    advisor_number: int
    client_number: int
    fiscal_year_start: date
    account_length: int = 4
    exported_by: str = ""
    label: str = "Kasse"
    dictation: str = ""
    fixed: bool = False
    origin: str = "RE"


@dataclass(frozen=True)
class Posting:
    """One booking line: ``amount`` positive cents, ``debit`` True for S relative to ``account``."""

    amount: int
    debit: bool
    account: int
    contra_account: int
    day: date
    document: str
    text: str
    bu_key: str = ""


def _bon_flows(bon: Bon, accounts: DatevAccounts) -> list[tuple[int, int, int, str]]:
    """Match a Bon's debits with its credits: (debit account, credit account, cents, label)."""
    # each side: (account, label) entries with their remaining amounts alongside
    debits: list[tuple[int, str]] = []
    credits: list[tuple[int, str]] = []
    d_left: list[int] = []
    c_left: list[int] = []
    for p in bon.payments:
        if p.typ == "Keine" or p.amount == 0:
            continue
        entry = (accounts.money_account(p.typ), "")
        if p.amount > 0:
            debits.append(entry)
            d_left.append(p.amount)
        else:
            credits.append(entry)
            c_left.append(-p.amount)
    for line in bon.lines:
        if line.gross == 0:
            continue
        entry = (accounts.counter_account(line.gv_type, line.vat_key), f"{line.gv_type} USt-Schl. {line.vat_key}")
        if line.gross > 0:
            credits.append(entry)
            c_left.append(line.gross)
        else:
            debits.append(entry)
            d_left.append(-line.gross)
    flows = []
    i = j = 0
    while i < len(debits) and j < len(credits):
        amount = min(d_left[i], c_left[j])
        flows.append((debits[i][0], credits[j][0], amount, credits[j][1] or debits[i][1]))
        d_left[i] -= amount
        c_left[j] -= amount
        i += d_left[i] == 0
        j += c_left[j] == 0
    if i < len(debits) or j < len(credits):
        raise FiscalDataError(f"Bon {bon.bon_id}: payments and lines do not balance")
    return flows


def postings(closing: Closing, accounts: DatevAccounts) -> list[Posting]:
    """The DATEV postings of one closing (Bons of type Beleg only, like the DSFinV-K totals)."""
    sums: dict[tuple[int, int, str], int] = defaultdict(int)
    for bon in closing.bons:
        if bon.bon_type != "Beleg":
            continue
        for debit, credit, amount, label in _bon_flows(bon, accounts):
            sums[(debit, credit, label)] += amount
    document = f"Z-{closing.z_nr:06d}"
    out = []
    for (debit, credit, label), amount in sums.items():
        if amount == 0:
            continue
        # the money account goes into Konto so the till's bookings read as the Kassenbuch does
        if accounts.is_money(credit) and not accounts.is_money(debit):
            account, contra, is_debit = credit, debit, False
        else:
            account, contra, is_debit = debit, credit, True
        bu = accounts.bu_keys.get(contra, accounts.bu_keys.get(account, ""))
        text = f"{label} {document}".strip()
        out.append(Posting(amount, is_debit, account, contra, closing.business_day, document, text, bu))
    return out


def _quote(text: str) -> str:
    if any(ch in text for ch in "\r\n"):
        raise FiscalDataError(f"DATEV text fields may not contain line breaks: {text!r}")
    return '"' + text.replace('"', '""') + '"'


def header_line(settings: DatevSettings, period_from: date, period_to: date, chart: str, created: datetime) -> str:
    """Line 1: the EXTF metadata header, 31 fields (fact sheet §5.2)."""
    stamp = created.strftime("%Y%m%d%H%M%S") + f"{created.microsecond // 1000:03d}"
    fields = [
        _quote("EXTF"), "700", "21", _quote("Buchungsstapel"), "13", stamp, "", _quote(settings.origin),
        _quote(settings.exported_by), _quote(""), str(settings.advisor_number), str(settings.client_number),
        settings.fiscal_year_start.strftime("%Y%m%d"), str(settings.account_length),
        period_from.strftime("%Y%m%d"), period_to.strftime("%Y%m%d"), _quote(settings.label[:30]),
        _quote(settings.dictation), "1", "0", "1" if settings.fixed else "0", _quote("EUR"),
        "", _quote(""), "", "", _quote(chart), "", "", _quote(""), _quote(""),
    ]  # fmt: skip
    return ";".join(fields)


def _row(p: Posting) -> str:
    values = [""] * len(EXTF_COLUMNS)
    values[0] = comma_amount(p.amount)
    values[1] = _quote("S" if p.debit else "H")
    values[2] = _quote("EUR")
    values[6] = str(p.account)
    values[7] = str(p.contra_account)
    values[8] = _quote(p.bu_key) if p.bu_key else ""
    values[9] = p.day.strftime("%d%m")
    values[10] = _quote(p.document[:36])
    values[13] = _quote(p.text[:60])
    return ";".join(values)


def export_extf(
    closings: Sequence[Closing],
    accounts: DatevAccounts,
    settings: DatevSettings,
    period_from: date,
    period_to: date,
    created: datetime,
) -> bytes:
    """The EXTF file (CP1252 bytes) for all closings whose business day is in the period."""
    if period_from > period_to or period_from.year != period_to.year:
        raise FiscalDataError("a DATEV batch covers one period within one calendar year")
    lines = [header_line(settings, period_from, period_to, accounts.chart, created), ";".join(EXTF_COLUMNS)]
    for closing in sorted(closings, key=lambda c: (c.business_day, c.z_nr)):
        if not period_from <= closing.business_day <= period_to:
            raise FiscalDataError(f"closing {closing.z_nr} of {closing.business_day} is outside the period")
        lines.extend(_row(p) for p in postings(closing, accounts))
    text = "\r\n".join(lines) + "\r\n"
    try:
        return text.encode("cp1252")
    except UnicodeEncodeError as err:
        raise FiscalDataError(f"text not representable in CP1252: {text[err.start : err.end]!r}") from err


def parse_amount(text: str) -> int:
    """``"119,00"`` -> 11900, ``"-1,50"`` -> -150 (for reading back exported files)."""
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("+-").partition(",")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))


def read_postings(data: bytes) -> list[dict[str, str]]:
    """Parse an EXTF file back into rows keyed by column name (data lines only)."""
    reader = csv.reader(io.StringIO(data.decode("cp1252")), delimiter=";", quotechar='"')
    rows = list(reader)
    names = rows[1]
    return [dict(zip(names, r, strict=True)) for r in rows[2:]]
