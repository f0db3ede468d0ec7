"""Tokenizer for ESC/POS byte streams: splits printer input into text runs and commands.

Covers the command set of the Epson ESC/POS application programming guide that receipt
printers of the TM-T88/TM-T20 class understand (ESC, GS, DLE, FS prefixes with their
argument lengths; raster ``GS v 0``, column ``ESC *``, graphics ``GS ( L`` / ``GS 8 L``, 2-D
codes ``GS ( k``, barcodes ``GS k``). Pure and total: any byte string is split into tokens
without raising; what it cannot classify becomes an ``unknown`` or ``truncated`` token so the
caller can report it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C

#: Single-byte control codes a receipt printer acts on.
CONTROLS = {0x0A: "LF", 0x0D: "CR", 0x09: "HT", 0x0C: "FF", 0x18: "CAN", 0x00: "NUL"}

#: Commands with a fixed number of argument bytes, keyed by (prefix, command byte).
_FIXED: dict[tuple[int, int], int] = {
    **{(ESC, ord(c)): n for c, n in {
        "@": 0, "t": 1, "!": 1, "E": 1, "-": 1, "a": 1, "M": 1, "d": 1, "J": 1, "K": 1,
        "3": 1, "2": 0, "p": 3, "=": 1, "B": 2, "G": 1, "V": 1, "{": 1, "R": 1, " ": 1,
        "e": 1, "$": 2, "\\": 2, "r": 1, "S": 0, "L": 0, "T": 1, "U": 1, "%": 1, "?": 1,
        "<": 0, "i": 0, "m": 0, "u": 1, "v": 0, "W": 8, "C": 1, "l": 2,
    }.items()},
    **{(GS, ord(c)): n for c, n in {
        "!": 1, "B": 1, "h": 1, "w": 1, "f": 1, "H": 1, "L": 2, "W": 2, "a": 1, "r": 1,
        "b": 1, "I": 1, "P": 2, "$": 2, "\\": 2, "^": 3, ":": 0, "T": 1, "Z": 1, "E": 1,
        "g": 2, "j": 1,
    }.items()},
    **{(FS, ord(c)): n for c, n in {
        ".": 0, "&": 0, "p": 2, "C": 1, "!": 1, "-": 1, "S": 2, "W": 1,
    }.items()},
    (DLE, 0x05): 1,  # DLE ENQ n
}

_PREFIX_NAMES = {ESC: "ESC", GS: "GS", DLE: "DLE", FS: "FS"}


@dataclass(frozen=True, slots=True)
class Token:
    """One element of an ESC/POS stream.

    ``kind`` is ``text`` (printable bytes in ``data``), ``control`` (single byte such as LF),
    ``command`` (``name`` like ``"ESC t"``, parameters in ``args``, bulk payload in ``data``),
    ``unknown`` (an unrecognised command or control byte) or ``truncated`` (the stream ended
    inside a command). ``data[offset:end]`` are the token's bytes.
    """

    kind: str
    name: str
    offset: int
    end: int
    args: bytes = b""
    data: bytes = b""


_DLE_NAMES = {0x04: "DLE EOT", 0x05: "DLE ENQ", 0x14: "DLE DC4"}


def _cmd_name(prefix: int, cmd: int) -> str:
    if prefix == DLE and cmd in _DLE_NAMES:
        return _DLE_NAMES[cmd]
    ch = chr(cmd) if 0x21 <= cmd <= 0x7E else f"0x{cmd:02x}"
    return f"{_PREFIX_NAMES[prefix]} {ch}"


# A variable-length parser gets (data, start of the argument bytes) and returns
# (args, payload, end offset) or None when the stream ends too early.
_Parsed = tuple[bytes, bytes, int] | None


def _length_prefixed(data: bytes, i: int) -> _Parsed:
    """``GS ( x`` / ``FS ( x``: pL pH then that many bytes."""
    if i + 2 > len(data):
        return None
    n = data[i] | data[i + 1] << 8
    end = i + 2 + n
    if end > len(data):
        return None
    return data[i : i + 2], data[i + 2 : end], end


def _gs8(data: bytes, i: int) -> _Parsed:
    """``GS 8 L``: p1..p4 (32-bit length) then that many bytes."""
    if i + 5 > len(data) or data[i] != ord("L"):
        return None if i + 5 > len(data) else (data[i : i + 1], b"", i + 1)
    n = int.from_bytes(data[i + 1 : i + 5], "little")
    end = i + 5 + n
    if end > len(data):
        return None
    return data[i : i + 5], data[i + 5 : end], end


def _raster(data: bytes, i: int) -> _Parsed:
    """``GS v 0 m xL xH yL yH`` + (xL + xH·256)·(yL + yH·256) bytes."""
    if i + 6 > len(data):
        return None
    x = data[i + 2] | data[i + 3] << 8
    y = data[i + 4] | data[i + 5] << 8
    end = i + 6 + x * y
    if end > len(data):
        return None
    return data[i : i + 6], data[i + 6 : end], end


def _column_image(data: bytes, i: int) -> _Parsed:
    """``ESC * m nL nH``: n columns of 1 (8-dot modes) or 3 (24-dot modes) bytes."""
    if i + 3 > len(data):
        return None
    m, n = data[i], data[i + 1] | data[i + 2] << 8
    end = i + 3 + n * (3 if m in (32, 33) else 1)
    if end > len(data):
        return None
    return data[i : i + 3], data[i + 3 : end], end


def _barcode(data: bytes, i: int) -> _Parsed:
    """``GS k m``: function A (m ≤ 6) NUL-terminated, function B (m ≥ 65) length-prefixed."""
    if i >= len(data):
        return None
    m = data[i]
    if m <= 6:
        nul = data.find(b"\x00", i + 1)
        if nul < 0:
            return None
        return data[i : i + 1], data[i + 1 : nul], nul + 1
    if i + 2 > len(data):
        return None
    end = i + 2 + data[i + 1]
    if end > len(data):
        return None
    return data[i : i + 2], data[i + 2 : end], end


def _cut(data: bytes, i: int) -> _Parsed:
    """``GS V m`` with one more byte (feed amount) for m = 65, 66, 97, 98, 103, 104."""
    if i >= len(data):
        return None
    n = 2 if data[i] in (65, 66, 97, 98, 103, 104) else 1
    return (data[i : i + n], b"", i + n) if i + n <= len(data) else None


def _esc_c(data: bytes, i: int) -> _Parsed:
    """``ESC c 3 n``, ``ESC c 4 n``, ``ESC c 5 n`` (panel and sensor settings)."""
    return (data[i : i + 2], b"", i + 2) if i + 2 <= len(data) else None


def _tabs(data: bytes, i: int) -> _Parsed:
    """``ESC D n1 .. nk NUL`` (at most 32 tab stops)."""
    nul = data.find(b"\x00", i, i + 33)
    if nul < 0:
        return None if len(data) - i < 33 else (data[i : i + 32], b"", i + 32)
    return data[i:nul], b"", nul + 1


def _dle_eot(data: bytes, i: int) -> _Parsed:
    """``DLE EOT n`` (n = 7, 8 carry one more byte)."""
    if i >= len(data):
        return None
    n = 2 if data[i] in (7, 8) else 1
    return (data[i : i + n], b"", i + n) if i + n <= len(data) else None


def _dle_dc4(data: bytes, i: int) -> _Parsed:
    """``DLE DC4 fn ...``: fn 1 (pulse) / 2 (power off) take two bytes, fn 8 takes seven."""
    if i >= len(data):
        return None
    n = 1 + (7 if data[i] == 8 else 2)
    return (data[i : i + n], b"", i + n) if i + n <= len(data) else None


def _sub_length(data: bytes, i: int) -> _Parsed:
    """``GS ( fn pL pH ...``: the function letter, then a length-prefixed block."""
    if i >= len(data):
        return None
    inner = _length_prefixed(data, i + 1)
    if inner is None:
        return None
    args, payload, end = inner
    return data[i : i + 1] + args, payload, end


_VARIABLE: dict[tuple[int, int], Callable[[bytes, int], _Parsed]] = {
    (GS, ord("(")): _sub_length,
    (FS, ord("(")): _sub_length,
    (GS, ord("8")): _gs8,
    (GS, ord("v")): _raster,
    (ESC, ord("*")): _column_image,
    (GS, ord("k")): _barcode,
    (GS, ord("V")): _cut,
    (ESC, ord("c")): _esc_c,
    (ESC, ord("D")): _tabs,
    (DLE, 0x04): _dle_eot,
    (DLE, 0x14): _dle_dc4,
}


def tokenize(data: bytes) -> Iterator[Token]:
    """Split ``data`` into tokens; never raises, whatever the input."""
    i, size = 0, len(data)
    while i < size:
        b = data[i]
        if b >= 0x20:
            j = i + 1
            while j < size and data[j] >= 0x20:
                j += 1
            yield Token("text", "text", i, j, data=data[i:j])
            i = j
            continue
        if b in CONTROLS:
            yield Token("control", CONTROLS[b], i, i + 1)
            i += 1
            continue
        if b not in _PREFIX_NAMES:
            yield Token("unknown", f"0x{b:02x}", i, i + 1)
            i += 1
            continue
        if i + 1 >= size:
            yield Token("truncated", _PREFIX_NAMES[b], i, size)
            return
        key = (b, data[i + 1])
        name = _cmd_name(b, data[i + 1])
        if key in _FIXED:
            end = i + 2 + _FIXED[key]
            if end > size:
                yield Token("truncated", name, i, size, args=data[i + 2 :])
                return
            yield Token("command", name, i, end, args=data[i + 2 : end])
            i = end
        elif key in _VARIABLE:
            parsed = _VARIABLE[key](data, i + 2)
            if parsed is None:
                yield Token("truncated", name, i, size, data=data[i + 2 :])
                return
            args, payload, end = parsed
            yield Token("command", name, i, end, args=args, data=payload)
            i = end
        else:
            yield Token("unknown", name, i, i + 2)
            i += 2
