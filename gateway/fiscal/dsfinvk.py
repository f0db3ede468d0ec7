"""DSFinV-K 2.4 export writer: closings in, the 20 CSV files plus index.xml and the DTD out.

Conventions per fact sheet §4.2 ([S1] official index.xml, [S2] TWEECORE/dsfinvk): UTF-8,
``;`` between columns, CRLF after records, ``"`` as text encapsulator (only where needed),
header row first, decimal comma without grouping, booleans ``0``/``1``, empty for no value.
Every file is written, header-only when it has no rows. Aggregates (businesscases, payment,
cash_per_currency, Z_SE_*) are computed from Bons of type ``Beleg`` only; ``AV*`` Bons are
exported but stay out of the totals. Times: ``Z_ERSTELLUNG``/``BON_*``/``REF_DATUM`` as RFC 3339
with offset, TSE times as UTC ``…fffZ``.
"""

from __future__ import annotations

import csv
import io
import shutil
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .amounts import FiscalDataError, comma_amount, local_iso, qr_time, thousandths, vat_split
from .dsfinvk_records import Bon, BonVat, Closing, Line
from .dsfinvk_schema import DTD_NAME, GV_TYPES, REF_TYPES, TABLES, Column, Table
from .process_data import BON_TYPES, PAYMENT_TYPES

_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
_CERT_CHUNK = 1000
_CRLF_MARK = "\x00CRLF\x00"


@dataclass(frozen=True)
class ClosingTotals:
    """The Z report figures of one closing (what businesscases/payment/cash_per_currency hold)."""

    #: (GV_TYP, AGENTUR_ID, UST_SCHLUESSEL) -> (gross, net, vat)
    business_cases: dict[tuple[str, int, int], tuple[int, int, int]]
    #: (ZAHLART_TYP, ZAHLART_NAME) -> amount in base currency
    payments: dict[tuple[str, str], int]
    #: currency -> cash amount in that currency
    cash_per_currency: dict[str, int]
    all_payments: int
    cash_payments: int
    gross_per_vat: dict[int, int]


def _line_amounts(line: Line, rates: dict[int, int]) -> tuple[int, int]:
    if line.net is not None and line.vat is not None:
        return line.net, line.vat
    return vat_split(line.gross, _rate(rates, line.vat_key))


def _rate(rates: dict[int, int], key: int) -> int:
    try:
        return rates[key]
    except KeyError:
        raise FiscalDataError(f"UST_SCHLUESSEL {key} is not declared in vat.csv", vat_key=key) from None


def bon_vat(bon: Bon, rates: dict[int, int]) -> list[BonVat]:
    """The Bon's VAT rows: as given (printed values), else one split per key of the line sums."""
    if bon.vat is not None:
        return list(bon.vat)
    gross: dict[int, int] = defaultdict(int)
    for line in bon.lines:
        gross[line.vat_key] += line.gross
    out = []
    for key in sorted(gross):
        net, vat = vat_split(gross[key], _rate(rates, key))
        out.append(BonVat(key, gross[key], net, vat))
    return out


def closing_totals(closing: Closing) -> ClosingTotals:
    """Aggregate the Bons of type Beleg of ``closing`` (fact sheet §4.5)."""
    rates = {v.key: v.rate_bp for v in closing.vat_rates}
    cases: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    payments: dict[tuple[str, str], int] = defaultdict(int)
    cash: dict[str, int] = defaultdict(int)
    gross_per_vat: dict[int, int] = defaultdict(int)
    all_payments = cash_payments = 0
    base = closing.register.base_currency
    for bon in closing.bons:
        if bon.bon_type != "Beleg":
            continue
        for line in bon.lines:
            net, vat = _line_amounts(line, rates)
            acc = cases[(line.gv_type, line.agency_id, line.vat_key)]
            acc[0] += line.gross
            acc[1] += net
            acc[2] += vat
            gross_per_vat[line.vat_key] += line.gross
        for p in bon.payments:
            payments[(p.typ, p.name)] += p.amount
            all_payments += p.amount
            if p.typ == "Bar":
                cash_payments += p.amount
                foreign = p.currency != base and p.foreign_amount is not None
                cash[p.currency] += p.foreign_amount if foreign and p.foreign_amount is not None else p.amount
    return ClosingTotals(
        business_cases={k: (v[0], v[1], v[2]) for k, v in sorted(cases.items())},
        payments=dict(sorted(payments.items())),
        cash_per_currency=dict(sorted(cash.items())),
        all_payments=all_payments,
        cash_payments=cash_payments,
        gross_per_vat=dict(sorted(gross_per_vat.items())),
    )


