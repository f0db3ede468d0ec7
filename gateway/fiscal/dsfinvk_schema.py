"""The 20 DSFinV-K 2.4 tables: file name, index.xml table name and columns in their fixed order.

Column names, order, types, maximum lengths and accuracies as declared in the official
DSFinV-K ``index.xml`` (fact sheet §4.1 and [S1]; cross-checked with [S2] TWEECORE/dsfinvk
``schema/tables_gen.go``, which is generated from that file). ``A50`` is AlphaNumeric with
MaxLength 50, ``N`` Numeric without decimals, ``N2`` Numeric with Accuracy 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column: ``numeric`` with ``accuracy`` decimals, or alphanumeric with ``max_length``."""

    name: str
    numeric: bool
    accuracy: int = 0
    max_length: int = 0


@dataclass(frozen=True)
class Table:
    """One DSFinV-K CSV file."""

    file: str
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """The header row."""
        return tuple(c.name for c in self.columns)


def _cols(spec: str) -> tuple[Column, ...]:
    out = []
    for item in spec.split():
        name, kind = item.split(":")
        if kind.startswith("A"):
            out.append(Column(name, False, max_length=int(kind[1:])))
        else:
            out.append(Column(name, True, accuracy=int(kind[1:] or 0)))
    return tuple(out)


_Z = "Z_KASSE_ID:A50 Z_ERSTELLUNG:A30 Z_NR:N "
_BON = _Z + "BON_ID:A40 "
_POS = _BON + "POS_ZEILE:A50 "

