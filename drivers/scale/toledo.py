"""Toledo 8217 and NCI/ECR scale protocols: the two single-letter "W" dialogues of retail scales.

Hardware: Mettler Toledo retail scales in 8217 mode (Ariva-S, Viva), and NCI/ECR-protocol
scales (Weigh-Tronix/Avery SCP-01/02, scanner-scales such as Datalogic Magellan, DIVA).
Protocol documents, as summarised in the project fact sheet §4.2/§4.3: Mettler Toledo 8217
(odoo ``SerialScaleDriver.py``; DIVA service manual §6.1.4.3) and the NCI "SCP-01" general
scale protocol. Both run at 9600 7E1 by default; bit 7 of every status byte is parity, so it
is masked off (a pty does not emulate parity).

8217: ``W`` (no terminator) -> ``STX weight [N] CR`` when stable and in range, else
``STX ? status CR``; ``Z``/``T``/``C`` zero, tare and clear tare without reply.
NCI: ``W CR`` -> ``LF weight unit CR LF status... CR ETX`` or just ``LF status... CR ETX``;
``S CR`` -> status; ``Z CR`` -> zero and status; unknown -> ``LF ? CR ETX``.
"""

from __future__ import annotations

import re

from drivers.scale.codec import Command, Result
from drivers.scale.errors import ScaleCommandError, ScaleDeviceError, ScaleProtocolError, ScaleUnsupported
from drivers.scale.model import WeightReading, WeightState, to_grams
from drivers.serialio import Framer, SerialSettings

STX, ETX, LF, CR = 0x02, 0x03, 0x0A, 0x0D
_SETTINGS_7E1 = SerialSettings(9600, 7, "E", 1)
_NUMBER = re.compile(rb"^\s*(-?\d+(?:\.\d+)?)\s*(N?)$")
_NCI_WEIGHT = re.compile(rb"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z]{1,2})$")


def _bits(byte: int, frame: bytes) -> int:
    """Status byte without parity; bits 4 and 5 are always 1 in both protocols."""
    b = byte & 0x7F
    if b & 0x30 != 0x30:
        raise ScaleProtocolError("status byte with fixed bits 4/5 not set", frame)
    return b


class Toledo8217Codec:
    """Mettler Toledo 8217 codec; the scale sends the weight in ``unit`` (kg by default)."""

    name = "toledo8217"
    default_settings = _SETTINGS_7E1

    def __init__(self, unit: str = "kg") -> None:
        self.unit = unit

    def framer(self) -> Framer:
        """Frames run from STX to CR."""
        return Framer(bytes([CR]), start=STX, max_len=32, skip_empty=False)

    def encode(self, command: Command) -> bytes:
        """``W``, ``Z``, ``T``, ``C`` (one byte each, no terminator)."""
        table = {Command.WEIGHT: b"W", Command.WEIGHT_NOW: b"W", Command.ZERO: b"Z", Command.TARE: b"T"}
        table[Command.CLEAR_TARE] = b"C"
        req = table.get(command)
        if req is None:
            raise ScaleUnsupported(f"8217 has no {command.value} command")
        return req

    def expects_reply(self, command: Command) -> bool:
        """Only ``W`` is answered."""
        return command in (Command.WEIGHT, Command.WEIGHT_NOW)

    def decode(self, command: Command, frame: bytes) -> Result:
        """Weight frame -> stable reading; ``?`` status frame -> moving/over/under or fault."""
        if frame[:1] == b"?":
            if len(frame) != 2:
                raise ScaleProtocolError("status frame needs one status byte", frame)
            b = frame[1] & 0x7F  # bits 4/5 are zero-centre and net flags here, not fixed
            if not b & 0x40:
                raise ScaleProtocolError("status byte bit 6 not set", frame)
            if b & 0x02:
                return WeightReading(WeightState.OVERLOAD, None, raw=frame)
            if b & 0x04:
                return WeightReading(WeightState.UNDERLOAD, None, raw=frame)
            if b & 0x01:
                return WeightReading(WeightState.MOVING, None, raw=frame, net=bool(b & 0x20))
            if b & 0x08:
                raise ScaleDeviceError(("outside zero-capture range",))
            raise ScaleProtocolError("status frame without a reason", frame)
        m = _NUMBER.match(frame)
        if m is None:
            raise ScaleProtocolError("malformed weight frame", frame)
        grams = to_grams(m.group(1).decode(), self.unit, frame)
        return WeightReading(WeightState.STABLE, grams, self.unit, net=bool(m.group(2)), at_zero=grams == 0, raw=frame)


