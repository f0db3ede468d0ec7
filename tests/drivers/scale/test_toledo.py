"""Toledo 8217 and NCI codecs: exact request bytes, weight/status replies, faults, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scale import (
    Command,
    NciCodec,
    ScaleCommandError,
    ScaleDeviceError,
    ScaleError,
    ScaleProtocolError,
    ScaleUnsupported,
    Toledo8217Codec,
    WeightReading,
    WeightState,
)

t8217 = Toledo8217Codec()
nci = NciCodec()


@pytest.mark.parametrize(
    ("command", "wire", "reply"),
    [
        (Command.WEIGHT, b"W", True),
        (Command.WEIGHT_NOW, b"W", True),
        (Command.ZERO, b"Z", False),
        (Command.TARE, b"T", False),
        (Command.CLEAR_TARE, b"C", False),
    ],
)
def test_8217_request_bytes(command: Command, wire: bytes, reply: bool) -> None:
    assert t8217.encode(command) == wire
    assert t8217.expects_reply(command) is reply


@pytest.mark.parametrize("command", [Command.SERIAL, Command.RESET, Command.STATUS, Command.TARE_QUERY])
def test_8217_unsupported(command: Command) -> None:
    with pytest.raises(ScaleUnsupported):
        t8217.encode(command)


def _r(codec: Toledo8217Codec | NciCodec, frame: bytes, cmd: Command = Command.WEIGHT) -> WeightReading:
    r = codec.decode(cmd, frame)
    assert isinstance(r, WeightReading)
    return r


def test_8217_weight_frames() -> None:
    f = t8217.framer()
    assert f.feed(b"\x0201.234\r") == [b"01.234"]
    r = _r(t8217, b"01.234")
    assert (r.state, r.weight_g, r.net) == (WeightState.STABLE, 1234, False)
    assert _r(t8217, b" 0.500N").net is True
    assert _r(t8217, b"00.000").at_zero


@pytest.mark.parametrize(
    ("status", "state"),
    [(0x41, WeightState.MOVING), (0x42, WeightState.OVERLOAD), (0x44, WeightState.UNDERLOAD), (0xC1, WeightState.MOVING)],
)
def test_8217_status_frames(status: int, state: WeightState) -> None:
    r = _r(t8217, bytes([ord("?"), status]))
    assert (r.state, r.weight_g) == (state, None)


def test_8217_zero_range_fault_and_garbage() -> None:
    with pytest.raises(ScaleDeviceError):
        t8217.decode(Command.WEIGHT, b"?\x48")
    for bad in (b"?", b"?\x01", b"?\x40", b"abc", b"1.2.3", b"?AB"):
        with pytest.raises(ScaleProtocolError):
            t8217.decode(Command.WEIGHT, bad)


def test_8217_framer_reports_noise() -> None:
    items = t8217.framer().feed(b"xx\x0201.000\ryy")
    assert items[1] == b"01.000"
    assert [type(i).__name__ for i in items] == ["Garbage", "bytes", "Garbage"]


@pytest.mark.parametrize(
    ("command", "wire"),
    [(Command.WEIGHT, b"W\r"), (Command.STATUS, b"S\r"), (Command.ZERO, b"Z\r")],
)
def test_nci_request_bytes(command: Command, wire: bytes) -> None:
    assert nci.encode(command) == wire


def test_nci_tare_unsupported() -> None:
    with pytest.raises(ScaleUnsupported):
        nci.encode(Command.TARE)


def test_nci_weight_reply() -> None:
    (frame,) = nci.framer().feed(b"\n0001.23LB\r\n00\r\x03")
    r = _r(nci, frame)
    assert (r.state, r.weight_g, r.unit) == (WeightState.STABLE, 558, "lb")
    r2 = _r(nci, b"0001.234KG\r\n20\r")
    assert (r2.weight_g, r2.at_zero) == (1234, True)


@pytest.mark.parametrize(
    ("status", "state"),
    [(b"10", WeightState.MOVING), (b"01", WeightState.UNDERLOAD), (b"02", WeightState.OVERLOAD), (b"00", WeightState.STABLE)],
)
def test_nci_status_only(status: bytes, state: WeightState) -> None:
    r = _r(nci, status + b"\r")
    assert (r.state, r.weight_g) == (state, None)


def test_nci_third_status_byte_net() -> None:
    r = _r(nci, b"0000.500KG\r\n0p4\r")  # 'p' = 0x70: byte follows; '4' = 0x34: net
    assert (r.weight_g, r.net) == (500, True)


@pytest.mark.parametrize(
    ("status", "fault"),
    [(b"40", "RAM error"), (b"80", "EEPROM error"), (b"04", "ROM error"), (b"08", "faulty calibration")],
)
def test_nci_faults(status: bytes, fault: str) -> None:
    with pytest.raises(ScaleDeviceError) as ei:
        nci.decode(Command.STATUS, status + b"\r")  # "4" = 0x34, "8" = 0x38
    assert fault in ei.value.faults


def test_nci_unknown_command_reply() -> None:
    with pytest.raises(ScaleCommandError) as ei:
        nci.decode(Command.WEIGHT, b"?\r")
    assert ei.value.code == "?"


def test_nci_zero_reply_is_none() -> None:
    assert nci.decode(Command.ZERO, b"20\r") is None


@pytest.mark.parametrize(
    "frame",
    [b"", b"00", b"0\r", b"AA\r", b"00\x0d\x0d", b"1.2XYZ9\r\n00\r", b"x\r\n00\r", b"00p\r", b"0p\r", b"a\rb\rc\r"],
)
def test_nci_garbage(frame: bytes) -> None:
    with pytest.raises(ScaleProtocolError):
        nci.decode(Command.WEIGHT, frame)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([Command.WEIGHT, Command.ZERO, Command.STATUS]), st.binary(max_size=30))
def test_fuzz_nci(command: Command, frame: bytes) -> None:
    try:
        nci.decode(command, frame)
    except ScaleError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=20))
def test_fuzz_8217(frame: bytes) -> None:
    try:
        t8217.decode(Command.WEIGHT, frame)
    except ScaleError:
        pass