def validate_closing(closing: Closing) -> None:
    """Cross-table checks; raises :class:`FiscalDataError` naming the Bon and the problem."""
    rates = {v.key for v in closing.vat_rates}
    tse_ids = {t.tse_id for t in closing.tses}
    seen: set[str] = set()
    for bon in closing.bons:
        where = f"Bon {bon.bon_id}"
        if bon.bon_id in seen:
            raise FiscalDataError(f"{where}: BON_ID used twice in closing {closing.z_nr}")
        seen.add(bon.bon_id)
        if bon.bon_type not in BON_TYPES:
            raise FiscalDataError(f"{where}: BON_TYP {bon.bon_type!r} is not allowed with a TSE")
        if bon.bon_type == "AVSonstige" and not bon.bon_name:
            raise FiscalDataError(f"{where}: AVSonstige needs BON_NAME")
        if bon.tse is not None and bon.tse.tse_id not in tse_ids:
            raise FiscalDataError(f"{where}: TSE_ID {bon.tse.tse_id} is not declared in tse.csv")
        if bon.tse is None:
            raise FiscalDataError(f"{where}: every Bon needs a TSE record (values or TSE_TA_FEHLER)")
        if sum(line.gross for line in bon.lines) != bon.total_gross:
            raise FiscalDataError(f"{where}: lines add up to {sum(x.gross for x in bon.lines)}, not {bon.total_gross}")
        if sum(v.gross for v in bon_vat(bon, {v.key: v.rate_bp for v in closing.vat_rates})) != bon.total_gross:
            raise FiscalDataError(f"{where}: VAT rows do not add up to UMS_BRUTTO")
        paid = sum(p.amount for p in bon.payments)
        if bon.bon_type == "Beleg" and paid != bon.total_gross:
            raise FiscalDataError(f"{where}: payments {paid} differ from UMS_BRUTTO {bon.total_gross}")
        if bon.bon_type in ("AVTraining", "AVBelegabbruch", "AVSachbezug") and paid:
            raise FiscalDataError(f"{where}: {bon.bon_type} must not carry a payment")
        for p in bon.payments:
            if p.typ not in PAYMENT_TYPES:
                raise FiscalDataError(f"{where}: ZAHLART_TYP {p.typ!r} unknown")
        for line in bon.lines:
            if line.vat_key not in rates:
                raise FiscalDataError(f"{where} line {line.line_no}: UST_SCHLUESSEL {line.vat_key} not in vat.csv")
            if line.gv_type not in GV_TYPES:
                raise FiscalDataError(f"{where} line {line.line_no}: GV_TYP {line.gv_type!r} unknown")
        for ref in bon.references:
            if ref.ref_type not in REF_TYPES:
                raise FiscalDataError(f"{where}: REF_TYP {ref.ref_type!r} unknown")


def _add(rows: dict[str, list[list[str]]], file: str, key: list[str], values: list[str]) -> None:
    rows[file].append([*key, *values])


def _unit_price(line: Line) -> int | None:
    """STK_BR: as given, else the line total for a single unit (other quantities stay empty)."""
    if line.unit_price is not None:
        return line.unit_price
    return line.gross if line.quantity == line.factor == 1000 else None


def _bool(value: bool) -> str:
    return "1" if value else "0"


def _opt_amount(value: int | None, places: int) -> str:
    return "" if value is None else comma_amount(value, places)