class NciCodec:
    """NCI / ECR (SCP-01) codec."""

    name = "nci"
    default_settings = _SETTINGS_7E1

    def framer(self) -> Framer:
        """A reply runs from the first LF to ETX and holds CR-terminated records."""
        return Framer(bytes([ETX]), start=LF, max_len=64, skip_empty=False)

    def encode(self, command: Command) -> bytes:
        """``W CR``, ``S CR``, ``Z CR``."""
        table = {Command.WEIGHT: b"W\r", Command.WEIGHT_NOW: b"W\r", Command.STATUS: b"S\r", Command.ZERO: b"Z\r"}
        req = table.get(command)
        if req is None:
            raise ScaleUnsupported(f"NCI has no {command.value} command")
        return req

    def expects_reply(self, command: Command) -> bool:
        """Every NCI command is answered."""
        return True

    def decode(self, command: Command, frame: bytes) -> Result:
        """Records: optional weight record, then the status record."""
        records = [r.lstrip(b"\n") for r in frame.split(b"\r")]
        if records and records[-1] == b"":
            records.pop()
        else:
            raise ScaleProtocolError("reply not ended by CR before ETX", frame)
        if records == [b"?"]:
            raise ScaleCommandError("?", "command not recognised by the scale")
        weight: tuple[int, str] | None = None
        if len(records) == 2 and command in (Command.WEIGHT, Command.WEIGHT_NOW):
            m = _NCI_WEIGHT.match(records[0])
            if m is None:
                raise ScaleProtocolError("malformed weight record", frame)
            unit = m.group(2).decode().lower()
            weight = (to_grams(m.group(1).decode(), unit, frame), unit)
        elif len(records) != 1:
            raise ScaleProtocolError("unexpected record count", frame)
        reading = self._status(records[-1], frame, weight)
        return None if command is Command.ZERO else reading

    def _status(self, rec: bytes, frame: bytes, weight: tuple[int, str] | None) -> WeightReading:
        if len(rec) not in (2, 3):
            raise ScaleProtocolError("status record needs 2 or 3 bytes", frame)
        s1, s2 = _bits(rec[0], frame), _bits(rec[1], frame)
        s3 = _bits(rec[2], frame) if len(rec) == 3 else 0
        if bool(s2 & 0x40) != (len(rec) == 3):
            raise ScaleProtocolError("status byte 2 'byte follows' flag does not match", frame)
        faults = [
            name
            for flag, name in (
                (s1 & 0x04, "RAM error"),
                (s1 & 0x08, "EEPROM error"),
                (s2 & 0x04, "ROM error"),
                (s2 & 0x08, "faulty calibration"),
                (s3 & 0x08, "initial zero error"),
            )
            if flag
        ]
        if faults:
            raise ScaleDeviceError(tuple(faults))
        at_zero, net = bool(s1 & 0x02), bool(s3 & 0x04)
        if s2 & 0x02:
            state = WeightState.OVERLOAD
        elif s2 & 0x01:
            state = WeightState.UNDERLOAD
        elif s1 & 0x01:
            state = WeightState.MOVING
        else:
            state = WeightState.STABLE
        grams, unit = weight if weight is not None else (None, None)
        if state is not WeightState.STABLE and state is not WeightState.MOVING:
            grams = None
        return WeightReading(state, grams, unit, net=net, at_zero=at_zero, raw=frame)
