"""The technician CLI: JSON of one APDU (format fixed by issue 4), encode, frame/unframe, trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.zvt.cli import decode_to_json, main
from drivers.zvt.errors import ZvtDecodeError


def test_registration_json() -> None:
    out = decode_to_json("06 00 0E 12 34 56 BE 09 78 06 06 26 04 0A 02 06 D3")
    assert out == {
        "class": "06",
        "instr": "00",
        "command": "registration",
        "password": "123456",
        "config_byte": 0xBE,
        "currency_code": 978,
        "bmp": {},
        "tlv": {"26": {"0A": "06D3"}},
    }


def test_status_information_json_types() -> None:
    hexstr = (
        "040F3527000400000000123449097 80B0000070C1230450D120422F0F8EEEEEEEEEEEE4771"
        "2929001006870042 8A058BF0F5566973610006041F100101"
    ).replace(" ", "")
    hexstr = hexstr[:4] + f"{len(bytes.fromhex(hexstr[6:])):02X}" + hexstr[6:]
    out = decode_to_json(hexstr)
    assert out["command"] == "status_information" and out["result_text"] == "no error"
    assert out["bmp"] == {
        "27": 0,
        "04": 1234,  # amount: integer cents
        "49": 978,  # currency: integer
        "0B": "000007",  # other BCD numbers: digit strings with leading zeros
        "0C": "123045",
        "0D": "1204",
        "22": "************4771",
        "29": "29001006",
        "87": "0042",
        "8A": 5,  # single-byte binary: integer
        "8B": "Visa",  # text: string
    }
    assert out["tlv"] == {"1F10": "01"}


def test_nested_and_repeated_tlv_json() -> None:
    out = decode_to_json("06 D3 12 06 10 1F 07 01 01 25 0A 07 03 61 62 63 07 00 09 01 81")
    assert out["tlv"] == {"1F07": "01", "25": {"07": ["616263", ""], "09": "81"}}


def test_abort_json_has_result_code() -> None:
    out = decode_to_json("06 1E 01 6C")
    assert out["command"] == "abort_pt" and out["result_code"] == 0x6C
    assert out["result_text"] == "abort via timeout or abort key"


@pytest.mark.parametrize("bad", ["06 0", "zz", "06 01 05 04", ""])
def test_bad_input_raises_typed(bad: str) -> None:
    with pytest.raises(ZvtDecodeError):
        decode_to_json(bad)


def test_main_decode_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "06 50 03 12 34 56"]) == 0
    assert json.loads(capsys.readouterr().out)["password"] == "123456"


def test_main_bad_hex_exits_non_zero_with_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "06zz"]) == 1
    assert "not a hex string" in capsys.readouterr().err


def test_main_encode_frame_unframe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode", "authorization", "--amount", "1234", "--currency", "978"]) == 0
    assert capsys.readouterr().out.strip() == "06 01 0A 04 00 00 00 00 12 34 49 09 78"
    assert main(["encode", "reversal", "--password", "123456", "--receipt", "42"]) == 0
    assert capsys.readouterr().out.strip() == "06 30 06 12 34 56 87 00 42"
    assert main(["encode", "registration", "--password", "123456", "--config", "0xBA"]) == 0
    assert capsys.readouterr().out.strip() == "06 00 06 12 34 56 BA 09 78"
    assert main(["frame", "80 00 00"]) == 0
    assert capsys.readouterr().out.strip() == "10 02 80 00 00 10 03 F5 1F"
    assert main(["unframe", "10 02 80 00 00 10 03 F5 1F"]) == 0
    assert capsys.readouterr().out.strip() == "80 00 00"
    assert main(["unframe", "10 02 80 00 00 10 03 F5 1E"]) == 1
    assert "CRC mismatch" in capsys.readouterr().err
    assert main(["encode", "refund"]) == 1
    assert "--amount" in capsys.readouterr().err


def test_main_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "trace.txt"
    capture.write_text(
        "-> 06 01 0A 04 00 00 00 00 12 34 49 09 78\n"
        "<- 80 00 00 04 FF 01 0A  # two APDUs in one read\n"
        "< 06 10 02 80 00 00 10 03 F5 1F\n"
    )
    assert main(["trace", str(capture)]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [i.get("command", i.get("transport")) for i in items] == [
        "authorization",
        "ack",
        "intermediate_status",
        "ACK",
        "ack",
    ]
    assert items[0]["direction"] == "ecr_to_pt" and items[2]["status"] == 0x0A
    capture.write_text("<- 06 1E 01\n")
    assert main(["trace", str(capture)]) == 1
