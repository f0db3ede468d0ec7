"""The incremental framer: frames, partial input, noise and overlong frames."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.serialio import Framer, Garbage


def test_line_frames_across_chunks() -> None:
    f = Framer(b"\r\n")
    assert f.feed(b"abc") == []
    assert f.pending == b"abc"
    assert f.feed(b"\r\ndef\n\r") == [b"abc", b"def"]


def test_start_byte_and_noise() -> None:
    f = Framer(b"\x03", start=0x0A)
    out = f.feed(b"zz\nrec\r\x03")
    assert out == [Garbage(b"zz", "bytes outside a frame"), b"rec\r"]


def test_overlong_frame_is_garbage_and_framer_recovers() -> None:
    f = Framer(b"\n", max_len=4)
    out = f.feed(b"123456\nok\n")
    assert isinstance(out[0], Garbage) and "longer" in out[0].reason
    assert out[1:] == [b"ok"]  # the tail "56" of the overlong frame is not delivered


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=20), max_size=10))
def test_fuzz_chunking_does_not_change_frames(chunks: list[bytes]) -> None:
    whole = Framer(b"\r", start=0x02, max_len=8)
    pieces = Framer(b"\r", start=0x02, max_len=8)
    data = b"".join(chunks)
    frames_whole = [x for x in whole.feed(data) if isinstance(x, bytes)]
    frames_pieces = [x for c in chunks for x in pieces.feed(c) if isinstance(x, bytes)]
    assert frames_whole == frames_pieces
    assert all(len(x) <= 8 for x in frames_whole)
