"""HidDecoder on stored and generated evdev sequences: US/DE layouts, Shift, AltGr, Ctrl, suffix."""

from __future__ import annotations

import logging

import evdev
import pytest
from evdev import ecodes as e
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner import DE, US, HidDecoder, Scan
from drivers.scanner.simulator import key_events
from tests.drivers.scanner.evtest_fixture import load


def _run(decoder: HidDecoder, events: list[evdev.InputEvent]) -> list[Scan]:
    return [s for ev in events if (s := decoder.feed(ev)) is not None]


def _key(code: int, value: int, t: float = 0.0) -> evdev.InputEvent:
    return evdev.InputEvent(int(t), round((t % 1) * 1e6), e.EV_KEY, code, value)


def test_recorded_us_sequence_with_gs_and_aim() -> None:
    expected, events = load("us_gs1_enter.evtest")
    (scan,) = _run(HidDecoder("us", "enter"), events)
    assert scan.text == expected == "]C10104006381333931\x1d10Ab-7"
    assert (scan.aim_id, scan.symbology) == ("]C1", "GS1-128")
    bc = scan.barcode()
    assert bc.ais == {"01": "04006381333931", "10": "Ab-7"}


def test_recorded_de_sequence_with_altgr_and_tab() -> None:
    expected, events = load("de_altgr_tab.evtest")
    (scan,) = _run(HidDecoder("de", "tab"), events)
    assert scan.text == expected == "Zy-/@€#"


def test_same_keys_read_with_us_table_show_the_layout_mismatch() -> None:
    _, events = load("de_altgr_tab.evtest")
    decoder = HidDecoder("us", "tab")
    (scan,) = _run(decoder, events)
    assert scan.text == "Yz/&\\"  # AltGr keys have no US character: skipped and counted
    assert decoder.errors == 2


def test_enter_suffix_ends_code_and_kp_enter_too() -> None:
    d = HidDecoder("us", "enter")
    events = [*key_events("4006381333931", "us", "none"), _key(e.KEY_KPENTER, 1), _key(e.KEY_KPENTER, 0)]
    (scan,) = _run(d, events)
    assert scan.barcode().gtin == "4006381333931"


def test_caps_lock_and_shift() -> None:
    d = HidDecoder("us", "enter")
    events = [_key(e.KEY_CAPSLOCK, 1), _key(e.KEY_CAPSLOCK, 0), _key(e.KEY_A, 1), _key(e.KEY_1, 1)]
    events += [_key(e.KEY_LEFTSHIFT, 1), _key(e.KEY_B, 1), _key(e.KEY_LEFTSHIFT, 0), _key(e.KEY_ENTER, 1)]
    (scan,) = _run(d, events)
    assert scan.text == "A1b"


def test_autorepeat_and_key_up_ignored() -> None:
    d = HidDecoder("us", "enter")
    (scan,) = _run(d, [_key(e.KEY_5, 1), _key(e.KEY_5, 2), _key(e.KEY_5, 0), _key(e.KEY_ENTER, 1)])
    assert scan.text == "5"


def test_unknown_key_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    d = HidDecoder("us", "enter", source="scanner-1")
    (scan,) = _run(d, [_key(e.KEY_1, 1), _key(e.KEY_F5, 1), _key(e.KEY_2, 1), _key(e.KEY_ENTER, 1)])
    assert scan.text == "12" and d.errors == 1
    assert "KEY_F5 has no character" in caplog.text


def test_ctrl_letter_is_control_char() -> None:
    d = HidDecoder("de", "enter")
    events = [_key(e.KEY_LEFTCTRL, 1), _key(e.KEY_Y, 1), _key(e.KEY_LEFTCTRL, 0), _key(e.KEY_ENTER, 1)]
    assert _run(d, events)[0].text == "\x1a"  # DE: the Y key types z -> Ctrl+Z


def test_gs_substitute() -> None:
    d = HidDecoder("us", "enter", gs_substitute="~")
    (scan,) = _run(d, key_events("]C110ABC~0104006381333931", "us"))
    assert scan.barcode().ais == {"10": "ABC", "01": "04006381333931"}


def test_no_suffix_idle_gap_and_flush() -> None:
    d = HidDecoder("us", "none", idle_gap=0.05)
    first = key_events("123", "us", "none", start=100.0)
    second = key_events("456", "us", "none", start=101.0)
    scans = _run(d, first + second)
    assert [s.text for s in scans] == ["123"]
    flushed = d.flush()
    assert flushed is not None and flushed.text == "456"
    assert d.flush() is None


def test_overlong_code_dropped() -> None:
    d = HidDecoder("us", "enter", max_length=5)
    scans = _run(d, key_events("1234567", "us") + key_events("42", "us"))
    assert [s.text for s in scans] == ["42"]
    assert d.errors == 1


def test_bad_config() -> None:
    with pytest.raises(ValueError):
        HidDecoder("fr")
    with pytest.raises(ValueError):
        HidDecoder("us", "space")


def _typable(keymap: dict[int, tuple[str, str, str]]) -> str:
    return "".join(sorted({c for entry in keymap.values() for c in entry if c}))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["us", "de"]), st.data())
def test_roundtrip_generated_sequences(layout: str, data: st.DataObject) -> None:
    alphabet = _typable(US if layout == "us" else DE) + "\x1d"
    text = data.draw(st.text(alphabet=alphabet, min_size=1, max_size=40))
    suffix = data.draw(st.sampled_from(["enter", "tab"]))
    (scan,) = _run(HidDecoder(layout, suffix), key_events(text, layout, suffix))
    assert scan.text == text


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([e.EV_KEY, e.EV_KEY, e.EV_MSC, e.EV_SYN]), st.integers(0, 300), st.integers(-1, 3)),
        max_size=60,
    )
)
def test_fuzz_random_events_never_raise(raw: list[tuple[int, int, int]]) -> None:
    d = HidDecoder("de", "enter")
    for t, (typ, code, value) in enumerate(raw):
        d.feed(evdev.InputEvent(t, 0, typ, code, value))
    d.flush()
