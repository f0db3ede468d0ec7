"""ESC/POS renderer: turns printer bytes into the slip they would print, as text or a PNG picture.

Interprets the token stream of ``drivers.printer.tokens`` the way an Epson TM-series receipt
printer would (ESC/POS application programming guide): code pages (``ESC t``), bold, underline,
double size (``ESC !``, ``GS !``), alignment, cuts, raster and column images, native QR codes
(``GS ( k``, drawn with segno) and barcodes. Used for the status page's receipt preview, the
printer simulator and tests. It never raises on input: unknown or truncated commands are
skipped and listed in ``Slip.warnings``.

Command line: ``python -m drivers.printer.render FILE [--png OUT] [--columns N]`` prints the
text to stdout (``storegw escpos render`` calls ``main``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from drivers.printer._escpos import capabilities
from drivers.printer.tokens import Token, tokenize


@dataclass(slots=True)
class Span:
    """A run of text printed with one style."""

    text: str
    bold: bool = False
    underline: bool = False
    double_width: bool = False
    double_height: bool = False
    invert: bool = False


@dataclass(slots=True)
class TextLine:
    """One printed line of text (ended by LF or a feed command)."""

    spans: list[Span]
    align: str = "left"

    @property
    def text(self) -> str:
        """The characters of the line without styling."""
        return "".join(s.text for s in self.spans)


@dataclass(slots=True)
class Picture:
    """A printed bitmap (raster, column or graphics image); black pixels are 0 in mode ``1``."""

    image: Image.Image
    align: str = "left"


@dataclass(slots=True)
class QrCode:
    """A QR code printed natively from ``GS ( k`` data."""

    data: str
    module_size: int = 3
    align: str = "left"


@dataclass(slots=True)
class Barcode:
    """A 1-D barcode (``GS k``); ``symbology`` is the ESC/POS ``m`` value."""

    symbology: int
    data: str


@dataclass(slots=True)
class Cut:
    """A paper cut."""

    partial: bool


@dataclass(slots=True)
class Event:
    """A non-printing action: drawer kick, buzzer, status query, device select."""

    text: str


Element = TextLine | Picture | QrCode | Barcode | Cut | Event


@dataclass(slots=True)
class Slip:
    """The interpreted content of an ESC/POS byte stream."""

    elements: list[Element] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """The plain text of every text line, in order."""
        return [e.text for e in self.elements if isinstance(e, TextLine)]


@lru_cache(maxsize=1)
def _code_pages() -> dict[int, str]:
    """ESC t slot -> Python codec, from python-escpos' default (Epson) profile."""
    from escpos.codepages import CodePages

    pages: dict[int, str] = {}
    for name, slot in capabilities.get_profile("default").get_code_pages().items():
        try:
            enc = CodePages.get_encoding(name).get("python_encode")
        except (KeyError, AttributeError):
            enc = None
        if enc:
            pages[int(slot)] = enc
    return pages


_BARCODE_NAMES = {0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
                  65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF",
                  71: "CODABAR", 72: "CODE93", 73: "CODE128"}


class _Interpreter:
    """Printer state while walking the token stream."""

    def __init__(self) -> None:
        self.slip = Slip()
        self.spans: list[Span] = []
        self.encoding = "cp437"
        self.bold = self.underline = self.dw = self.dh = self.invert = False
        self.align = "left"
        self.qr_data = b""
        self.qr_size = 3
        self.graphics: Image.Image | None = None

    def reset(self) -> None:
        self.encoding = "cp437"
        self.bold = self.underline = self.dw = self.dh = self.invert = False
        self.align = "left"

    def warn(self, tok: Token, what: str) -> None:
        self.slip.warnings.append(f"offset {tok.offset}: {what} {tok.name}")

    def flush(self, force: bool = False) -> None:
        if self.spans or force:
            self.slip.elements.append(TextLine(self.spans, self.align))
            self.spans = []

    def add_text(self, raw: bytes) -> None:
        text = raw.decode(self.encoding, errors="replace")
        self.spans.append(Span(text, self.bold, self.underline, self.dw, self.dh, self.invert))

    def run(self, data: bytes) -> Slip:
        for tok in tokenize(data):
            try:
                self.step(tok)
            except (ValueError, OSError, IndexError) as err:
                # Parameters that make no sense (e.g. an image with zero width): skip, report.
                self.warn(tok, f"bad parameters ({err}) in")
        self.flush()
        return self.slip

    def step(self, tok: Token) -> None:
        if tok.kind == "text":
            self.add_text(tok.data)
        elif tok.kind == "control":
            if tok.name == "LF":
                self.flush(force=True)
            elif tok.name == "HT":
                self.add_text(b" ")
        elif tok.kind in ("unknown", "truncated"):
            self.warn(tok, tok.kind)
        else:
            self.command(tok)

    def command(self, tok: Token) -> None:
        a = tok.args[0] if tok.args else 0
        name = tok.name
        if name == "ESC @":
            self.flush()
            self.reset()
        elif name == "ESC t":
            enc = _code_pages().get(a)
            if enc is None:
                self.warn(tok, f"unknown code page {a} in")
            else:
                self.encoding = enc
        elif name == "ESC !":
            self.bold, self.dh, self.dw, self.underline = (
                bool(a & 0x08), bool(a & 0x10), bool(a & 0x20), bool(a & 0x80)
            )
        elif name in ("ESC E", "ESC G"):
            self.bold = bool(a & 1)
        elif name == "ESC -":
            self.underline = a in (1, 2, 49, 50)
        elif name == "GS !":
            self.dw, self.dh = (a >> 4) > 0, (a & 0x0F) > 0
        elif name == "GS B":
            self.invert = bool(a & 1)
        elif name == "ESC a":
            self.align = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}.get(
                a, "left"
            )
        elif name == "ESC d":
            self.flush(force=True)
            for _ in range(a - 1):
                self.flush(force=True)
        elif name in ("GS V",):
            self.flush()
            self.slip.elements.append(Cut(partial=a in (1, 49, 66, 98, 104)))
        elif name == "ESC p":
            pin = 5 if tok.args[0] in (1, 49) else 2
            self.event(f"drawer kick pin {pin}, {tok.args[1] * 2} ms on / {tok.args[2] * 2} ms off")
        elif name == "DLE DC4":
            if tok.args[0] == 1:
                pin = 5 if tok.args[1] in (1, 49) else 2
                self.event(f"drawer pulse pin {pin}, {tok.args[2] * 100} ms")
        elif name == "DLE EOT":
            self.event(f"status query {a}")
        elif name == "ESC =":
            self.event(f"select device {a}")
        elif name == "ESC B":
            self.event(f"buzzer {tok.args[0]} x {tok.args[1] * 100} ms")
        elif name == "GS v":
            self.raster(tok)
        elif name == "ESC *":
            self.column_image(tok)
        elif name in ("GS (", "GS 8"):
            self.gs_paren(tok)
        elif name == "GS k":
            self.flush()
            self.slip.elements.append(
                Barcode(a, tok.data.decode("ascii", errors="replace"))
            )

    def event(self, text: str) -> None:
        self.flush()
        self.slip.elements.append(Event(text))

    def picture(self, img: Image.Image) -> None:
        self.flush()
        self.slip.elements.append(Picture(img, self.align))

    def raster(self, tok: Token) -> None:
        width = (tok.args[2] | tok.args[3] << 8) * 8
        height = tok.args[4] | tok.args[5] << 8
        if width and height:
            # ESC/POS: bit set = black dot; PIL mode "1": bit set = white.
            self.picture(Image.frombytes("1", (width, height), bytes(b ^ 0xFF for b in tok.data)))

    def column_image(self, tok: Token) -> None:
        rows = 3 if tok.args[0] in (32, 33) else 1
        cols = len(tok.data) // rows
        if not cols:
            return
        img = Image.new("1", (cols, rows * 8), 255)
        px = img.load()
        assert px is not None
        for x in range(cols):
            for r in range(rows):
                byte = tok.data[x * rows + r]
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        px[x, r * 8 + bit] = 0
        self.picture(img)

    def gs_paren(self, tok: Token) -> None:
        fn_letter = tok.args[0:1]
        body = tok.data
        if fn_letter == b"k" and len(body) >= 2 and body[0] == 49:  # QR code, cn = '1'
            fn = body[1]
            if fn == 67 and len(body) >= 3:
                self.qr_size = body[2]
            elif fn == 80:
                self.qr_data = body[3:]
            elif fn == 81:
                self.flush()
                self.slip.elements.append(
                    QrCode(self.qr_data.decode("utf-8", errors="replace"), self.qr_size, self.align)
                )
        elif fn_letter == b"L" and len(body) >= 2:
            fn = body[1]
            if fn == 112 and len(body) >= 10:  # store raster graphics
                width = body[6] | body[7] << 8
                height = body[8] | body[9] << 8
                data = body[10:]
                row = (width + 7) // 8
                if width and height and len(data) >= row * height:
                    inv = bytes(b ^ 0xFF for b in data[: row * height])
                    self.graphics = Image.frombytes("1", (row * 8, height), inv).crop((0, 0, width, height))
            elif fn in (2, 50) and self.graphics is not None:
                self.picture(self.graphics)
                self.graphics = None