def _cert_chunks(certificate: str) -> list[str]:
    return [certificate[i : i + _CERT_CHUNK] for i in range(0, len(certificate), _CERT_CHUNK)] or [""]


def tables_for(closings: Sequence[Closing]) -> tuple[Table, ...]:
    """The table layout for these closings: tse.csv grows TSE_ZERTIFIKAT_III… when needed ([S2] p.79)."""
    chunks = max([len(_cert_chunks(t.certificate)) for c in closings for t in c.tses] or [2])
    if chunks <= 2:
        return TABLES
    if chunks > len(_ROMAN):
        raise FiscalDataError("TSE certificate longer than 10000 base64 characters")
    extra = tuple(Column(f"TSE_ZERTIFIKAT_{_ROMAN[i]}", False, max_length=_CERT_CHUNK) for i in range(2, chunks))
    return tuple(Table(t.file, t.name, t.columns + extra) if t.file == "tse.csv" else t for t in TABLES)


def closing_rows(closing: Closing, tables: Sequence[Table] = TABLES) -> dict[str, list[list[str]]]:
    """Rows (values in column order, without header) of every file for one closing."""
    validate_closing(closing)
    rates = {v.key: v.rate_bp for v in closing.vat_rates}
    z = [closing.cash_register_id, local_iso(closing.created), str(closing.z_nr)]
    rows: dict[str, list[list[str]]] = {t.file: [] for t in tables}
    totals = closing_totals(closing)
    co, loc, reg = closing.company, closing.location, closing.register
    bons = closing.bons
    _add(rows, "cashpointclosing.csv", z, [
        closing.business_day.isoformat(), closing.taxonomy_version,
        bons[0].bon_id if bons else "", bons[-1].bon_id if bons else "",
        co.name, co.street, co.postcode, co.city, co.country, co.tax_number, co.vat_id,
        comma_amount(totals.all_payments), comma_amount(totals.cash_payments),
    ])  # fmt: skip
    _add(rows, "location.csv", z, [loc.name, loc.street, loc.postcode, loc.city, loc.country, loc.vat_id])
    _add(rows, "cashregister.csv", z, [
        reg.brand, reg.model, reg.serial, reg.software_brand, reg.software_version,
        reg.base_currency, _bool(reg.no_vat_assignment),
    ])  # fmt: skip
    for t in closing.terminals:
        _add(rows, "slaves.csv", z, [t.terminal_id, t.brand, t.model, t.serial, t.software_brand, t.software_version])
    for a in closing.agencies:
        ad = a.address
        _add(rows, "pa.csv", z, [str(a.agency_id), ad.name, ad.street, ad.postcode, ad.city, ad.country,
                                   ad.tax_number, ad.vat_id])  # fmt: skip
    n_cert = len(next(t for t in tables if t.file == "tse.csv").columns) - 9
    for tse in closing.tses:
        chunks = _cert_chunks(tse.certificate)
        chunks += [""] * (n_cert - len(chunks))
        _add(rows, "tse.csv", z, [str(tse.tse_id), tse.serial, tse.signature_algorithm, tse.time_format,
                                    tse.process_data_encoding, tse.public_key, *chunks])  # fmt: skip
    for v in closing.vat_rates:
        _add(rows, "vat.csv", z, [str(v.key), comma_amount(v.rate_bp), v.description])
    for (gv, agency, key), (gross, net, vat) in totals.business_cases.items():
        _add(rows, "businesscases.csv", z, [gv, "", str(agency), str(key), comma_amount(gross, 5),
                                              comma_amount(net, 5), comma_amount(vat, 5)])  # fmt: skip
    for (typ, name), amount in totals.payments.items():
        _add(rows, "payment.csv", z, [typ, name, comma_amount(amount)])
    for currency, amount in totals.cash_per_currency.items():
        _add(rows, "cash_per_currency.csv", z, [currency, comma_amount(amount)])
    for bon in bons:
        _bon_rows(rows, z, bon, rates, closing.register.base_currency)
    return rows


