"""Turns a ``Receipt`` (and test pages, plain text jobs) into ESC/POS bytes via python-escpos.

The bytes are produced by python-escpos 3.1's recording ``Dummy`` printer configured with the
printer's capability profile, so the same bytes go to a USB, serial or network printer and
exact-byte tests need no device. The code page is forced once per job (``ESC t n``) instead of
python-escpos' per-character automatic choice, which would print ``€`` on slot 15 (Greek) on
most profiles (fact sheet peripherals.md §1.5: "Äöüß €" with CP858 = ``1B 74 13 8E 94 81 E1 20
D5``).
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from drivers.printer._escpos import Dummy, EscposLibraryError, capabilities
from drivers.printer.errors import PrinterConfigError
from drivers.printer.receipt import (
    Receipt,
    ReceiptLine,
    format_cents,
    format_milli,
    format_money,
    format_rate,
    format_weight,
)

DEFAULT_CODE_PAGE = "CP858"

COPY_MARK = "*** KOPIE ***"
TRAINING_MARK = "TRAININGSBON"
TRAINING_NOTE = "Kein gültiger Kaufbeleg"
TSE_FAILURE_MARK = "TSE ausgefallen"
TSE_FAILURE_NOTE = "Sicherheitseinrichtung ausgefallen"


class ReceiptLayout:
    """Renders documents for one printer model: profile, forced code page and paper width.

    ``profile`` is a python-escpos profile name (e.g. ``"TM-T88V"``), ``code_page`` a code page
    the profile lists (``"CP858"`` has € and all German umlauts), ``columns`` the characters per
    line of font A (defaults to the profile's), ``qr_native`` chooses ``GS ( k`` over a raster
    image (defaults to the profile's ``qrCode`` feature), ``cut`` is ``"PART"`` or ``"FULL"``.
    """

    def __init__(
        self,
        profile: str = "default",
        code_page: str = DEFAULT_CODE_PAGE,
        columns: int | None = None,
        qr_native: bool | None = None,
        qr_size: int = 4,
        cut: str = "PART",
    ) -> None:
        try:
            self.profile = capabilities.get_profile(profile)
        except KeyError as err:
            raise PrinterConfigError(f"unknown printer profile {profile!r}") from err
        pages = self.profile.get_code_pages()
        if code_page not in pages:
            raise PrinterConfigError(
                f"profile {profile!r} has no code page {code_page!r}; it offers {sorted(pages)}"
            )
        if cut not in ("PART", "FULL"):
            raise PrinterConfigError(f"cut must be PART or FULL, got {cut!r}")
        if not 1 <= qr_size <= 16:
            raise PrinterConfigError(f"qr_size must be 1..16, got {qr_size}")
        self.profile_name = profile
        self.code_page = code_page
        self.columns = columns or self.profile.get_columns(0)
        if not 16 <= self.columns <= 80:
            raise PrinterConfigError(f"columns must be 16..80, got {self.columns}")
        self.qr_native = self.profile.supports("qrCode") if qr_native is None else qr_native
        self.qr_size = qr_size
        self.cut = cut

    # -- building blocks ------------------------------------------------------------------

    def new_job(self) -> Dummy:
        """A recording printer that starts with ``ESC @`` and the forced code page."""
        p = Dummy(profile=self.profile_name)
        p.hw("INIT")
        # python-escpos 3.1 does not know that ESC @ resets the code page (fixed only after
        # 3.1, PR #729); forgetting its cached encoding makes charcode() emit ESC t again.
        p.magic.encoding = None
        p.charcode(self.code_page)
        return p

    def finish(self, p: Dummy) -> bytes:
        """Feed, cut and return the bytes of the job."""
        p.set(align="left", bold=False, normal_textsize=True)
        p.cut(mode=self.cut)
        return bytes(p.output)

    def lr(self, left: str, right: str) -> str:
        """``left`` and ``right`` on one line of ``columns`` characters, left side truncated."""
        room = self.columns - len(right) - 1
        return f"{left[:room]:<{room}} {right}"

    def wrap(self, text: str, indent: str = "") -> list[str]:
        """Word-wrap ``text`` to the paper width (long tokens such as signatures are split)."""
        return textwrap.wrap(
            text, self.columns, initial_indent=indent, subsequent_indent=indent, break_long_words=True
        ) or [""]

    def banner(self, p: Dummy, text: str, note: str = "") -> None:
        """A centred, bold, double-size line (marks, store name) and an optional normal note."""
        p.set(align="center", bold=True, double_height=True, double_width=True)
        p.textln(text[: self.columns // 2])
        p.set(bold=False, normal_textsize=True)
        if note:
            p.textln(note)
        p.set(align="left")

    def qr(self, p: Dummy, data: str) -> None:
        """A centred QR code, native ``GS ( k`` or raster image depending on the profile."""
        p.set(align="center")
        # python-escpos prints warnings to stdout ("media.width.pixel ... not set"); a daemon's
        # stdout is the journal, so they are swallowed here.
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                p.qr(data, size=self.qr_size, native=self.qr_native)
            except (EscposLibraryError, ValueError) as err:
                raise PrinterConfigError(f"cannot print QR code: {err}") from err
        p.ln()
        p.set(align="left")

    # -- documents --------------------------------------------------------------------------

    def render(self, receipt: Receipt) -> bytes:
        """ESC/POS bytes of a complete receipt, ending with a cut."""
        p = self.new_job()
        self._marks(p, receipt)
        self._header(p, receipt)
        for line in self._item_lines(receipt):
            p.textln(line)
        self._totals(p, receipt)
        self._fiscal(p, receipt)
        if receipt.qr_data:
            self.qr(p, receipt.qr_data)
        if receipt.footer_lines:
            p.set(align="center")
            for text in receipt.footer_lines:
                p.textln(text[: self.columns])
            p.set(align="left")
        self._marks(p, receipt)
        return self.finish(p)

    def render_pair(self, receipt: Receipt) -> tuple[bytes, bytes]:
        """The receipt and its copy variant, for ``PrintQueue.submit(job_id, *pair)``."""
        return self.render(replace(receipt, copy=False)), self.render(replace(receipt, copy=True))

    def text_job(self, lines: list[str], title: str = "") -> bytes:
        """A plain slip with an optional bold title (the ``print`` device command)."""
        p = self.new_job()
        if title:
            self.banner(p, title)
        for line in lines:
            for part in self.wrap(line):
                p.textln(part)
        return self.finish(p)

    def test_page(self, printer_name: str = "") -> bytes:
        """A self-test slip: profile, code page, German characters, widths, styles and a QR code."""
        p = self.new_job()
        self.banner(p, "Testseite", printer_name)
        for line in (
            f"Profil: {self.profile_name}",
            f"Codepage: {self.code_page}",
            f"Spalten: {self.columns}",
            "Umlaute: ÄÖÜ äöü ß",
            f"Euro: {format_money(123456)}",
        ):
            p.textln(line)
        p.textln(("1234567890" * 8)[: self.columns])
        p.set(bold=True)
        p.textln("Fett")
        p.set(bold=False, double_height=True)
        p.textln("Doppelte Höhe")
        p.set(normal_textsize=True)
        self.qr(p, "https://storegw.org/test")
        return self.finish(p)

    # -- receipt sections -------------------------------------------------------------------

    def _marks(self, p: Dummy, receipt: Receipt) -> None:
        if receipt.training:
            self.banner(p, TRAINING_MARK, TRAINING_NOTE)
        if receipt.copy:
            self.banner(p, COPY_MARK)
        if receipt.tse_failure:
            self.banner(p, TSE_FAILURE_MARK, TSE_FAILURE_NOTE)

    def _header(self, p: Dummy, receipt: Receipt) -> None:
        head = receipt.header
        p.set(align="center")
        for text in head.logo_lines:
            p.textln(text[: self.columns])
        p.set(bold=True, double_height=True, double_width=True)
        p.textln(head.store_name[: self.columns // 2])
        p.set(bold=False, normal_textsize=True)
        for text in head.address_lines:
            p.textln(text[: self.columns])
        if head.vat_id:
            p.textln(f"USt-IdNr.: {head.vat_id}")
        if head.tax_number:
            p.textln(f"St.-Nr.: {head.tax_number}")
        p.set(align="left")
        p.ln()
        p.textln(self.lr(f"Bon {receipt.receipt_no}", receipt.timestamp))
        who = "  ".join(
            part
            for part in (
                f"Kasse {receipt.register_id}" if receipt.register_id else "",
                f"Bediener {receipt.cashier}" if receipt.cashier else "",
            )
            if part
        )
        if who:
            p.textln(who)
        p.textln("-" * self.columns)

    def _item_lines(self, receipt: Receipt) -> Iterator[str]:
        for item in receipt.lines:
            yield self.lr(item.text, f"{format_cents(item.amount_cents)} {item.vat_letter}")
            detail = self._item_detail(item)
            if detail:
                yield detail
        for disc in receipt.discounts:
            yield self.lr(disc.text, f"{format_cents(disc.amount_cents)} {disc.vat_letter}".rstrip())

    @staticmethod
    def _item_detail(item: ReceiptLine) -> str:
        if item.weight_g is not None:
            unit = f" x {format_money(item.unit_price_cents)}/kg" if item.unit_price_cents else ""
            return f"  {format_weight(item.weight_g)}{unit}"
        if item.quantity_milli != 1000:
            unit = f" x {format_money(item.unit_price_cents)}" if item.unit_price_cents else ""
            return f"  {format_milli(item.quantity_milli)}{unit}"
        return ""

    def _totals(self, p: Dummy, receipt: Receipt) -> None:
        p.textln("=" * self.columns)
        p.set(bold=True, double_height=True)
        p.textln(self.lr("SUMME", format_money(receipt.total_cents)))
        p.set(bold=False, normal_textsize=True)
        for pay in receipt.payments:
            p.textln(self.lr(pay.method, format_money(pay.amount_cents)))
            for text in pay.details:
                for part in self.wrap(text, "  "):
                    p.textln(part)
        if receipt.change_cents:
            p.textln(self.lr("Rückgeld", format_money(receipt.change_cents)))
        if receipt.vat_table:
            p.ln()
            for row in self._vat_rows(receipt):
                p.textln(row)

    def _vat_rows(self, receipt: Receipt) -> Iterator[str]:
        w = (self.columns - 2) * 10 // 38
        rate_w = self.columns - 2 - 3 * w

        def row(cells: tuple[str, str, str, str, str]) -> str:
            a, b, c, d, e = cells
            return f"{a:<2}{b:>{rate_w}}{c:>{w}}{d:>{w}}{e:>{w}}"

        yield row(("", "MwSt", "Netto", "Steuer", "Brutto"))
        for v in receipt.vat_table:
            yield row(
                (
                    v.letter,
                    format_rate(v.rate_basis_points),
                    format_cents(v.net_cents),
                    format_cents(v.vat_cents),
                    format_cents(v.gross_cents),
                )
            )

    def _fiscal(self, p: Dummy, receipt: Receipt) -> None:
        f = receipt.fiscal
        if f is None:
            return
        p.ln()
        p.set(font="b")
        fields: list[tuple[str, Any]] = [
            ("TSE-Seriennummer", f.tse_serial),
            ("TSE-Transaktion", f.transaction_number),
            ("TSE-Signaturzähler", f.signature_counter),
            ("TSE-Start", f.start_time),
            ("TSE-Ende", f.end_time),
            ("TSE-Zeitformat", f.time_format),
            ("TSE-Algorithmus", f.signature_algorithm),
            ("Kassen-Seriennummer", f.client_id),
            ("Prozesstyp", f.process_type),
            ("TSE-Signatur", f.signature),
        ]
        for label, value in fields:
            if value == "":
                continue
            text = f"{label}: {value}"
            for part in self.wrap(text):
                p.textln(part)
        p.set(font="a")
