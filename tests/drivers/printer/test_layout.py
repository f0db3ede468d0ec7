"""Receipt layout: exact ESC/POS bytes for code page, text, marks, QR and cut."""

from __future__ import annotations

from dataclasses import replace

import pytest

from drivers.printer._escpos import Dummy
from drivers.printer.errors import PrinterConfigError
from drivers.printer.layout import ReceiptLayout
from drivers.printer.receipt import (
    Discount,
    FiscalBlock,
    Payment,
    Receipt,
    ReceiptHeader,
    ReceiptLine,
    VatEntry,
)
from drivers.printer.render import render_bytes, slip_to_text

INIT_CP858 = bytes.fromhex("1b40 1b7413")


def sample_receipt(**changes: object) -> Receipt:
    receipt = Receipt(
        header=ReceiptHeader("Bäckerei Müller", ["Hauptstr. 1", "50667 Köln"], vat_id="DE123456789"),
        receipt_no="1-42",
        timestamp="04.12.2026 20:30",
        lines=[
            ReceiptLine("Brötchen", 120, "B", quantity_milli=3000, unit_price_cents=40),
            ReceiptLine("Käse", 1591, "B", unit_price_cents=2990, weight_g=532),
            ReceiptLine("Kaffee", 350, "A"),
        ],
        total_cents=1961,
        cashier="Anna",
        register_id="1",
        discounts=[Discount("Rabatt 10%", -100, "B")],
        vat_table=[VatEntry("A", 1900, 294, 56, 350), VatEntry("B", 700, 1506, 105, 1611)],
        payments=[Payment("Bar", 5000)],
        change_cents=3039,
        fiscal=FiscalBlock("SERIAL123", 17, 1234, "2026-12-04T20:30:00", "2026-12-04T20:30:05", "SIGNATURE=="),
        qr_data="V0;1;Kassenbeleg-V1;Beleg^19.61",
        footer_lines=["Vielen Dank!"],
    )
    return replace(receipt, **changes)  # type: ignore[arg-type]


def test_job_starts_with_init_and_forced_cp858() -> None:
    p = ReceiptLayout().new_job()
    p.textln("Äöüß €")
    assert p.output == INIT_CP858 + bytes.fromhex("8e 94 81 e1 20 d5 0a")


def test_cp1252_code_page() -> None:
    p = ReceiptLayout(code_page="CP1252").new_job()
    p.textln("Äöüß €")
    assert p.output == bytes.fromhex("1b40 1b7410 c4 f6 fc df 20 80 0a")


def test_profile_default_would_put_euro_on_greek_page() -> None:
    # Why the code page is forced: python-escpos' automatic choice (fact sheet §1.5).
    d = Dummy(profile="TM-T88V")
    d.text("Ä€")
    assert d.output == bytes.fromhex("1b7400 8e 1b740f a4")


def test_finish_cuts_partially_after_feed() -> None:
    layout = ReceiptLayout()
    p = layout.new_job()
    assert layout.finish(p).endswith(bytes.fromhex("1b6406 1d5601"))
    full = ReceiptLayout(cut="FULL")
    assert full.finish(full.new_job()).endswith(bytes.fromhex("1b6406 1d5600"))


def test_banner_bytes() -> None:
    layout = ReceiptLayout()
    p = layout.new_job()
    layout.banner(p, "KOPIE")
    assert p.output[len(INIT_CP858):] == (
        bytes.fromhex("1b2100 1b2100 1b2130 1b4501 1b6101") + b"KOPIE\n"
        + bytes.fromhex("1b2100 1b2100 1b2100 1b4500 1b6100")
    )


def test_native_qr_bytes() -> None:
    layout = ReceiptLayout(qr_native=True, qr_size=3)
    p = layout.new_job()
    layout.qr(p, "HELLO")
    assert bytes.fromhex(
        "1d286b0400314132 00 1d286b03003143 03 1d286b03003145 30 1d286b0800315030 48454c4c4f 1d286b0300315130"
    ) in p.output


