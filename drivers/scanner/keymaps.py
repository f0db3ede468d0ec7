"""Keycode -> character tables for keyboard-wedge scanners: US (QWERTY) and German (QWERTZ).

evdev reports physical key positions (Linux input keycodes, ``evdev.ecodes``), not
characters, and a headless gateway has no X keymap to ask; so the gateway carries its own
tables. Each entry is (plain, shift, AltGr); "" means the combination types nothing. The
German table follows the standard DIN 2137 T1 layout ("de" in XKB); its dead keys (^ ´ `)
are taken literally because a scanner never composes accents. Keypad keys map to their
characters directly, independent of NumLock (fact sheet §3.3).
"""

from __future__ import annotations

from evdev import ecodes as e

Keymap = dict[int, tuple[str, str, str]]


def _row(codes: list[int], plain: str, shift: str) -> Keymap:
    return {c: (p, s, "") for c, p, s in zip(codes, plain, shift, strict=True)}


_LETTERS = [getattr(e, f"KEY_{c}") for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
_DIGITS = [getattr(e, f"KEY_{c}") for c in "1234567890"]
_KEYPAD: Keymap = {getattr(e, f"KEY_KP{d}"): (d, d, "") for d in "0123456789"}
_KEYPAD.update(
    {
        e.KEY_KPSLASH: ("/", "/", ""),
        e.KEY_KPASTERISK: ("*", "*", ""),
        e.KEY_KPMINUS: ("-", "-", ""),
        e.KEY_KPPLUS: ("+", "+", ""),
    }
)
_COMMON: Keymap = {e.KEY_SPACE: (" ", " ", "")}
_PUNCT = [
    e.KEY_MINUS,
    e.KEY_EQUAL,
    e.KEY_LEFTBRACE,
    e.KEY_RIGHTBRACE,
    e.KEY_SEMICOLON,
    e.KEY_APOSTROPHE,
    e.KEY_GRAVE,
    e.KEY_BACKSLASH,
    e.KEY_COMMA,
    e.KEY_DOT,
    e.KEY_SLASH,
    e.KEY_102ND,
]

US: Keymap = {
    **_COMMON,
    **_KEYPAD,
    e.KEY_KPDOT: (".", ".", ""),
    **_row(_LETTERS, "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    **_row(_DIGITS, "1234567890", "!@#$%^&*()"),
    **_row(_PUNCT, "-=[];'`\\,./<", '_+{}:"~|<>?>'),
}

DE: Keymap = {
    **_COMMON,
    **_KEYPAD,
    e.KEY_KPDOT: (",", ",", ""),
    **_row(_LETTERS, "abcdefghijklmnopqrstuvwxzy", "ABCDEFGHIJKLMNOPQRSTUVWXZY"),
    **_row(_DIGITS, "1234567890", '!"§$%&/()='),
    **_row(_PUNCT, "ß´ü+öä^#,.-<", "?`Ü*ÖÄ°';:_>"),
}
# AltGr (right Alt) level of the German layout.
for _code, _char in {
    e.KEY_2: "²",
    e.KEY_3: "³",
    e.KEY_7: "{",
    e.KEY_8: "[",
    e.KEY_9: "]",
    e.KEY_0: "}",
    e.KEY_MINUS: "\\",
    e.KEY_Q: "@",
    e.KEY_E: "€",
    e.KEY_RIGHTBRACE: "~",
    e.KEY_102ND: "|",
    e.KEY_M: "µ",
}.items():
    _plain, _shift, _ = DE[_code]
    DE[_code] = (_plain, _shift, _char)

LAYOUTS: dict[str, Keymap] = {"us": US, "de": DE}


def get_layout(name: str) -> Keymap:
    """The table for ``us`` or ``de``; ``ValueError`` for anything else."""
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown keyboard layout {name!r} (us, de)") from None