def render_bytes(data: bytes) -> Slip:
    """Interpret ESC/POS ``data``; never raises for any input."""
    return _Interpreter().run(bytes(data))


def _fit(text: str, width: int, align: str) -> str:
    if align == "center":
        return text.center(width).rstrip()
    if align == "right":
        return text.rjust(width)
    return text


def slip_to_text(slip: Slip, columns: int = 42) -> str:
    """A plain-text picture of the slip; non-text elements become ``[...]`` lines."""
    out: list[str] = []
    for el in slip.elements:
        if isinstance(el, TextLine):
            # Double-width characters take two cells; pad accordingly when aligning.
            cells = sum(len(s.text) * (2 if s.double_width else 1) for s in el.spans)
            extra = cells - len(el.text)
            out.append(_fit(el.text, columns - extra, el.align))
        elif isinstance(el, Cut):
            out.append(("- - partial cut " if el.partial else "- - cut ").ljust(columns, "-"))
        elif isinstance(el, QrCode):
            out.append(_fit(f"[QR: {el.data}]", columns, el.align))
        elif isinstance(el, Picture):
            out.append(_fit(f"[image {el.image.width}x{el.image.height}]", columns, el.align))
        elif isinstance(el, Barcode):
            out.append(f"[barcode {_BARCODE_NAMES.get(el.symbology, el.symbology)}: {el.data}]")
        else:
            out.append(f"[{el.text}]")
    return "\n".join(out) + ("\n" if out else "")


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
        "/usr/share/fonts/TTF/DejaVuSansMono.ttf",
    ):
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def slip_to_png(slip: Slip, width_px: int = 576, columns: int = 42) -> Image.Image:
    """A picture of the slip as printed on thermal paper (grayscale ``L`` image)."""
    import segno

    cell_w = width_px // columns
    cell_h = cell_w * 2
    font = _font(int(cell_h * 0.8))
    blocks: list[Image.Image] = []
    for el in slip.elements:
        if isinstance(el, TextLine):
            blocks.append(_text_block(el, width_px, cell_w, cell_h, font))
        elif isinstance(el, Picture | QrCode):
            if isinstance(el, QrCode):
                img = _qr_image(segno.make(el.data or " ", micro=False), max(1, el.module_size))
            else:
                img = el.image.convert("L")
            if img.width > width_px:
                img = img.resize((width_px, max(1, img.height * width_px // img.width)))
            block = Image.new("L", (width_px, img.height), 255)
            x = {"center": (width_px - img.width) // 2, "right": width_px - img.width}.get(el.align, 0)
            block.paste(img, (x, 0))
            blocks.append(block)
        else:
            block = Image.new("L", (width_px, cell_h), 255)
            draw = ImageDraw.Draw(block)
            label = "✂" if isinstance(el, Cut) else f"[{el.text}]" if isinstance(el, Event) else ""
            if isinstance(el, Barcode):
                label = f"|||| {el.data} ||||"
            if isinstance(el, Cut):
                for x in range(0, width_px, 12):
                    draw.line((x, cell_h // 2, x + 6, cell_h // 2), fill=0)
            else:
                # Barcode data may hold control bytes (GS1 FNC1 as GS); the text shaper refuses those.
                shown = "".join(c if c.isprintable() else "·" for c in label[:columns])
                draw.text((0, 0), shown, fill=96, font=font)
            blocks.append(block)
    height = sum(b.height for b in blocks) or 1
    page = Image.new("L", (width_px, height + 2 * cell_h), 255)
    y = cell_h
    for b in blocks:
        page.paste(b, (0, y))
        y += b.height
    return page


def _qr_image(qr: object, scale: int) -> Image.Image:
    """A black-on-white picture of a segno QR code, ``scale`` pixels per module."""
    rows = [bytes(0 if dark else 255 for dark in row) for row in qr.matrix_iter(scale=scale, border=2)]  # type: ignore[attr-defined]
    return Image.frombytes("L", (len(rows[0]), len(rows)), b"".join(rows))


def _text_block(
    line: TextLine, width_px: int, cell_w: int, cell_h: int, font: ImageFont.FreeTypeFont | ImageFont.ImageFont
) -> Image.Image:
    tall = any(s.double_height for s in line.spans)
    block = Image.new("L", (width_px, cell_h * (2 if tall else 1)), 255)
    cells = sum(len(s.text) * (2 if s.double_width else 1) for s in line.spans)
    x = {"center": (width_px - cells * cell_w) // 2, "right": width_px - cells * cell_w}.get(line.align, 0)
    x = max(0, x)
    for span in line.spans:
        sw, sh = (2 if span.double_width else 1), (2 if span.double_height else 1)
        for ch in span.text:
            glyph = Image.new("L", (cell_w, cell_h), 0 if span.invert else 255)
            draw = ImageDraw.Draw(glyph)
            ink = 255 if span.invert else 0
            if not ch.isprintable():
                ch = "·"
            draw.text((0, 0), ch, fill=ink, font=font)
            if span.bold:
                draw.text((1, 0), ch, fill=ink, font=font)
            if span.underline:
                draw.line((0, cell_h - 2, cell_w, cell_h - 2), fill=ink)
            if sw > 1 or sh > 1:
                glyph = glyph.resize((cell_w * sw, cell_h * sh))
            block.paste(glyph, (x, block.height - glyph.height))
            x += cell_w * sw
            if x >= width_px:
                break
    return block


def main(argv: Sequence[str] | None = None) -> int:
    """``render FILE [--png OUT] [--columns N]``: print the slip as text, optionally save a PNG."""
    parser = argparse.ArgumentParser(prog="storegw escpos render", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="file with raw ESC/POS bytes ('-' for stdin)")
    parser.add_argument("--png", metavar="OUT", help="also write a PNG picture of the slip")
    parser.add_argument("--columns", type=int, default=42, help="characters per line (default 42)")
    parser.add_argument("--width", type=int, default=576, help="PNG width in pixels (default 576)")
    args = parser.parse_args(argv)
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as err:
        print(f"cannot read {args.file}: {err}", file=sys.stderr)
        return 2
    slip = render_bytes(data)
    sys.stdout.write(slip_to_text(slip, args.columns))
    for warning in slip.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.png:
        try:
            slip_to_png(slip, args.width, args.columns).save(args.png, "PNG")
        except OSError as err:
            print(f"cannot write {args.png}: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