def test_image_qr_when_profile_lacks_qr() -> None:
    layout = ReceiptLayout(profile="simple", code_page="CP437")
    assert layout.qr_native is False
    p = layout.new_job()
    layout.qr(p, "HELLO")
    assert b"\x1dv0" in p.output and b"\x1d(k" not in p.output


def test_code_page_must_exist_in_profile() -> None:
    # TM-T88II's table has no PC858: the euro-capable choice there is CP1252 (slot 16).
    with pytest.raises(PrinterConfigError, match="no code page 'CP858'"):
        ReceiptLayout(profile="TM-T88II")
    p = ReceiptLayout(profile="TM-T88II", code_page="CP1252").new_job()
    p.text("€")
    assert p.output == bytes.fromhex("1b40 1b7410 80")


def test_receipt_text_content() -> None:
    text = slip_to_text(render_bytes(ReceiptLayout().render(sample_receipt())))
    lines = text.splitlines()
    assert "Brötchen                            1,20 B" in lines
    assert "  3 x 0,40 €" in lines
    assert "  0,532 kg x 29,90 €/kg" in lines
    assert "Rabatt 10%                         -1,00 B" in lines
    assert "SUMME                              19,61 €" in lines
    assert "Rückgeld                           30,39 €" in lines
    assert "A    19,00 %      2,94      0,56      3,50" in lines
    assert "TSE-Seriennummer: SERIAL123" in lines and "TSE-Signatur: SIGNATURE==" in lines
    assert "TSE-Signaturzähler: 1234" in lines
    assert any("[QR: V0;1;Kassenbeleg-V1;Beleg^19.61]" in line for line in lines)
    assert "KOPIE" not in text and "TRAININGSBON" not in text and "TSE ausgefallen" not in text
    assert lines[-1].startswith("- - partial cut")


def test_marks_printed_top_and_bottom() -> None:
    data = ReceiptLayout().render(sample_receipt(copy=True, training=True, tse_failure=True))
    text = slip_to_text(render_bytes(data))
    for mark in ("*** KOPIE ***", "TRAININGSBON", "Kein gültiger Kaufbeleg", "TSE ausgefallen",
                 "Sicherheitseinrichtung ausgefallen"):
        assert text.count(mark) == 2, mark


def test_whole_receipt_exact_prefix() -> None:
    header = ReceiptHeader("Bäckerei Müller am Dom zu Köln")
    data = ReceiptLayout().render(sample_receipt(header=header, lines=[], discounts=[], vat_table=[],
                                                 payments=[], fiscal=None, qr_data="", footer_lines=[]))
    # Double width: the store name is cut to half the columns (21).
    assert data.startswith(
        INIT_CP858 + bytes.fromhex("1b6101 1b2100 1b2100 1b2130 1b4501") + "Bäckerei Müller am Do\n".encode("cp858")
    )


def test_test_page_and_text_job() -> None:
    layout = ReceiptLayout(profile="TM-T88V")
    text = slip_to_text(render_bytes(layout.test_page("Kasse 1")))
    assert "Umlaute: ÄÖÜ äöü ß" in text and "Euro: 1.234,56 €" in text and "Profil: TM-T88V" in text
    job = layout.text_job(["x" * 50], title="Hinweis")
    assert slip_to_text(render_bytes(job)).splitlines()[1:3] == ["x" * 42, "x" * 8]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"profile": "No-Such-Printer"}, "unknown printer profile"),
     ({"profile": "simple"}, "no code page 'CP858'"),
     ({"cut": "HALF"}, "cut must be"),
     ({"columns": 5}, "columns must be"),
     ({"qr_size": 0}, "qr_size")],
)
def test_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(PrinterConfigError, match=match):
        ReceiptLayout(**kwargs)  # type: ignore[arg-type]
