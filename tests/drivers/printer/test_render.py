"""ESC/POS tokenizer and renderer: text, styles, images, QR, cuts, garbage, CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from drivers.printer._escpos import Dummy
from drivers.printer.layout import ReceiptLayout
from drivers.printer.render import (
    Barcode,
    Cut,
    Event,
    Picture,
    QrCode,
    TextLine,
    main,
    render_bytes,
    slip_to_png,
    slip_to_text,
)
from drivers.printer.tokens import tokenize


def test_tokens_of_a_small_job() -> None:
    toks = list(tokenize(bytes.fromhex("1b40 1b7413") + b"Hi\n" + bytes.fromhex("1d5601 100401")))
    assert [(t.kind, t.name) for t in toks] == [
        ("command", "ESC @"), ("command", "ESC t"), ("text", "text"), ("control", "LF"),
        ("command", "GS V"), ("command", "DLE EOT"),
    ]
    assert toks[1].args == b"\x13" and toks[2].data == b"Hi"
    assert [(t.offset, t.end) for t in toks] == [(0, 2), (2, 5), (5, 7), (7, 8), (8, 11), (11, 14)]


def test_truncated_and_unknown_tokens() -> None:
    toks = list(tokenize(b"\x1b\x01x\x07\x1d(k\x10\x00"))
    assert [(t.kind, t.name) for t in toks] == [
        ("unknown", "ESC 0x01"), ("text", "text"), ("unknown", "0x07"), ("truncated", "GS (")
    ]


def test_styles_and_alignment() -> None:
    slip = render_bytes(b"\x1ba\x01\x1b\x21\x38Big\n\x1ba\x02\x1d\x21\x00\x1bE\x00\x1b-\x01u\n")
    big, under = slip.elements
    assert isinstance(big, TextLine) and isinstance(under, TextLine)
    assert big.align == "center" and big.spans[0].bold and big.spans[0].double_width and big.spans[0].double_height
    assert under.align == "right" and under.spans[0].underline and not under.spans[0].bold
    assert slip_to_text(slip, 10).splitlines() == ["  Big", "         u"]


def test_code_pages() -> None:
    slip = render_bytes(b"\x1bt\x13\x8e\xd5\n\x1bt\x10\xc4\x80\n")
    assert slip.lines == ["Ä€", "Ä€"]


def test_python_escpos_commands_round_trip() -> None:
    d = Dummy()
    d.hw("INIT")
    d.textln("Hallo")
    d.qr("DATA", native=True)
    d.barcode("4006381333931", "EAN13")
    d.cashdraw(5)
    d.image(Image.new("1", (16, 4), 0))
    d.cut()
    slip = render_bytes(d.output)
    kinds = [type(e) for e in slip.elements]
    assert kinds == [TextLine, QrCode, Barcode, Event, Picture, TextLine, TextLine, TextLine, TextLine, TextLine,
                     TextLine, Cut]
    assert slip.warnings == []
    qr, bc, kick, pic = slip.elements[1:5]
    assert isinstance(qr, QrCode) and qr.data == "DATA"
    assert isinstance(bc, Barcode) and bc.data == "4006381333931" and bc.symbology == 2
    assert isinstance(kick, Event) and kick.text == "drawer kick pin 5, 100 ms on / 100 ms off"
    assert isinstance(pic, Picture) and pic.image.size == (16, 4) and pic.image.getpixel((0, 0)) == 0
    text = slip_to_text(slip)
    assert "[QR: DATA]" in text and "[barcode EAN13: 4006381333931]" in text and "[image 16x4]" in text


def test_column_image_and_graphics() -> None:
    column = b"\x1b*\x00\x02\x00\x80\x01"  # two 8-dot columns: top dot, bottom dot
    body = b"0p0\x01\x011\x08\x00\x02\x00" + b"\xff\x00"  # store 8x2 raster graphics
    graphics = b"\x1d(L" + len(body).to_bytes(2, "little") + body
    slip = render_bytes(column + graphics + b"\x1d(L\x02\x0002")
    a, b = slip.elements
    assert isinstance(a, Picture) and a.image.size == (2, 8)
    assert a.image.getpixel((0, 0)) == 0 and a.image.getpixel((1, 7)) == 0 and a.image.getpixel((0, 7)) == 255
    assert isinstance(b, Picture) and b.image.size == (8, 2) and b.image.getpixel((3, 0)) == 0


def test_garbage_is_reported_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    slip = render_bytes(b"ok\n\x1b\xfe\x07\x1bt\xc8x\n\x1dv0\x00\xff\xff\xff\xff")
    assert slip.lines[0] == "ok"
    assert any("unknown ESC 0xfe" in w for w in slip.warnings)
    assert any("unknown 0x07" in w for w in slip.warnings)
    assert any("unknown code page 200" in w for w in slip.warnings)
    assert any("truncated GS v" in w for w in slip.warnings)


def test_png_of_a_receipt() -> None:
    from tests.drivers.printer.test_layout import sample_receipt

    slip = render_bytes(ReceiptLayout().render(sample_receipt(copy=True)))
    img = slip_to_png(slip)
    assert img.width == 576 and img.height > 1000
    # Ink at the top: the copy mark.
    assert img.crop((0, 0, 576, 120)).getextrema()[0] == 0


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "job.bin"
    src.write_bytes(ReceiptLayout().test_page() + b"\x1b\xfe")
    out = tmp_path / "job.png"
    assert main([str(src), "--png", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Umlaute: ÄÖÜ äöü ß" in captured.out
    assert "warning: offset" in captured.err
    assert Image.open(out).width == 576
    assert main([str(tmp_path / "missing.bin")]) == 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_renderer_never_raises(data: bytes) -> None:
    slip = render_bytes(data)
    assert isinstance(slip_to_text(slip), str)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\x1b", b"\x1d", b"\x10", b"\x1c", b"(", b"k", b"L", b"v0", b"*", b"!",
                                 b"\x00", b"\x01", b"\x08", b"\xff", b"A\n", b"V", b"\x04"]), max_size=40))
def test_fuzz_command_shaped_garbage(parts: list[bytes]) -> None:
    data = b"".join(parts)
    toks = list(tokenize(data))
    assert b"".join(data[t.offset : t.end] for t in toks) == data  # tokens tile the input
    slip = render_bytes(data)
    slip_to_text(slip)
    slip_to_png(slip, 96, 8)


def test_logging_untouched(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        render_bytes(b"\x1b")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_png_of_barcode_with_control_bytes() -> None:
    """GS1 barcode data carries GS (FNC1); the preview shows it instead of failing in the text shaper."""
    for data in (b"\x1dk\x04\x1d\x00", b"\x1dkA\x01\x1d", b"\x1dk\x04123\x1d45\x00"):
        slip = render_bytes(data)
        assert "\x1d" in slip.elements[0].data  # type: ignore[union-attr]
        assert slip_to_png(slip, 96, 8).height > 0
