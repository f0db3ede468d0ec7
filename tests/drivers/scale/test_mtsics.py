"""MT-SICS codec: exact request bytes and every reply form, including errors and garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scale import (
    Command,
    MtSicsCodec,
    ScaleBusy,
    ScaleCommandError,
    ScaleError,
    ScaleProtocolError,
    ScaleRangeError,
    ScaleUnsupported,
    WeightReading,
    WeightState,
)

codec = MtSicsCodec()


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        (Command.WEIGHT, b"S\r\n"),
        (Command.WEIGHT_NOW, b"SI\r\n"),
        (Command.ZERO, b"Z\r\n"),
        (Command.ZERO_NOW, b"ZI\r\n"),
        (Command.TARE, b"T\r\n"),
        (Command.TARE_NOW, b"TI\r\n"),
        (Command.TARE_QUERY, b"TA\r\n"),
        (Command.CLEAR_TARE, b"TAC\r\n"),
        (Command.RESET, b"@\r\n"),
        (Command.SERIAL, b"I4\r\n"),
    ],
)
def test_request_bytes(command: Command, wire: bytes) -> None:
    assert codec.encode(command) == wire
    assert codec.expects_reply(command)


def test_tare_preset_bytes() -> None:
    assert codec.encode_tare_preset(125) == b"TA 125 g\r\n"
    with pytest.raises(ValueError):
        codec.encode_tare_preset(-1)


def test_status_unsupported() -> None:
    with pytest.raises(ScaleUnsupported):
        codec.encode(Command.STATUS)


def _w(cmd: Command, frame: bytes) -> WeightReading:
    r = codec.decode(cmd, frame)
    assert isinstance(r, WeightReading)
    return r


@pytest.mark.parametrize(
    ("frame", "state", "grams"),
    [
        (b"S S      1.234 kg\r", WeightState.STABLE, 1234),
        (b"S S     -0.012 kg\r", WeightState.STABLE, -12),
        (b"S S    250.5 g\r", WeightState.STABLE, 250),  # half-even
        (b"S S      2.000 lb\r", WeightState.STABLE, 907),
        (b"S D      0.998 kg\r", WeightState.MOVING, 998),
        (b"S +\r", WeightState.OVERLOAD, None),
        (b"S -\r", WeightState.UNDERLOAD, None),
    ],
)
def test_weight_replies(frame: bytes, state: WeightState, grams: int | None) -> None:
    r = _w(Command.WEIGHT_NOW, frame)
    assert (r.state, r.weight_g) == (state, grams)
    assert r.raw == frame


def test_stable_property() -> None:
    assert _w(Command.WEIGHT, b"S S 0.100 kg").stable
    assert not _w(Command.WEIGHT, b"S D 0.100 kg").stable


def test_not_executable() -> None:
    with pytest.raises(ScaleBusy):
        codec.decode(Command.WEIGHT, b"S I\r")
    with pytest.raises(ScaleBusy):
        codec.decode(Command.ZERO, b"Z I\r")
    with pytest.raises(ScaleBusy):
        codec.decode(Command.TARE, b"T I\r")


@pytest.mark.parametrize("code", ["ES", "ET", "EL"])
def test_general_errors(code: str) -> None:
    with pytest.raises(ScaleCommandError) as ei:
        codec.decode(Command.WEIGHT, code.encode() + b"\r")
    assert ei.value.code == code


def test_logical_status() -> None:
    with pytest.raises(ScaleCommandError) as ei:
        codec.decode(Command.TARE_QUERY, b"TA L\r")
    assert ei.value.code == "L"


def test_zero_and_tare_replies() -> None:
    assert codec.decode(Command.ZERO, b"Z A\r") is None
    assert codec.decode(Command.CLEAR_TARE, b"TAC A\r") is None
    with pytest.raises(ScaleRangeError) as ei:
        codec.decode(Command.ZERO, b"Z +\r")
    assert ei.value.direction == "+"
    with pytest.raises(ScaleRangeError):
        codec.decode(Command.TARE, b"T -\r")
    tare = _w(Command.TARE, b"T S      0.150 kg\r")
    assert (tare.weight_g, tare.net) == (150, True)
    assert _w(Command.TARE_QUERY, b"TA A      0.150 kg\r").weight_g == 150


def test_identification() -> None:
    assert codec.decode(Command.SERIAL, b'I4 A "B021002593"\r') == "B021002593"
    assert codec.decode(Command.RESET, b'I4 A "B021002593"\r') == "B021002593"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xff\xfe",
        b"X S 1 kg",
        b"S",
        b"S S",
        b"S S 1.0",
        b"S S abc kg",
        b"S S 1.0 furlong",
        b"S Q 1.0 kg",
        b"Z A 1",
        b"Z S 1.0 kg",
        b"I4 A",
        b"S S NaN kg",
    ],
)
def test_garbage_replies(frame: bytes) -> None:
    cmd = Command.ZERO if frame.startswith(b"Z") else Command.SERIAL if frame.startswith(b"I4") else Command.WEIGHT
    with pytest.raises(ScaleProtocolError):
        codec.decode(cmd, frame)


def test_partial_lines_are_framed() -> None:
    f = codec.framer()
    assert f.feed(b"S S   1.2") == []
    assert f.feed(b"34 kg\r\nS ") == [b"S S   1.234 kg\r"]
    assert f.feed(b"+\r\n") == [b"S +\r"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Command)), st.binary(max_size=40))
def test_fuzz_decode(command: Command, frame: bytes) -> None:
    if command is Command.STATUS:
        return
    try:
        codec.decode(command, frame)
    except ScaleError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["S S", "S D", "SI S"]), st.text(alphabet="0123456789.eE+-_InfinityNa²", min_size=1, max_size=12),
       st.sampled_from(["g", "kg"]))
def test_fuzz_weight_tokens(head: str, token: str, unit: str) -> None:
    """Weight frames whose value token is anything Decimal() might take: our error or a whole number of grams."""
    try:
        r = codec.decode(Command.WEIGHT_NOW, f"{head} {token} {unit}\r".encode())
    except ScaleError:
        return
    assert r.weight_g is None or isinstance(r.weight_g, int)


@pytest.mark.parametrize("token", ["1E999999", "1e5000", "1_0", "Infinity", "NaN", "1.2.3"])
def test_weight_value_must_be_a_plain_decimal(token: str) -> None:
    with pytest.raises(ScaleProtocolError):
        codec.decode(Command.WEIGHT_NOW, f"S S {token} kg\r".encode())


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"\AS [SD] +-?[0-9]{1,4}\.[0-9]{1,3} (g|kg)\Z"))
def test_fuzz_valid_weights(text: str) -> None:
    r = _w(Command.WEIGHT_NOW, text.encode())
    assert r.weight_g is not None