def _bon_rows(rows: dict[str, list[list[str]]], z: list[str], bon: Bon, rates: dict[int, int], base: str) -> None:
    b = [*z, bon.bon_id]
    _add(rows, "transactions.csv", b, [
        str(bon.bon_nr), bon.bon_type, bon.bon_name, bon.terminal_id, _bool(bon.storno),
        local_iso(bon.start), local_iso(bon.end), bon.operator_id, bon.operator_name,
        comma_amount(bon.total_gross), bon.customer_name, bon.customer_id, bon.customer_type,
        bon.customer_street, bon.customer_postcode, bon.customer_city, bon.customer_country,
        bon.customer_vat_id, bon.note,
    ])  # fmt: skip
    for v in bon_vat(bon, rates):
        _add(rows, "transactions_vat.csv", b, [str(v.vat_key), comma_amount(v.gross, 5),
                                                 comma_amount(v.net, 5), comma_amount(v.vat, 5)])  # fmt: skip
    if bon.allocation_group:
        _add(rows, "allocation_groups.csv", b, [bon.allocation_group])
    for p in bon.payments:
        foreign = p.currency != base
        _add(rows, "datapayment.csv", b, [
            p.typ, p.name, p.currency if foreign else "",
            _opt_amount(p.foreign_amount, 2) if foreign else "", comma_amount(p.amount),
        ])  # fmt: skip
    t = bon.tse
    if t is not None:
        _add(rows, "transactions_tse.csv", b, [
            str(t.tse_id), "" if t.transaction_number is None else str(t.transaction_number),
            qr_time(t.start), qr_time(t.end), t.process_type,
            "" if t.signature_counter is None else str(t.signature_counter), t.signature,
            t.error[:200], t.process_data,
        ])  # fmt: skip
    for ref in bon.references:
        _add(rows, "references.csv", b, [
            ref.line_no, ref.ref_type, ref.name,
            local_iso(ref.closing_created) if ref.closing_created else "",
            ref.z_kasse_id, "" if ref.z_nr is None else str(ref.z_nr), ref.bon_id,
        ])  # fmt: skip
    for line in bon.lines:
        pos = [*b, line.line_no]
        net, vat = _line_amounts(line, rates)
        _add(rows, "lines.csv", pos, [
            line.voucher_no, line.text, line.terminal_id, line.gv_type, line.gv_name,
            _bool(line.in_house), _bool(line.voided), str(line.agency_id), line.article_no, line.gtin,
            line.group_id, line.group_name, thousandths(line.quantity), thousandths(line.factor), line.unit,
            _opt_amount(_unit_price(line), 5),
        ])  # fmt: skip
        _add(rows, "lines_vat.csv", pos, [str(line.vat_key), comma_amount(line.gross, 5),
                                          comma_amount(net, 5), comma_amount(vat, 5)])  # fmt: skip
        for pc in line.price_components:
            pc_net, pc_vat = (pc.net, pc.vat) if pc.net is not None and pc.vat is not None else vat_split(
                pc.gross, _rate(rates, pc.vat_key))
            _add(rows, "itemamounts.csv", pos, [pc.typ, str(pc.vat_key), comma_amount(pc.gross, 5),
                                                comma_amount(pc_net, 5), comma_amount(pc_vat, 5)])  # fmt: skip
        for s in line.subitems:
            _add(rows, "subitems.csv", pos, [
                s.article_no, s.gtin, s.name, s.group_id, s.group_name, thousandths(s.quantity),
                thousandths(s.factor), s.unit, "" if s.vat_key is None else str(s.vat_key),
                _opt_amount(s.base_gross, 5), _opt_amount(s.base_net, 5), _opt_amount(s.base_vat, 5),
            ])  # fmt: skip


def _check_lengths(table: Table, row: list[str]) -> None:
    if len(row) != len(table.columns):
        raise FiscalDataError(f"{table.file}: {len(row)} values for {len(table.columns)} columns")
    for col, value in zip(table.columns, row, strict=True):
        if not col.numeric and len(value) > col.max_length:
            raise FiscalDataError(f"{table.file} {col.name}: {value[:40]!r}… longer than {col.max_length}")


