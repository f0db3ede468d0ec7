"""Scriptable ZVT payment terminal (PT) simulator speaking the real protocol over TCP and over a pty.

Implements the PT side of PA00P015/PA00P016 as laid out in fact sheet ``reference/zvt.md``
(sequences of section 13, commit point of section 3.3): registration, authorization, refund,
reversal by receipt number, pre-authorisation / book total / partial reversal, end-of-day with
totals, diagnosis, status enquiry, repeat receipt, abort, log-off and display text.
Each transaction follows the next queued ``Scenario`` (approve, decline, slow card, timeout,
disconnect before or after the result, split or merged TCP packets). A transaction is booked
once the ECR acknowledged its Status-Information; otherwise the simulator auto-reverses it.

Run: ``python -m drivers.zvt.simulator --port 20007`` or ``--pty`` (prints the device path).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tty
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from drivers.zvt.apdu import ACK, Apdu
from drivers.zvt.commands import EUR, nack
from drivers.zvt.errors import ZvtConnectionError, ZvtDecodeError, ZvtTimeout
from drivers.zvt.fields import BmpValue
from drivers.zvt.layout import Decoded, decode_message
from drivers.zvt.messages import (
    build_completion,
    build_intermediate_status,
    build_print_line,
    build_print_text_block,
    build_pt_abort,
    build_status_completion,
    build_status_information,
    encode_totals,
)
from drivers.zvt.serial_link import SerialLink
from drivers.zvt.sim_journal import AUTO_REVERSED, BOOKED, RESERVED, REVERSED, Entry, Journal
from drivers.zvt.sim_links import Peer, SerialPeer, TcpPeer
from drivers.zvt.tlv import TlvObject, cons, find_tag, prim

log = logging.getLogger(__name__)

OUTCOMES = ("approve", "decline", "timeout", "disconnect_before_result", "disconnect_after_result")


@dataclass
class Scenario:
    """How the simulator handles the next transaction command."""

    outcome: str = "approve"
    result_code: int = 0x05  # for decline
    slow: int = 0  # extra "please wait" statuses before the result
    delay: float = 0.05  # seconds between intermediate statuses
    delivery: str = "normal"  # normal | split | merged (TCP only)
    hold_after_result: float = 0.0  # pause after the acknowledged result, before the receipts
    card: tuple[int, str, str] = (0x05, "girocard", "************4771")

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """``approve``, ``decline:6C``, ``slow:3``, ``timeout``, ``split``, ``merged``, ``hold:2``, ``disconnect_*``."""
        name, _, arg = text.partition(":")
        if name == "decline":
            return cls("decline", int(arg or "05", 16))
        if name == "slow":
            return cls(slow=int(arg or "3"), delay=0.5)
        if name == "hold":
            return cls(hold_after_result=float(arg or "2"))
        if name in ("split", "merged"):
            return cls(delivery=name)
        if name in OUTCOMES:
            return cls(name)
        raise ValueError(f"unknown scenario {text!r}")


class _Aborted(Exception):
    """The ECR sent 06 B0 while the simulated terminal was master."""


class _HungUp(Exception):
    """The scenario dropped the link."""


@dataclass
class SimulatorConfig:
    """Static identity and behaviour of the simulated terminal."""

    terminal_id: str = "29001006"
    vu_number: str = "4711000001"
    sw_version: str = "STOREGW-SIM 1.0"
    config_byte: int = 0xBE
    ack_timeout: float = 5.0
    sent_log: list[bytes] = field(default_factory=list)


class ZvtSimulator:
    """The simulated terminal: journal, scenario queue, and servers (TCP, pty)."""

    def __init__(self, journal: Journal | None = None, config: SimulatorConfig | None = None) -> None:
        self.journal = journal or Journal()
        self.config = config or SimulatorConfig()
        self.scenarios: deque[Scenario] = deque()
        self.default = Scenario()
        self.config_byte = self.config.config_byte
        self.text_blocks = False
        self.display: list[str] = []
        self.received: list[bytes] = []
        self._servers: list[asyncio.Server] = []
        self._links: list[SerialLink] = []
        self._fds: list[int] = []
        self._pty_tasks: set[asyncio.Task[None]] = set()
        self._tcp_tasks: set[asyncio.Task[Any]] = set()
        self._peers: set[TcpPeer] = set()

    def push(self, *scenarios: Scenario | str) -> None:
        """Queue scenarios for the next transactions (strings as in ``Scenario.parse``)."""
        for item in scenarios:
            self.scenarios.append(Scenario.parse(item) if isinstance(item, str) else item)

    def _next(self) -> Scenario:
        return self.scenarios.popleft() if self.scenarios else self.default

    # ---- servers ------------------------------------------------------------------------------

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on TCP; returns the bound port."""
        server = await asyncio.start_server(self._on_tcp, host, port)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def start_pty(self) -> str:
        """Open a pty pair and serve the master side; returns the slave device path for the ECR."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: the ECR sees raw bytes
        self._fds += [master, slave]
        link = SerialLink(master)
        link.start()
        self._links.append(link)
        self._spawn(self._serve(SerialPeer(link)))
        return os.ttyname(slave)

    async def stop(self) -> None:
        """Close servers, sessions and ptys."""
        for server in self._servers:
            server.close()
        for peer in list(self._peers):
            peer.writer.close()  # the session sees EOF and ends by itself
        if self._tcp_tasks:
            # Sessions end by themselves on EOF; only one stuck in a scripted pause is cancelled.
            _, pending = await asyncio.wait(list(self._tcp_tasks), timeout=1.0)
            for task in pending:
                task.cancel()
        for task in list(self._pty_tasks):
            task.cancel()
        for task in [*self._pty_tasks, *self._tcp_tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for link in self._links:
            await link.stop()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._servers, self._links, self._fds = [], [], []

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._pty_tasks.add(task)
        task.add_done_callback(self._pty_tasks.discard)

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tcp_tasks.add(task)
            task.add_done_callback(self._tcp_tasks.discard)
        peer = TcpPeer(reader, writer)
        self._peers.add(peer)
        try:
            await self._serve(peer)
        finally:
            self._peers.discard(peer)
            await peer.hangup()

    async def _serve(self, peer: Peer) -> None:
        while True:
            try:
                apdu = await peer.receive(None)
            except ZvtConnectionError:
                return
            self.received.append(apdu.encode())
            peer.delivery = "normal"
            try:
                await self._handle(peer, apdu)
            except _HungUp:
                if isinstance(peer, TcpPeer):
                    return
            except (ZvtConnectionError, ZvtTimeout) as err:
                log.info("ECR gone during a command: %s", err)
                if isinstance(peer, TcpPeer):
                    return

    # ---- conversation helpers -----------------------------------------------------------------

    async def _pt_send(self, peer: Peer, apdu: Apdu) -> Apdu:
        """Send a PT command and wait for the ECR's response; a 06 B0 meanwhile is acknowledged."""
        await peer.send(apdu)
        while True:
            reply = await peer.receive(self.config.ack_timeout, "ack")
            if reply.control == (0x06, 0xB0):
                await peer.send(ACK)
                continue
            return reply

    async def _wait(self, peer: Peer, seconds: float | None) -> None:
        """Let time pass like a terminal waiting for the card; raises ``_Aborted`` on 06 B0."""
        try:
            reply = await peer.receive(seconds, "wait")
        except ZvtTimeout:
            return
        if reply.control == (0x06, 0xB0):
            await peer.send(ACK)
            raise _Aborted
        log.warning("ECR sent %s while the terminal is master; ignored", reply)

    async def _finish_abort(self, peer: Peer, code: int) -> None:
        await self._pt_send(peer, build_pt_abort(code))

    async def _complete(self, peer: Peer, fields: list[tuple[int, BmpValue]] | None = None) -> None:
        await self._pt_send(peer, build_completion(fields))

    # ---- dispatcher ---------------------------------------------------------------------------

    async def _handle(self, peer: Peer, apdu: Apdu) -> None:
        try:
            d = decode_message(apdu)
        except ZvtDecodeError as err:
            log.warning("malformed command %s: %s", apdu, err)
            await peer.send(nack(0x9A))
            return
        key = apdu.control
        handler = {
            (0x06, 0x00): self._registration,
            (0x06, 0x01): self._payment,
            (0x06, 0x31): self._payment,
            (0x06, 0x22): self._payment,
            (0x06, 0x30): self._reversal,
            (0x06, 0x24): self._book_total,
            (0x06, 0x23): self._partial_reversal,
            (0x06, 0x50): self._end_of_day,
            (0x06, 0x70): self._diagnosis,
            (0x05, 0x01): self._status_enquiry,
            (0x06, 0x20): self._repeat_receipt,
        }.get(key)
        if handler is not None:
            await handler(peer, d)
        elif key in ((0x06, 0xB0), (0x06, 0x02), (0x06, 0xE0)):
            if key == (0x06, 0x02):
                self.config_byte, self.text_blocks = 0x86, False
            if key == (0x06, 0xE0):
                self.display = [v for n, v in d.fields.values.items() if 0xF1 <= n <= 0xF8 and isinstance(v, str)]
            await peer.send(ACK)
        else:
            await peer.send(nack(0x83))

    async def _registration(self, peer: Peer, d: Decoded) -> None:
        await peer.send(ACK)
        currency = int(d.positional.get("currency_code", EUR))
        if currency != EUR:
            await self._finish_abort(peer, 0x6F)
            return
        self.config_byte = int(d.positional["config_byte"])
        permitted = find_tag(d.tlv, 0x26)
        self.text_blocks = bool(permitted and any(c.value == b"\x06\xd3" for c in permitted.children or ()))
        await self._complete(peer, [(0x19, 0), (0x29, self.config.terminal_id), (0x49, currency)])

    def _intermediate_on(self) -> bool:
        return bool(self.config_byte & 0x08)

    async def _card_phase(self, peer: Peer, scenario: Scenario) -> None:
        """Intermediate statuses of a card transaction according to the scenario."""
        peer.delivery = scenario.delivery
        await peer.send(ACK)
        statuses = [0x0A] + [0x17] * scenario.slow
        for code in statuses:
            if self._intermediate_on():
                await self._pt_send(peer, build_intermediate_status(code))
            await self._wait(peer, scenario.delay)
        if scenario.outcome == "timeout":
            while True:  # never completes; only an abort or a hang-up of the ECR ends it
                await self._wait(peer, None)
        if scenario.outcome == "disconnect_before_result":
            await peer.hangup()
            raise _HungUp

    async def _payment(self, peer: Peer, d: Decoded) -> None:
        scenario = self._next()
        kind = {0x01: "payment", 0x31: "refund", 0x22: "preauth"}[d.apdu.instr]
        amount = d.bmp(0x04)
        currency = d.bmp(0x49)
        try:
            await self._card_phase(peer, scenario)
        except _Aborted:
            await self._finish_abort(peer, 0x6C)
            return
        if not isinstance(amount, int):
            await self._finish_abort(peer, 0x9A)
            return
        cur = currency if isinstance(currency, int) else EUR
        if scenario.outcome == "decline":
            await self._decline(peer, scenario.result_code)
            return
        entry = self.journal.new_entry(kind, amount, cur, scenario.card)
        await self._result(peer, entry, RESERVED if kind == "preauth" else BOOKED, scenario)

    async def _decline(self, peer: Peer, code: int) -> None:
        info = build_status_information(
            [(0x27, code), (0x29, self.config.terminal_id), (0x3C, "Abgelehnt")],
            [cons(0x24, prim(0x07, b"Abgelehnt"))],
        )
        await self._pt_send(peer, info)
        await self._finish_abort(peer, code)

    def _status_fields(self, entry: Entry) -> tuple[list[tuple[int, BmpValue]], list[TlvObject]]:
        fields: list[tuple[int, BmpValue]] = [
            (0x27, 0),
            (0x04, entry.amount_cents),
            (0x49, entry.currency),
            (0x0B, entry.trace_number),
            (0x0C, entry.time),
            (0x0D, entry.date),
            (0x0E, "2812"),
            (0x19, 0x70),
            (0x22, entry.masked_pan),
            (0x29, self.config.terminal_id),
            (0x2A, self.config.vu_number),
            (0x3B, f"{entry.trace_number:06d}"),
            (0x87, entry.receipt_number),
            (0x8A, entry.card_type),
            (0x8B, entry.card_name),
        ]
        if entry.original_trace is not None:
            fields.insert(4, (0x37, entry.original_trace))
        return fields, [cons(0x2F, prim(0x1F10, b"\x02"), prim(0x1F12, b"\x02"))]

    async def _result(self, peer: Peer, entry: Entry, state: str, scenario: Scenario) -> None:
        """Status-Information (commit point), receipts, Completion."""
        fields, tlv = self._status_fields(entry)
        reply = await self._pt_send(peer, build_status_information(fields, tlv))
        if not reply.is_ack():
            self.journal.save()  # stays auto-reversed
            await self._finish_abort(peer, 0x6C)
            return
        self.journal.commit(entry, state)
        if scenario.outcome == "disconnect_after_result":
            await peer.hangup()
            raise _HungUp
        if scenario.hold_after_result:
            await asyncio.sleep(scenario.hold_after_result)
        if entry.kind != "preauth":
            await self._receipts(peer, self._receipt_lines(entry), admin=False)
        await self._complete(peer)

    def _receipt_lines(self, entry: Entry) -> list[str]:
        euros = f"{entry.amount_cents // 100},{entry.amount_cents % 100:02d}"
        title = {"payment": "Kartenzahlung", "refund": "Gutschrift", "reversal": "Storno"}.get(entry.kind, "Buchung")
        return [
            title,
            f"Terminal-ID {self.config.terminal_id}",
            f"Beleg-Nr. {entry.receipt_number:04d}  Trace {entry.trace_number:06d}",
            f"{entry.card_name} {entry.masked_pan}",
            f"Betrag EUR {euros}",
            "Zahlung erfolgt",
        ]

    async def _receipts(self, peer: Peer, lines: list[str], admin: bool) -> None:
        """Merchant and customer copy (or one administration receipt) if the ECR prints them."""
        wanted = 0x04 if admin else 0x02
        if not (self.config_byte & 0x80 and self.config_byte & wanted):
            return
        copies = [(3, "Kassenschnitt")] if admin else [(1, "Haendlerbeleg"), (2, "Kundenbeleg")]
        for receipt_type, footer in copies:
            text = [*lines, footer]
            if self.text_blocks:
                await self._pt_send(peer, build_print_text_block(text, receipt_type))
                continue
            for i, line in enumerate(text):
                attribute = 0x81 if i == len(text) - 1 else 0x00
                await self._pt_send(peer, build_print_line(attribute, line))

    async def _reversal(self, peer: Peer, d: Decoded) -> None:
        scenario = self._next()
        receipt = d.bmp(0x87)
        await peer.send(ACK)
        original = self.journal.entries.get(int(receipt)) if isinstance(receipt, str) and receipt.isdigit() else None
        if original is None or original.kind not in ("payment", "refund") or original.state == AUTO_REVERSED:
            await self._finish_abort(peer, 0xB5)
            return
        if original.state == REVERSED:
            await self._finish_abort(peer, 0xB4)
            return
        if original.batch_closed:
            await self._finish_abort(peer, 0xB5)
            return
        entry = self.journal.new_entry("reversal", original.amount_cents, original.currency, scenario.card)
        entry.card_type, entry.card_name, entry.masked_pan = original.card_type, original.card_name, original.masked_pan
        entry.original_trace, entry.reversal_of = original.trace_number, original.receipt_number
        fields, tlv = self._status_fields(entry)
        reply = await self._pt_send(peer, build_status_information(fields, tlv))
        if not reply.is_ack():
            await self._finish_abort(peer, 0x6C)
            return
        original.state = REVERSED
        self.journal.commit(entry)
        await self._receipts(peer, self._receipt_lines(entry), admin=False)
        await self._complete(peer)

    def _reservation(self, d: Decoded) -> Entry | None:
        receipt = d.bmp(0x87)
        if not (isinstance(receipt, str) and receipt.isdigit()):
            return None
        entry = self.journal.entries.get(int(receipt))
        return entry if entry is not None and entry.kind == "preauth" and entry.state == RESERVED else None

    async def _book_total(self, peer: Peer, d: Decoded) -> None:
        await peer.send(ACK)
        reserved = self._reservation(d)
        amount = d.bmp(0x04)
        if reserved is None:
            await self._finish_abort(peer, 0xB8)
            return
        value = amount if isinstance(amount, int) else reserved.amount_cents
        if value > reserved.amount_cents:
            await self._finish_abort(peer, 0xB7)
            return
        reserved.state = REVERSED  # the reservation is used up
        entry = self.journal.new_entry("payment", value, reserved.currency, (reserved.card_type, reserved.card_name, reserved.masked_pan))
        await self._result(peer, entry, BOOKED, Scenario())

    async def _partial_reversal(self, peer: Peer, d: Decoded) -> None:
        await peer.send(ACK)
        reserved = self._reservation(d)
        amount = d.bmp(0x04)
        if reserved is None or not isinstance(amount, int) or amount > reserved.amount_cents:
            await self._finish_abort(peer, 0xB8)
            return
        reserved.amount_cents -= amount
        fields, tlv = self._status_fields(reserved)
        await self._pt_send(peer, build_status_information(fields, tlv))
        self.journal.save()
        await self._complete(peer)

    async def _end_of_day(self, peer: Peer, d: Decoded) -> None:
        scenario = self._next()
        await peer.send(ACK)
        if scenario.outcome == "decline":
            await self._finish_abort(peer, 0x77)
            return
        total, totals = self.journal.totals()
        trace = self.journal.next_trace
        self.journal.next_trace = trace % 999999 + 1
        info = build_status_information(
            [(0x27, 0), (0x04, total), (0x0B, trace), (0x60, encode_totals(totals))]
        )
        reply = await self._pt_send(peer, info)
        if not reply.is_ack():
            await self._finish_abort(peer, 0x77)
            return
        self.journal.close_batch()
        lines = ["Kassenschnitt", f"Terminal-ID {self.config.terminal_id}"]
        lines += [f"{s.scheme}: {s.count} / {s.total_cents}" for s in totals.schemes if s.count]
        lines.append(f"Summe {total}")
        await self._receipts(peer, lines, admin=True)
        await self._complete(peer)

    async def _diagnosis(self, peer: Peer, d: Decoded) -> None:
        await peer.send(ACK)
        await self._complete(peer)

    async def _status_enquiry(self, peer: Peer, d: Decoded) -> None:
        await peer.send(ACK)
        await self._pt_send(peer, build_status_completion(self.config.sw_version, 0x00))

    async def _repeat_receipt(self, peer: Peer, d: Decoded) -> None:
        await peer.send(ACK)
        entry = self.journal.last_booked()
        if entry is None:
            await self._finish_abort(peer, 0x83)
            return
        fields, tlv = self._status_fields(entry)
        await self._pt_send(peer, build_status_information(fields, tlv))
        await self._receipts(peer, ["Belegwiederholung", *self._receipt_lines(entry)], admin=False)
        await self._complete(peer)


async def _main_async(args: argparse.Namespace) -> None:
    sim = ZvtSimulator(Journal.load(args.journal))
    for item in args.script.split(",") if args.script else []:
        sim.push(item)
    if args.pty:
        print(await sim.start_pty(), flush=True)
    else:
        port = await sim.start_tcp(args.host, args.port)
        print(f"{args.host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """Command line entry: run the simulator until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m drivers.zvt.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=20007)
    parser.add_argument("--pty", action="store_true", help="serve RS232 framing on a pty; prints its path")
    parser.add_argument("--journal", help="JSON file keeping transactions across restarts")
    parser.add_argument("--script", help="comma-separated scenarios, e.g. approve,decline:05,slow:3,timeout")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
