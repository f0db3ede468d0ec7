"""Pole display: exact command bytes, screen simulator, serial driver over a real pty, unplug/replug."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.display.codec import (
    CLEAR,
    CURSOR_OFF,
    HOME,
    INIT,
    OVERWRITE_MODE,
    DisplayCodec,
    DisplayConfigError,
    DisplayOffline,
    move_to,
    select_code_page,
    transliterate,
)
from drivers.display.display import PoleDisplay
from drivers.display.simulator import DisplaySimulator, PtyDisplaySimulator
from tests.drivers.polling import until


def test_command_bytes() -> None:
    assert INIT == b"\x1b\x40" and CLEAR == b"\x0c" and HOME == b"\x0b"
    assert CURSOR_OFF == b"\x1f\x43\x00" and OVERWRITE_MODE == b"\x1f\x01"
    assert move_to(1, 2) == b"\x1f\x24\x01\x02"
    assert select_code_page(19) == b"\x1b\x74\x13"
    assert DisplayCodec().init() == bytes.fromhex("1b40 1f01 1f4300 1b7413 0c")
    assert DisplayCodec(code_page="ascii").init() == bytes.fromhex("1b40 1f01 1f4300 0c")


def test_show_exact_bytes() -> None:
    out = DisplayCodec().show("Käse", "2,99 €")
    assert out == (b"\x1f\x24\x01\x01" + b"K\x84se" + b" " * 16 + b"\x1f\x24\x01\x02" + b"2,99 \xd5" + b" " * 14)


def test_lines_are_cut_and_control_characters_removed() -> None:
    codec = DisplayCodec()
    out = codec.show("A" * 30 + "\x0c")
    assert out == b"\x1f\x24\x01\x01" + b"A" * 20 + b"\x1f\x24\x01\x02" + b" " * 20
    assert codec.encode("a\x1bb") == b"a b"
    with pytest.raises(DisplayConfigError):
        codec.show("1", "2", "3")


def test_transliteration() -> None:
    assert transliterate("Größe 5 € à") == "Groesse 5 EUR a"
    assert DisplayCodec(code_page="ascii").show("Müsli 2,49 €")[4:24] == b"Muesli 2,49 EUR     "


@pytest.mark.parametrize("kwargs", [{"columns": 0}, {"rows": 9}, {"code_page": "KOI8-R"},
                                    {"code_page": "nonsense", "slot": 3}])
def test_bad_codec_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(DisplayConfigError):
        DisplayCodec(**kwargs)  # type: ignore[arg-type]


def test_two_sided() -> None:
    codec = DisplayCodec()
    assert codec.two_sided("Vollkornbrot geschnitten", "3,49 €") == "Vollkornbrot  3,49 €"
    assert len(codec.two_sided("x", "1,00 €")) == 20


def test_simulator_screen() -> None:
    sim = DisplaySimulator()
    sim.feed(DisplayCodec().init() + DisplayCodec().show("Käse", "2,99 €"))
    assert sim.lines == ["Käse".ljust(20), "2,99 €".ljust(20)]
    assert not sim.cursor_visible and sim.warnings == []
    sim.feed(HOME + b"X" + b"\x1f\x24\x05\x02Y")
    assert sim.lines == ["Xäse".ljust(20), "2,99Y€".ljust(20)]
    sim.feed(b"\x18")  # CAN clears the cursor line
    assert sim.lines[1] == " " * 20
    sim.feed(CLEAR)
    assert sim.lines == [" " * 20] * 2


def test_simulator_wraps_and_reports_garbage() -> None:
    sim = DisplaySimulator()
    sim.feed(b"A" * 45)
    assert sim.lines == ["A" * 20] * 2
    sim.feed(b"\x1b\xee\x07\x1f\x24\x63\x01\x1b\x74\x63")
    assert len(sim.warnings) == 4
    sim.feed(b"\x1f")  # a command split across reads
    sim.feed(b"\x24\x01\x01Z")
    assert sim.lines[0][0] == "Z"


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_fuzz_simulator_never_raises(data: bytes) -> None:
    sim = DisplaySimulator()
    sim.feed(data)
    assert [len(line) for line in sim.lines] == [20, 20]


async def test_pole_display_over_pty(tmp_path: Path) -> None:
    sim = PtyDisplaySimulator(link=str(tmp_path / "ttyVFD"))
    sim.plug()
    states: list[bool] = []
    display = PoleDisplay(sim.path, on_state=lambda online, why: states.append(online))

    async def screen(expected: list[str]) -> None:
        await until(lambda: sim.sim.lines == expected)

    try:
        async with asyncio.timeout(10):
            await display.show_item("Vollkornbrot", 349, total_cents=1298)
            await screen(["Vollkornbrot  3,49 €", "Summe        12,98 €"])
            await display.show_total(123456)
            await screen(["SUMME".ljust(20), "1.234,56 €".rjust(20)])
            await display.show_change(5000, 1234)
            await screen(["Gegeben      50,00 €", "Rückgeld     12,34 €"])
            await display.show_thanks()
            await screen(["    Vielen Dank!    ", "  Auf Wiedersehen   "])
            # Unplugged: a clear error, no crash; replugged: the next update works again.
            sim.unplug()
            with pytest.raises(DisplayOffline, match="offline"):
                for _ in range(3):  # the first write may still land in the kernel buffer
                    await display.show("lost")
            sim.plug()
            sim.sim.feed(b"garbage left on screen")
            await display.show("wieder da")
            await screen(["wieder da".ljust(20), " " * 20])
            await display.clear()
            await screen([" " * 20, " " * 20])
            assert display.online and states == [True, False, True]
    finally:
        await display.close()
        sim.close()


async def test_missing_port_fails_clearly(tmp_path: Path) -> None:
    display = PoleDisplay(str(tmp_path / "nothing"))
    async with asyncio.timeout(5):
        with pytest.raises(DisplayOffline) as info:
            await display.show("x")
    assert isinstance(info.value, ConnectionError) and display.online is False
