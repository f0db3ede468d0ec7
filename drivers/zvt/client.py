"""Asynchronous ZVT conversation layer (ECR side) for German card terminals: ``ZvtClient``.

Implements the master-rights rules and the T3/T4 timers of PA00P015/PA00P016 as summarised in
fact sheet ``reference/zvt.md`` sections 3 and 13: the ECR sends a command and waits T3 for
``80 00``/``84 xx``; for commands with a completion the terminal then holds the master rights and
every message it sends is answered with ``80 00 00`` until Completion (06 0F) or Abort (06 1E);
T4 is a deadline reset by every 04 FF and 04 0F.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from drivers.zvt import commands
from drivers.zvt.apdu import ACK, Apdu
from drivers.zvt.errors import (
    ZvtBusy,
    ZvtCommandRefused,
    ZvtConnectionError,
    ZvtDecodeError,
    ZvtError,
    ZvtTimeout,
)
from drivers.zvt.fields import DEFAULT_ENCODING
from drivers.zvt.messages import (
    Completion,
    IntermediateStatus,
    OtherMessage,
    PrintLine,
    PrintTextBlock,
    PtAbort,
    PtMessage,
    SetDateTime,
    StatusInformation,
    parse_pt_message,
)
from drivers.zvt.recovery import Reconciliation, reconcile_interrupted_payment
from drivers.zvt.results import AdminResult, EndOfDayResult, PaymentResult, RegistrationResult, TerminalStatus
from drivers.zvt.tables import TERMINAL_STATUS, result_text
from drivers.zvt.transport import Transport

log = logging.getLogger(__name__)

EventCallback = Callable[[PtMessage], Awaitable[None] | None]

REPEAT_RESEND_STATUS = 0x01


@dataclass
class _Conversation:
    """Everything the terminal sent while it held the master rights."""

    status: StatusInformation | None = None
    status_acknowledged: bool = False
    lines: list[str] = field(default_factory=list)
    copies: list[list[str]] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    completion: Completion | None = None
    abort: PtAbort | None = None

    def add_lines(self, lines: list[str], last: bool) -> None:
        """Append receipt lines; ``last`` closes the current receipt copy."""
        self.lines.extend(lines)
        self.current.extend(lines)
        if last:
            self.copies.append(self.current)
            self.current = []

    def receipts(self) -> list[list[str]]:
        """Receipt copies so far (an unterminated copy included)."""
        return [*self.copies, self.current] if self.current else list(self.copies)


class ZvtClient:
    """ECR side of a ZVT terminal link.

    One command at a time: starting a command while the terminal holds the master rights raises
    ``ZvtBusy``; only ``abort()`` may be sent then. Messages the terminal sends during a command
    (intermediate status, status information, print lines) are passed to ``on_event`` (sync or
    async) as they arrive.
    """

    def __init__(
        self,
        transport: Transport,
        password: str | int = "000000",
        currency: int = commands.EUR,
        config_byte: int = commands.DEFAULT_CONFIG_BYTE,
        permitted_commands: list[tuple[int, int]] | None = None,
        t3: float = 5.0,
        t4: float = 180.0,
        encoding: str = DEFAULT_ENCODING,
        on_event: EventCallback | None = None,
    ) -> None:
        self.transport = transport
        self.password = password
        self.currency = currency
        self.config_byte = config_byte
        self.permitted_commands = permitted_commands
        self.t3 = t3
        self.t4 = t4
        self.encoding = encoding
        self.on_event = on_event
        self.terminal_id: str | None = None
        self._lock = asyncio.Lock()
        self._pt_master = False

    @property
    def pt_has_master_rights(self) -> bool:
        """True while a command runs and the terminal holds the master rights."""
        return self._pt_master

    @property
    def busy(self) -> bool:
        """True while a command runs."""
        return self._lock.locked()

    async def close(self) -> None:
        """Close the transport."""
        await self.transport.close()

    # ---- commands ---------------------------------------------------------------------------

    async def register(self) -> RegistrationResult:
        """06 00 with the configured password, config byte, currency (and permitted command list)."""
        apdu = commands.registration(
            self.password, self.config_byte, self.currency, permitted_commands=self.permitted_commands
        )
        conv = await self._run(apdu)
        if conv.abort is not None:
            raise ZvtCommandRefused(conv.abort.result_code, conv.abort.text)
        done = conv.completion or Completion()
        self.terminal_id = done.terminal_id or self.terminal_id
        return RegistrationResult(done.terminal_id, done.currency_code, done.status_byte)

    async def authorize(self, amount_cents: int, sync_receipt: int | bool | None = False) -> PaymentResult:
        """06 01 payment of ``amount_cents``.

        ``sync_receipt``: pass the receipt number of the last transaction this ECR knows (or None
        if unknown) to send TLV 1F1F, letting the terminal reverse a transaction the ECR missed.
        """
        tlv = None if sync_receipt is False else [commands.sync_receipt_tlv(_opt_int(sync_receipt))]
        return await self._payment(commands.authorization(amount_cents, self.currency, tlv=tlv))

    async def pre_authorize(self, amount_cents: int) -> PaymentResult:
        """06 22 reservation."""
        return await self._payment(commands.pre_authorization(amount_cents, self.currency))

    async def book_total(self, receipt_number: int, amount_cents: int | None = None) -> PaymentResult:
        """06 24 booking of the reservation ``receipt_number``."""
        return await self._payment(commands.book_total(receipt_number, amount_cents, self.currency))

    async def partial_reversal(self, receipt_number: int, amount_cents: int | None = None) -> PaymentResult:
        """06 23 partial reversal of the reservation ``receipt_number``."""
        return await self._payment(commands.partial_reversal(receipt_number, amount_cents, self.currency))

    async def reversal(self, receipt_number: int) -> PaymentResult:
        """06 30 reversal of the transaction with ``receipt_number``."""
        return await self._payment(commands.reversal(self.password, receipt_number))

    async def refund(self, amount_cents: int) -> PaymentResult:
        """06 31 refund of ``amount_cents`` to the presented card."""
        return await self._payment(commands.refund(self.password, amount_cents, self.currency))

    async def repeat_receipt(self) -> PaymentResult | None:
        """06 20 with service byte 01: the terminal resends the Status-Information of its last
        transaction. None when the terminal has none (it aborts the command)."""
        conv = await self._run(commands.repeat_receipt(self.password, REPEAT_RESEND_STATUS))
        if conv.status is None:
            return None
        return _payment_result(conv, complete=True)

    async def last_transaction(self) -> PaymentResult | None:
        """Recovery primitive: the last transaction booked by the terminal (see ``repeat_receipt``)."""
        return await self.repeat_receipt()

    async def recover_payment(self, amount_cents: int, known_receipts: Collection[int]) -> Reconciliation:
        """Find out what happened to an interrupted payment of ``amount_cents``.

        ``known_receipts`` are the receipt numbers the ECR already journaled; the terminal's last
        transaction is the interrupted one only if it is approved, new and of the same amount.
        """
        return reconcile_interrupted_payment(amount_cents, known_receipts, await self.last_transaction())

    async def end_of_day(self) -> EndOfDayResult:
        """06 50 end-of-day; returns the totals the terminal reported."""
        conv = await self._run(commands.end_of_day(self.password))
        base = _admin(conv)
        status = conv.status
        return EndOfDayResult(
            base.approved,
            base.result_code,
            base.result_text,
            base.receipt_lines,
            status,
            status.amount_cents if status else None,
            status.totals if status else None,
        )

    async def diagnosis(self, diagnosis_type: int | None = None) -> AdminResult:
        """06 70 diagnosis."""
        return _admin(await self._run(commands.diagnosis(diagnosis_type)))

    async def status_enquiry(self) -> TerminalStatus:
        """05 01 status enquiry (also the heartbeat that lets the terminal run timed jobs)."""
        conv = await self._run(commands.status_enquiry(self.password))
        if conv.abort is not None:
            return TerminalStatus(None, conv.abort.text, None)
        done = conv.completion or Completion()
        code = done.terminal_status
        text = TERMINAL_STATUS.get(code, "unknown terminal status") if code is not None else "no status"
        return TerminalStatus(code, text, done.sw_version)

    async def display_text(self, lines: list[str], duration: int | None = None) -> None:
        """06 E0: show ``lines`` on the terminal display (acknowledged, no completion awaited)."""
        await self._run(commands.display_text(lines, duration, encoding=self.encoding), completion=False)

    async def log_off(self) -> None:
        """06 02 log-off."""
        await self._run(commands.log_off(), completion=False)

    async def abort(self) -> None:
        """06 B0: ask the terminal to abort.

        While a command runs (terminal is master) the abort is sent right away; the running
        command then ends with the terminal's Abort (typically result 6C).
        """
        if self._lock.locked():
            await self.transport.send(commands.abort())
            return
        await self._run(commands.abort(), completion=False)

    # ---- conversation -----------------------------------------------------------------------

    async def _payment(self, apdu: Apdu) -> PaymentResult:
        conv = await self._run(apdu)
        return _payment_result(conv, complete=True)

    async def _emit(self, message: PtMessage) -> None:
        if self.on_event is None:
            return
        try:
            outcome = self.on_event(message)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # a broken listener must not break the payment
            log.exception("ZVT event callback failed")

    async def _run(self, apdu: Apdu, completion: bool = True) -> _Conversation:
        if self._lock.locked():
            raise ZvtBusy("the terminal is busy with another command")
        async with self._lock:
            conv = _Conversation()
            try:
                if not self.transport.is_open:
                    await self.transport.open()
                await self.transport.send(apdu)
                await self._await_response()
                if completion:
                    self._pt_master = True
                    await self._pt_phase(conv)
            except (ZvtTimeout, ZvtConnectionError) as err:
                # After T3/T4 or a broken link the state is unknown: drop the connection, and hand
                # what was received to the caller for reconciliation.
                await self.transport.close()
                err.partial = _payment_result(conv, complete=False)
                raise
            finally:
                self._pt_master = False
            return conv

    async def _await_response(self) -> None:
        deadline = time.monotonic() + self.t3
        while True:
            reply = await self.transport.receive(max(0.0, deadline - time.monotonic()), "T3")
            if reply.cls in (0x80, 0x84):
                if reply.is_nack():
                    raise ZvtCommandRefused(reply.instr, result_text(reply.instr))
                return
            # A late message of an earlier conversation: answer it so the terminal is not stuck.
            log.warning("unexpected %s while waiting for the command response", reply)
            await self.transport.send(ACK)

    async def _pt_phase(self, conv: _Conversation) -> None:
        deadline = time.monotonic() + self.t4
        while True:
            apdu = await self.transport.receive(max(0.0, deadline - time.monotonic()), "T4")
            if apdu.cls in (0x80, 0x84):
                log.debug("response %s while the terminal is master (answer to an abort)", apdu)
                continue
            try:
                message = parse_pt_message(apdu, self.encoding)
            except ZvtDecodeError as err:
                log.warning("malformed terminal message %s: %s", apdu, err)
                # A negative answer makes the terminal reverse rather than book unseen data.
                await self.transport.send(commands.nack(0x9A))
                continue
            if isinstance(message, OtherMessage):
                log.info("unsupported terminal command %s answered with 84 83", apdu)
                await self.transport.send(commands.nack(0x83))
                continue
            await self.transport.send(ACK)
            if isinstance(message, IntermediateStatus):
                hint = (message.timeout_minutes or 0) * 60
                deadline = time.monotonic() + max(self.t4, hint)
            elif isinstance(message, StatusInformation):
                conv.status = message
                conv.status_acknowledged = True
                deadline = time.monotonic() + self.t4
            elif isinstance(message, PrintLine):
                count = 1
                if message.attribute == 0xFF:
                    count = min(ord(message.text[0]) if message.text else 1, 10)
                    conv.add_lines([""] * count, False)
                else:
                    conv.add_lines([message.text], message.last)
            elif isinstance(message, PrintTextBlock):
                conv.add_lines(message.lines, message.last)
            elif isinstance(message, Completion):
                conv.completion = message
            elif isinstance(message, PtAbort):
                conv.abort = message
            elif isinstance(message, SetDateTime):
                pass
            await self._emit(message)
            if conv.completion is not None or conv.abort is not None:
                return


def _opt_int(value: int | bool | None) -> int | None:
    return None if value is None or isinstance(value, bool) else value


def _payment_result(conv: _Conversation, complete: bool) -> PaymentResult:
    s = conv.status
    code = s.result_code if s else 0
    if conv.abort is not None and code == 0:
        code = conv.abort.result_code
    approved = complete and conv.abort is None and conv.completion is not None and s is not None and code == 0
    if not complete and s is None and code == 0:
        code = 0xFF
    return PaymentResult(
        approved=approved,
        result_code=code,
        result_text=result_text(code),
        amount_cents=s.amount_cents if s else None,
        currency_code=s.currency_code if s else None,
        receipt_number=s.receipt_number if s else None,
        trace_number=s.trace_number if s else None,
        original_trace_number=s.original_trace_number if s else None,
        terminal_id=s.terminal_id if s else None,
        card_name=s.card_name if s else None,
        card_type=s.card_type if s else None,
        masked_pan=s.masked_pan if s else None,
        aid=s.aid if s else None,
        date=s.date if s else None,
        time=s.time if s else None,
        receipt_lines=list(conv.lines),
        receipts=conv.receipts(),
        status_information_hex=s.raw.hex().upper() if s else None,
        complete=complete,
        status_acknowledged=conv.status_acknowledged,
    )


def _admin(conv: _Conversation) -> AdminResult:
    code = conv.abort.result_code if conv.abort else (conv.status.result_code if conv.status else 0)
    approved = conv.abort is None and code == 0
    return AdminResult(approved, code, result_text(code), list(conv.lines), conv.status)


__all__ = ["EventCallback", "ZvtClient", "ZvtError"]