TABLES: tuple[Table, ...] = (
    # Stammdatenmodul
    Table("cashpointclosing.csv", "Stamm_Abschluss", _cols(
        _Z + "Z_BUCHUNGSTAG:A25 TAXONOMIE_VERSION:A10 Z_START_ID:A40 Z_ENDE_ID:A40 NAME:A60 STRASSE:A60"
        " PLZ:A10 ORT:A62 LAND:A3 STNR:A20 USTID:A15 Z_SE_ZAHLUNGEN:N2 Z_SE_BARZAHLUNGEN:N2")),
    Table("location.csv", "Stamm_Orte", _cols(
        _Z + "LOC_NAME:A60 LOC_STRASSE:A60 LOC_PLZ:A10 LOC_ORT:A62 LOC_LAND:A3 LOC_USTID:A15")),
    Table("cashregister.csv", "Stamm_Kassen", _cols(
        _Z + "KASSE_BRAND:A50 KASSE_MODELL:A50 KASSE_SERIENNR:A70 KASSE_SW_BRAND:A50 KASSE_SW_VERSION:A50"
        " KASSE_BASISWAEH_CODE:A3 KEINE_UST_ZUORDNUNG:A1")),
    Table("slaves.csv", "Stamm_Terminals", _cols(
        _Z + "TERMINAL_ID:A50 TERMINAL_BRAND:A50 TERMINAL_MODELL:A50 TERMINAL_SERIENNR:A70"
        " TERMINAL_SW_BRAND:A50 TERMINAL_SW_VERSION:A50")),
    Table("pa.csv", "Stamm_Agenturen", _cols(
        _Z + "AGENTUR_ID:N AGENTUR_NAME:A60 AGENTUR_STRASSE:A60 AGENTUR_PLZ:A10 AGENTUR_ORT:A62"
        " AGENTUR_LAND:A3 AGENTUR_STNR:A20 AGENTUR_USTID:A15")),
    Table("tse.csv", "Stamm_TSE", _cols(
        _Z + "TSE_ID:N TSE_SERIAL:A68 TSE_SIG_ALGO:A21 TSE_ZEITFORMAT:A31 TSE_PD_ENCODING:A5"
        " TSE_PUBLIC_KEY:A512 TSE_ZERTIFIKAT_I:A1000 TSE_ZERTIFIKAT_II:A1000")),
    Table("vat.csv", "Stamm_USt", _cols(_Z + "UST_SCHLUESSEL:N UST_SATZ:N2 UST_BESCHR:A55")),
    # Kassenabschlussmodul
    Table("businesscases.csv", "Z_GV_Typ", _cols(
        _Z + "GV_TYP:A30 GV_NAME:A40 AGENTUR_ID:N UST_SCHLUESSEL:N Z_UMS_BRUTTO:N5 Z_UMS_NETTO:N5 Z_UST:N5")),
    Table("payment.csv", "Z_Zahlart", _cols(_Z + "ZAHLART_TYP:A25 ZAHLART_NAME:A60 Z_ZAHLART_BETRAG:N2")),
    Table("cash_per_currency.csv", "Z_Waehrungen", _cols(_Z + "ZAHLART_WAEH:A3 ZAHLART_BETRAG_WAEH:N2")),
    # Einzelaufzeichnungsmodul
    Table("transactions.csv", "Bonkopf", _cols(
        _BON + "BON_NR:N BON_TYP:A30 BON_NAME:A60 TERMINAL_ID:A50 BON_STORNO:A1 BON_START:A30 BON_ENDE:A30"
        " BEDIENER_ID:A50 BEDIENER_NAME:A50 UMS_BRUTTO:N2 KUNDE_NAME:A50 KUNDE_ID:A50 KUNDE_TYP:A50"
        " KUNDE_STRASSE:A60 KUNDE_PLZ:A10 KUNDE_ORT:A62 KUNDE_LAND:A3 KUNDE_USTID:A15 BON_NOTIZ:A255")),
    Table("datapayment.csv", "Bonkopf_Zahlarten", _cols(
        _BON + "ZAHLART_TYP:A25 ZAHLART_NAME:A60 ZAHLWAEH_CODE:A3 ZAHLWAEH_BETRAG:N2 BASISWAEH_BETRAG:N2")),
    Table("lines.csv", "Bonpos", _cols(
        _POS + "GUTSCHEIN_NR:A50 ARTIKELTEXT:A255 POS_TERMINAL_ID:A50 GV_TYP:A30 GV_NAME:A40 INHAUS:A1"
        " P_STORNO:A1 AGENTUR_ID:N ART_NR:A50 GTIN:A50 WARENGR_ID:A40 WARENGR:A50 MENGE:N3 FAKTOR:N3"
        " EINHEIT:A50 STK_BR:N5")),
    Table("itemamounts.csv", "Bonpos_Preisfindung", _cols(
        _POS + "TYP:A20 UST_SCHLUESSEL:N PF_BRUTTO:N5 PF_NETTO:N5 PF_UST:N5")),
    Table("subitems.csv", "Bonpos_Zusatzinfo", _cols(
        _POS + "ZI_ART_NR:A50 ZI_GTIN:A50 ZI_NAME:A60 ZI_WARENGR_ID:A40 ZI_WARENGR:A50 ZI_MENGE:N3"
        " ZI_FAKTOR:N3 ZI_EINHEIT:A50 ZI_UST_SCHLUESSEL:N ZI_BASISPREIS_BRUTTO:N5 ZI_BASISPREIS_NETTO:N5"
        " ZI_BASISPREIS_UST:N5")),
    Table("transactions_tse.csv", "TSE_Transaktionen", _cols(
        _BON + "TSE_ID:N TSE_TANR:N TSE_TA_START:A30 TSE_TA_ENDE:A30 TSE_TA_VORGANGSART:A30 TSE_TA_SIGZ:N"
        " TSE_TA_SIG:A512 TSE_TA_FEHLER:A200 TSE_VORGANGSDATEN:A1000")),
    Table("transactions_vat.csv", "Bonkopf_USt", _cols(
        _BON + "UST_SCHLUESSEL:N BON_BRUTTO:N5 BON_NETTO:N5 BON_UST:N5")),
    Table("lines_vat.csv", "Bonpos_USt", _cols(
        _POS + "UST_SCHLUESSEL:N POS_BRUTTO:N5 POS_NETTO:N5 POS_UST:N5")),
    Table("allocation_groups.csv", "Bonkopf_AbrKreis", _cols(_BON + "ABRECHNUNGSKREIS:A50")),
    Table("references.csv", "Bon_Referenzen", _cols(
        _POS + "REF_TYP:A20 REF_NAME:A40 REF_DATUM:A30 REF_Z_KASSE_ID:A50 REF_Z_NR:N REF_BON_ID:A40")),
)

TABLES_BY_FILE = {t.file: t for t in TABLES}

#: The 25 GV_TYP values (fact sheet §4.3, [S2][S4]).
GV_TYPES = frozenset(
    "Umsatz Pfand PfandRueckzahlung Rabatt Aufschlag ZuschussEcht ZuschussUnecht TrinkgeldAG TrinkgeldAN"
    " EinzweckgutscheinKauf EinzweckgutscheinEinloesung MehrzweckgutscheinKauf MehrzweckgutscheinEinloesung"
    " Forderungsentstehung Forderungsaufloesung Anzahlungseinstellung Anzahlungsaufloesung Anfangsbestand"
    " Privatentnahme Privateinlage Geldtransit Lohnzahlung Einzahlung Auszahlung DifferenzSollIst".split()
)
#: REF_TYP values of references.csv ([S2]).
REF_TYPES = frozenset({"Transaktion", "ExterneRechnung", "ExternerLieferschein", "ExterneSonstige"})
TAXONOMY_VERSION = "2.4"
DTD_NAME = "gdpdu-01-09-2004.dtd"
