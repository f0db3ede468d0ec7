"""Mettler Toledo MT-SICS (Standard Interface Command Set) codec, level 0/1 commands.

Hardware: Mettler Toledo balances and retail/industrial terminals with an MT-SICS interface
(and SICS-compatible scales such as KERN KET/KEN). Protocol document: "MT-SICS Interface
Command Set" reference manual (Mettler Toledo), as summarised in the project fact sheet §4.4
(InstrumentKit ``mt_sics.py``; MT AL/AT operating instructions). Commands are ASCII
terminated by CR LF; replies are ``<id> <status> [values]`` lines terminated by CR LF.
"""

from __future__ import annotations

import re

from drivers.scale.codec import Command, Result
from drivers.scale.errors import (
    ScaleBusy,
    ScaleCommandError,
    ScaleProtocolError,
    ScaleRangeError,
    ScaleUnsupported,
)
from drivers.scale.model import WeightReading, WeightState, to_grams
from drivers.serialio import Framer, SerialSettings

_REQUEST = {
    Command.WEIGHT: "S",
    Command.WEIGHT_NOW: "SI",
    Command.ZERO: "Z",
    Command.ZERO_NOW: "ZI",
    Command.TARE: "T",
    Command.TARE_NOW: "TI",
    Command.TARE_QUERY: "TA",
    Command.CLEAR_TARE: "TAC",
    Command.RESET: "@",
    Command.SERIAL: "I4",
}
# The reply id for each request id: weight commands answer "S", reset answers "I4".
_REPLY_ID = {"S": "S", "SI": "S", "Z": "Z", "ZI": "Z", "T": "T", "TI": "T", "TA": "TA", "TAC": "TAC", "@": "I4", "I4": "I4"}
_GENERAL_ERRORS = {
    "ES": "syntax error: command not recognised",
    "ET": "transmission error: parity or buffer overflow",
    "EL": "logical error: command cannot be executed",
}
_TOKENS = re.compile(r'"[^"]*"|\S+')


def split_reply(frame: bytes) -> list[str]:
    """Split one reply line into tokens; quoted strings stay one token without quotes."""
    try:
        text = frame.decode("ascii").rstrip("\r")
    except UnicodeDecodeError:
        raise ScaleProtocolError("non-ASCII reply", frame) from None
    return [t[1:-1] if t.startswith('"') else t for t in _TOKENS.findall(text)]


class MtSicsCodec:
    """MT-SICS request builder and reply parser (see module docstring for the source)."""

    name = "mtsics"
    default_settings = SerialSettings(9600, 8, "N", 1)

    def framer(self) -> Framer:
        """Lines end with LF (the CR before it is stripped in :func:`split_reply`)."""
        return Framer(b"\n", max_len=256)

    def encode(self, command: Command) -> bytes:
        """``S``, ``SI``, ``Z``, ``ZI``, ``T``, ``TI``, ``TA``, ``TAC``, ``@``, ``I4`` + CR LF."""
        req = _REQUEST.get(command)
        if req is None:
            raise ScaleUnsupported(f"MT-SICS has no {command.value} command")
        return req.encode("ascii") + b"\r\n"

    def encode_tare_preset(self, grams: int) -> bytes:
        """``TA <value> g`` presets a tare weight (in grams here, to stay integral)."""
        if grams < 0:
            raise ValueError("tare must not be negative")
        return f"TA {grams} g\r\n".encode("ascii")

    def expects_reply(self, command: Command) -> bool:
        """Every MT-SICS command is answered."""
        return True

    def decode(self, command: Command, frame: bytes) -> Result:
        """Interpret a reply line; see :class:`~drivers.scale.codec.ScaleCodec`."""
        tokens = split_reply(frame)
        if not tokens:
            raise ScaleProtocolError("empty reply", frame)
        if len(tokens) == 1 and tokens[0] in _GENERAL_ERRORS:
            raise ScaleCommandError(tokens[0], _GENERAL_ERRORS[tokens[0]])
        req = _REQUEST[command]
        if tokens[0] != _REPLY_ID[req] or len(tokens) < 2:
            raise ScaleProtocolError(f"not a reply to {req}", frame)
        status, values = tokens[1], tokens[2:]
        if status == "I":
            raise ScaleBusy(f"{req}: command not executable now (busy or no stable weight)")
        if status == "L":
            raise ScaleCommandError("L", f"{req}: parameter or state not allowed")
        if req in ("S", "SI"):
            return self._weight(status, values, frame)
        if status in ("+", "-"):
            raise ScaleRangeError(req, status)
        if req in ("Z", "ZI", "TAC"):
            if status not in ("A", "D", "S") or values:
                raise ScaleProtocolError(f"unexpected {req} reply", frame)
            return None
        if req in ("T", "TI", "TA"):
            return self._weight(status, values, frame, tare=True)
        if status != "A" or len(values) != 1:  # I4 / @ -> I4 A "serial"
            raise ScaleProtocolError("unexpected identification reply", frame)
        return values[0]

    def _weight(self, status: str, values: list[str], frame: bytes, tare: bool = False) -> WeightReading:
        if status == "+" and not values:
            return WeightReading(WeightState.OVERLOAD, None, raw=frame)
        if status == "-" and not values:
            return WeightReading(WeightState.UNDERLOAD, None, raw=frame)
        if status not in ("S", "D", "A") or len(values) != 2:
            raise ScaleProtocolError("malformed weight reply", frame)
        grams = to_grams(values[0], values[1], frame)
        state = WeightState.MOVING if status == "D" else WeightState.STABLE
        return WeightReading(state, grams, unit=values[1], net=tare, at_zero=grams == 0, raw=frame)
