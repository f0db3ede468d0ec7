"""Signing of sales with the TSE, and the outage mode that keeps the store selling.

Rules (fact sheet §1.9, AEAO zu §146a Nr. 7 [S15], fiskaltrust's pattern [S10]): a TSE failure
must not stop sales; the receipt says the TSE failed; the outage (start, end, reason, affected
Bons) is recorded; nothing is signed afterwards or backdated. After the first failure the
signer stops calling the TSE (circuit breaker) until :meth:`SaleSigner.try_recover` succeeds.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from drivers.tse import Tse, TseError, TseTimeout, TseTransaction

from .amounts import qr_time
from .process_data import QrFields, qr_code_string

OutageHook = Callable[["Outage"], Awaitable[None] | None]


class StartedTransaction(Protocol):
    """What finishing needs of a started transaction (a :class:`TseTransaction` qualifies)."""

    @property
    def number(self) -> int:
        """TSE transaction number."""
        ...

    @property
    def start_time(self) -> datetime:
        """Log time of the Start operation."""
        ...


@dataclass(frozen=True)
class OpenTransaction:
    """A started transaction restored from the open cart after a restart (number + start time)."""

    number: int
    start_time: datetime


def tse_object(tx: TseTransaction) -> dict[str, Any]:
    """The ``tse`` object of a finished sale (HTTP response and journal), from the Finish result."""
    if tx.end_time is None:
        raise ValueError("tse_object needs the result of finish_transaction")
    qr = qr_code_string(
        QrFields(
            client_serial=tx.client_id,
            process_type=tx.process_type,
            process_data=tx.process_data,
            transaction_number=tx.number,
            signature_counter=tx.signature_counter,
            start=tx.start_time,
            end=tx.end_time,
            signature_algorithm=tx.signature_algorithm,
            log_time_format=tx.log_time_format,
            signature=tx.signature,
            public_key=tx.public_key,
        )
    )
    return {
        "process_type": tx.process_type,
        "process_data": tx.process_data,
        "transaction_number": tx.number,
        "signature_counter": tx.signature_counter,
        "start": qr_time(tx.start_time),
        "end": qr_time(tx.end_time),
        "signature": tx.signature,
        "serial_number": tx.serial_number,
        "public_key": tx.public_key,
        "signature_algorithm": tx.signature_algorithm,
        "log_time_format": tx.log_time_format,
        "client_id": tx.client_id,
        "certified": tx.certified,
        "qr_code": qr,
    }


def failed_tse_object(reason: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The ``tse`` object of a sale made while the TSE failed; times come from the till."""
    return {"failed": True, "reason": reason[:200], "start": qr_time(start), "end": qr_time(end)}


@dataclass
class Outage:
    """One TSE outage: when it began and ended (None while ongoing), why, and the Bons it hit."""

    start: datetime
    reason: str
    end: datetime | None = None
    bon_ids: list[str] = field(default_factory=list)


class SaleSigner:
    """Start and finish one TSE transaction per Vorgang for one recording system (client)."""

    def __init__(
        self,
        tse: Tse,
        client_id: str,
        *,
        call_timeout: float = 5.0,
        on_outage_start: OutageHook | None = None,
        on_outage_end: OutageHook | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tse = tse
        self.client_id = client_id
        self._timeout = call_timeout
        self._on_start = on_outage_start
        self._on_end = on_outage_end
        self._clock = clock
        self.outage: Outage | None = None

    async def _call(self, coro: Awaitable[TseTransaction]) -> TseTransaction:
        try:
            async with asyncio.timeout(self._timeout):
                return await coro
        except TimeoutError as err:
            if isinstance(err, TseError):
                raise
            raise TseTimeout(f"TSE did not answer within {self._timeout} s") from err

    async def _fail(self, err: BaseException, bon_id: str) -> None:
        if self.outage is None:
            reason = f"{err.__class__.__name__}: {err}"
            self.outage = Outage(start=self._clock(), reason=reason)
            await _run(self._on_start, self.outage)
        if bon_id:
            self.outage.bon_ids.append(bon_id)

    async def start(self) -> TseTransaction | None:
        """Start the transaction at the first scan; None when the TSE is (or just went) down."""
        if self.outage is not None:
            return None
        try:
            return await self._call(self.tse.start_transaction(self.client_id))
        except TseError as err:
            await self._fail(err, "")
            return None

    async def finish(
        self,
        started: StartedTransaction | None,
        process_type: str,
        process_data: str,
        *,
        bon_id: str = "",
        began: datetime | None = None,
    ) -> dict[str, Any]:
        """Finish before the receipt prints; returns the sale's ``tse`` object (or the failed one).

        A Vorgang that started without the TSE is never signed later, even if it is back.
        """
        if started is None or self.outage is not None:
            if self.outage is None:
                await self._fail(TseError("transaction was not started in the TSE"), bon_id)
            elif bon_id:
                self.outage.bon_ids.append(bon_id)
            assert self.outage is not None
            return failed_tse_object(self.outage.reason, began or self._clock(), self._clock())
        try:
            tx = await self._call(
                self.tse.finish_transaction(self.client_id, started.number, process_type, process_data)
            )
        except TseError as err:
            await self._fail(err, bon_id)
            assert self.outage is not None
            return failed_tse_object(self.outage.reason, started.start_time, self._clock())
        return tse_object(tx)

    async def try_recover(self) -> bool:
        """Self-test the TSE; on success the outage ends (hook called) and signing resumes."""
        if self.outage is None:
            return True
        try:
            async with asyncio.timeout(self._timeout):
                await self.tse.self_test(self.client_id)
        except (TseError, TimeoutError):
            return False
        outage, self.outage = self.outage, None
        outage.end = self._clock()
        await _run(self._on_end, outage)
        return True


async def _run(hook: OutageHook | None, outage: Outage) -> None:
    if hook is None:
        return
    result = hook(outage)
    if inspect.isawaitable(result):
        await result
