"""Technician commands for ZVT: decode, encode, frame/unframe RS232 blocks, decode traces, diagnose.

Mounted by the daemon as ``storegw zvt ...``; runnable alone as ``python -m drivers.zvt.cli ...``.
Layouts follow fact sheet ``reference/zvt.md`` (sections 1.3, 2, 5-8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from drivers.zvt import commands
from drivers.zvt.apdu import Apdu, decode_apdu, split_apdus
from drivers.zvt.errors import ZvtError
from drivers.zvt.framing import Deframer, frame, unframe
from drivers.zvt.layout import decode_hex, decode_message, to_json


def decode_to_json(hex_string: str) -> dict[str, object]:
    """JSON of one APDU given as hex: ``class``, ``instr``, ``command``, positional fields, ``bmp``, ``tlv``.

    Raises ``ZvtDecodeError`` (a ``ValueError``) for bad hex or a malformed APDU.
    """
    return to_json(decode_hex(hex_string))


def _hex_bytes(text: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError as err:
        raise ZvtError(f"not a hex string: {err}") from None


def _spaced(raw: bytes) -> str:
    return raw.hex(" ").upper()


def _int_auto(text: str) -> int:
    return int(text, 0)


_ENCODERS: dict[str, Callable[[argparse.Namespace], Apdu]] = {
    "registration": lambda a: commands.registration(a.password, a.config, a.currency, a.service),
    "authorization": lambda a: commands.authorization(_need(a.amount, "--amount"), a.currency),
    "pre_authorization": lambda a: commands.pre_authorization(_need(a.amount, "--amount"), a.currency),
    "book_total": lambda a: commands.book_total(_need(a.receipt, "--receipt"), a.amount, a.currency),
    "partial_reversal": lambda a: commands.partial_reversal(_need(a.receipt, "--receipt"), a.amount, a.currency),
    "reversal": lambda a: commands.reversal(a.password, _need(a.receipt, "--receipt"), a.amount),
    "refund": lambda a: commands.refund(a.password, _need(a.amount, "--amount"), a.currency),
    "end_of_day": lambda a: commands.end_of_day(a.password),
    "diagnosis": lambda a: commands.diagnosis(a.diagnosis_type),
    "status_enquiry": lambda a: commands.status_enquiry(a.password, a.service),
    "repeat_receipt": lambda a: commands.repeat_receipt(a.password, a.service),
    "abort": lambda a: commands.abort(),
    "log_off": lambda a: commands.log_off(),
    "display_text": lambda a: commands.display_text(a.line or [], a.duration),
}


def _need(value: int | None, option: str) -> int:
    if value is None:
        raise ZvtError(f"this command needs {option}")
    return value


def trace_to_json(text: str) -> list[dict[str, object]]:
    """Decode a captured conversation: one hex dump per line, optionally prefixed ``>``/``->`` (ECR to
    PT) or ``<``/``<-`` (PT to ECR). A line may hold several APDUs (TCP) or RS232 blocks with ACK/NAK
    bytes. Undecodable lines are reported with ``error`` and the rest is still decoded."""
    out: list[dict[str, object]] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        direction = None
        for prefix, name in (("->", "ecr_to_pt"), ("<-", "pt_to_ecr"), (">", "ecr_to_pt"), ("<", "pt_to_ecr")):
            if stripped.startswith(prefix):
                direction, stripped = name, stripped[len(prefix) :]
                break
        try:
            raw = _hex_bytes(stripped)
            for item in _trace_items(raw):
                item.update({"line": number, "direction": direction})
                out.append(item)
        except ZvtError as err:
            out.append({"line": number, "direction": direction, "error": str(err)})
    return out


def _trace_items(raw: bytes) -> list[dict[str, object]]:
    # RS232 captures start with a block (10 02) or with ACK/NAK bytes before one; TCP ones with an APDU.
    body = raw.lstrip(b"\x06\x15")
    if body and not body.startswith(b"\x10\x02"):
        return [to_json(decode_message(apdu)) for apdu in split_apdus(raw)]
    items: list[dict[str, object]] = []
    deframer = Deframer()
    for byte in raw:
        if not deframer.in_block and not deframer.after_dle and byte in (0x06, 0x15):
            items.append({"transport": "ACK" if byte == 0x06 else "NAK"})
            continue
        result = deframer.feed(byte)
        if result is None:
            continue
        kind, value = result
        if kind == "error":
            items.append({"error": str(value)})
        else:
            assert isinstance(value, bytes)
            items.append(to_json(decode_message(decode_apdu(value))))
    return items


async def _diag(host: str, port: int, password: str) -> dict[str, object]:
    from drivers.zvt.client import ZvtClient
    from drivers.zvt.transport import TcpTransport

    client = ZvtClient(TcpTransport(host, port), password=password)
    try:
        registration = await client.register()
        status = await client.status_enquiry()
        diagnosis = await client.diagnosis()
    finally:
        await client.close()
    return {"registration": asdict(registration), "status": asdict(status), "diagnosis": asdict(diagnosis)}


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The argument parser (pass an existing sub-parser to mount it under another program)."""
    parser = parser or argparse.ArgumentParser(prog="zvt", description="ZVT card terminal tools")
    sub = parser.add_subparsers(dest="zvt_command", required=True)
    sub.add_parser("decode", help="decode one APDU to JSON").add_argument("hex", nargs="+")
    sub.add_parser("frame", help="APDU -> RS232 block").add_argument("hex", nargs="+")
    sub.add_parser("unframe", help="RS232 block -> APDU").add_argument("hex", nargs="+")
    sub.add_parser("trace", help="decode a captured conversation file").add_argument("file")
    enc = sub.add_parser("encode", help="build an ECR command APDU")
    enc.add_argument("command", choices=sorted(_ENCODERS))
    enc.add_argument("--amount", type=int, help="amount in cents")
    enc.add_argument("--currency", type=int, default=commands.EUR)
    enc.add_argument("--password", default="000000")
    enc.add_argument("--config", type=_int_auto, default=commands.DEFAULT_CONFIG_BYTE)
    enc.add_argument("--service", type=_int_auto)
    enc.add_argument("--receipt", type=int)
    enc.add_argument("--diagnosis-type", type=_int_auto)
    enc.add_argument("--duration", type=int)
    enc.add_argument("--line", action="append", help="display line (repeatable)")
    diag = sub.add_parser("diag", help="registration + status enquiry + diagnosis against a terminal")
    diag.add_argument("--host", required=True)
    diag.add_argument("--port", type=int, default=20007)
    diag.add_argument("--password", default="000000")
    return parser


def run(args: argparse.Namespace) -> int:
    """Execute parsed arguments; prints to stdout, errors to stderr; returns the exit code."""
    try:
        command = args.zvt_command
        if command == "decode":
            print(json.dumps(decode_to_json(" ".join(args.hex)), indent=2, ensure_ascii=False))
        elif command == "frame":
            print(_spaced(frame(decode_apdu(_hex_bytes(" ".join(args.hex))).encode())))
        elif command == "unframe":
            print(_spaced(unframe(_hex_bytes(" ".join(args.hex)))))
        elif command == "encode":
            print(_spaced(_ENCODERS[args.command](args).encode()))
        elif command == "trace":
            items = trace_to_json(Path(args.file).read_text())
            print(json.dumps(items, indent=2, ensure_ascii=False))
            return 1 if any("error" in item for item in items) else 0
        elif command == "diag":
            print(json.dumps(asyncio.run(_diag(args.host, args.port, args.password)), indent=2))
    except (ZvtError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``zvt decode HEX`` etc."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
