"""Command codec for 2 x 20 customer pole displays in ESC/POS display mode (Epson DM-D compatible).

Hardware: VFD/LCD pole displays such as the Epson DM-D110/DM-D210 and Bixolon BCD-1100 in
their ESC/POS (DM-D) command mode, usually on RS-232 9600 8N1. Commands (Epson DM-D command
reference; fact sheet peripherals.md §6): ``ESC @`` initialise, ``FF`` clear screen, ``VT``
cursor home, ``US $ x y`` move cursor (1-based column, row), ``US C n`` cursor on/off,
``US MD1`` (``1F 01``) overwrite mode, ``ESC t n`` character code table. ``US $`` is taken from
the DM-D reference and should be confirmed per model. Pure: strings in, bytes out.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

ESC, US, FF, VT = 0x1B, 0x1F, 0x0C, 0x0B

INIT = bytes((ESC, 0x40))
CLEAR = bytes((FF,))
HOME = bytes((VT,))
CURSOR_OFF = bytes((US, 0x43, 0x00))
CURSOR_ON = bytes((US, 0x43, 0x01))
OVERWRITE_MODE = bytes((US, 0x01))

#: ESC t slots of the Epson character tables used for German text.
CODE_PAGE_SLOTS = {"CP437": 0, "CP850": 2, "CP1252": 16, "CP858": 19}

_ASCII_FALLBACK = {"€": "EUR", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}


class DisplayError(Exception):
    """Root of every error raised by ``drivers.display``."""


class DisplayConfigError(DisplayError, ValueError):
    """An invalid display setting (size, code page)."""


class DisplayOffline(DisplayError, ConnectionError):
    """The display's serial port cannot be opened or written."""

    def __init__(self, port: str, reason: str) -> None:
        super().__init__(f"display {port} offline: {reason}")
        self.port = port
        self.reason = reason


def move_to(column: int, row: int) -> bytes:
    """``US $ x y``: cursor to ``column`` (1-based) in ``row`` (1-based)."""
    if not (1 <= column <= 255 and 1 <= row <= 255):
        raise DisplayConfigError(f"cursor position out of range: {column},{row}")
    return bytes((US, 0x24, column, row))


def select_code_page(slot: int) -> bytes:
    """``ESC t n``: character code table ``n``."""
    if not 0 <= slot <= 255:
        raise DisplayConfigError(f"code page slot must be 0..255, got {slot}")
    return bytes((ESC, 0x74, slot))


def transliterate(text: str) -> str:
    """Plain ASCII for displays without a euro/umlaut table (``€`` -> ``EUR``, ``ä`` -> ``ae``)."""
    out = []
    for ch in text:
        if ch in _ASCII_FALLBACK:
            out.append(_ASCII_FALLBACK[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(base or "?")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class DisplayCodec:
    """Builds display updates for one model: size and character table.

    ``code_page`` is a Python codec name the display's table matches (``"CP858"`` has € at
    0xD5 and all umlauts) or ``"ascii"`` to transliterate; ``slot`` overrides its ``ESC t``
    number for displays whose table numbering differs.
    """

    columns: int = 20
    rows: int = 2
    code_page: str = "CP858"
    slot: int | None = None

    def __post_init__(self) -> None:
        if not (1 <= self.columns <= 80 and 1 <= self.rows <= 4):
            raise DisplayConfigError(f"display size must be up to 80 x 4, got {self.columns} x {self.rows}")
        if self.code_page != "ascii" and self.slot is None and self.code_page not in CODE_PAGE_SLOTS:
            raise DisplayConfigError(f"unknown code page {self.code_page!r}; give its ESC t slot")
        if self.code_page != "ascii":
            try:
                "x".encode(self.code_page)
            except LookupError as err:
                raise DisplayConfigError(f"unknown encoding {self.code_page!r}") from err

    def encode(self, text: str) -> bytes:
        """Text in the display's character table; unknown characters become ``?``."""
        if self.code_page == "ascii":
            return transliterate(text).encode("ascii", "replace")
        # Control characters would be commands on the display: never let them through.
        clean = "".join(ch if ch.isprintable() else " " for ch in text)
        return clean.encode(self.code_page, "replace")

    def fit(self, text: str) -> str:
        """``text`` cut or padded to exactly one row (after transliteration, if any)."""
        if self.code_page == "ascii":
            text = transliterate(text)
        return text[: self.columns].ljust(self.columns)

    def init(self) -> bytes:
        """Reset, overwrite mode, cursor off, code page, clear."""
        out = INIT + OVERWRITE_MODE + CURSOR_OFF
        if self.code_page != "ascii":
            slot = self.slot if self.slot is not None else CODE_PAGE_SLOTS[self.code_page]
            out += select_code_page(slot)
        return out + CLEAR

    def show(self, *lines: str) -> bytes:
        """Rewrite every row (missing rows blank): position, then exactly ``columns`` characters."""
        if len(lines) > self.rows:
            raise DisplayConfigError(f"{len(lines)} lines for a {self.rows}-row display")
        padded = list(lines) + [""] * (self.rows - len(lines))
        return b"".join(move_to(1, row) + self.encode(self.fit(text)) for row, text in enumerate(padded, 1))

    def two_sided(self, left: str, right: str) -> str:
        """``left`` and ``right`` on one row, left truncated to make room."""
        room = max(0, self.columns - len(right) - 1)
        return f"{left[:room]:<{room}} {right}"[-self.columns :] if right else left