def csv_bytes(table: Table, rows: Iterable[list[str]]) -> bytes:
    """One DSFinV-K CSV file: header row, then the rows; UTF-8, ``;``, CRLF, minimal ``"`` quoting."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", quotechar='"', lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(table.column_names)
    for row in rows:
        _check_lengths(table, row)
        writer.writerow(row)
    return buf.getvalue().encode("utf-8")


def index_xml(tables: Sequence[Table] = TABLES, *, supplier: str = "", location: str = "", comment: str = "") -> bytes:
    """The GDPdU ``index.xml`` describing ``tables`` (DOCTYPE ``gdpdu-01-09-2004.dtd``)."""
    root = ET.Element("DataSet")
    ET.SubElement(root, "Version").text = "1.0"
    ds = ET.SubElement(root, "DataSupplier")
    ET.SubElement(ds, "Name").text = supplier
    ET.SubElement(ds, "Location").text = location
    ET.SubElement(ds, "Comment").text = comment or "DSFinV-K export"
    media = ET.SubElement(root, "Media")
    ET.SubElement(media, "Name").text = "DSFinV-K"
    for table in tables:
        el = ET.SubElement(media, "Table")
        ET.SubElement(el, "URL").text = table.file
        ET.SubElement(el, "Name").text = table.name
        ET.SubElement(el, "Description").text = table.file
        ET.SubElement(el, "UTF8")
        ET.SubElement(el, "DecimalSymbol").text = ","
        ET.SubElement(el, "DigitGroupingSymbol").text = "."
        ET.SubElement(ET.SubElement(el, "Range"), "From").text = "2"
        var = ET.SubElement(el, "VariableLength")
        ET.SubElement(var, "ColumnDelimiter").text = ";"
        ET.SubElement(var, "RecordDelimiter").text = _CRLF_MARK
        ET.SubElement(var, "TextEncapsulator").text = '"'
        for col in table.columns:
            c = ET.SubElement(var, "VariableColumn")
            ET.SubElement(c, "Name").text = col.name
            if col.numeric:
                num = ET.SubElement(c, "Numeric")
                if col.accuracy:
                    ET.SubElement(num, "Accuracy").text = str(col.accuracy)
            else:
                ET.SubElement(c, "AlphaNumeric")
                ET.SubElement(c, "MaxLength").text = str(col.max_length)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode").replace(_CRLF_MARK, "&#xD;&#xA;")
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE DataSet SYSTEM "{DTD_NAME}">\n'
    return (head + body + "\n").encode("utf-8")


def dtd_path() -> Path:
    """The shipped ``gdpdu-01-09-2004.dtd``."""
    return Path(__file__).with_name(DTD_NAME)


def write_export(closings: Sequence[Closing], out_dir: str | Path) -> list[Path]:
    """Write all 20 CSV files (header-only when empty), ``index.xml`` and the DTD into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = [(c.cash_register_id, c.z_nr) for c in closings]
    if len(set(keys)) != len(keys):
        raise FiscalDataError("the same closing (Z_KASSE_ID, Z_NR) appears twice in the export")
    tables = tables_for(closings)
    all_rows: dict[str, list[list[str]]] = {t.file: [] for t in tables}
    for closing in closings:
        for file, rows in closing_rows(closing, tables).items():
            all_rows[file].extend(rows)
    written = []
    for table in tables:
        path = out / table.file
        path.write_bytes(csv_bytes(table, all_rows[table.file]))
        written.append(path)
    company = closings[0].company if closings else None
    (out / "index.xml").write_bytes(
        index_xml(
            tables,
            supplier=company.name if company else "",
            location=f"{company.street}, {company.postcode} {company.city}" if company else "",
            comment=f"DSFinV-K {closings[0].taxonomy_version if closings else '2.4'}",
        )
    )
    shutil.copyfile(dtd_path(), out / DTD_NAME)
    return [*written, out / "index.xml", out / DTD_NAME]
