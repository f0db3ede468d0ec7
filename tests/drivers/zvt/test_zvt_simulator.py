"""End-to-end: ZvtClient against the terminal simulator over real TCP sockets and a real pty.

Every flow and fault of the simulator: approve, decline, slow card, timeout (T4 and abort),
disconnect before/after the result with recovery, split and merged packets, print lines and text
blocks, end-of-day totals, refund, reversal, pre-authorisation, journal persistence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.zvt.client import ZvtClient
from drivers.zvt.errors import ZvtCommandRefused, ZvtConnectionError, ZvtTimeout
from drivers.zvt.messages import IntermediateStatus, PrintLine, PtMessage
from drivers.zvt.recovery import Outcome
from drivers.zvt.results import PaymentResult
from drivers.zvt.serial_link import SerialTransport
from drivers.zvt.sim_journal import AUTO_REVERSED, BOOKED, REVERSED, Journal
from drivers.zvt.simulator import Scenario, ZvtSimulator
from drivers.zvt.transport import TcpTransport


@pytest.fixture
async def sim() -> AsyncIterator[ZvtSimulator]:
    simulator = ZvtSimulator()
    yield simulator
    await simulator.stop()


async def tcp_client(sim: ZvtSimulator, **kwargs: object) -> ZvtClient:
    port = await sim.start_tcp()
    return ZvtClient(TcpTransport("127.0.0.1", port), password="123456", t3=2.0, **kwargs)  # type: ignore[arg-type]


async def test_approve_with_intermediate_status_and_print_lines(sim: ZvtSimulator) -> None:
    events: list[PtMessage] = []
    zvt = await tcp_client(sim, on_event=events.append)
    async with asyncio.timeout(10):
        await zvt.register()
        result = await zvt.authorize(1234)
        await zvt.close()
    assert result.approved and result.amount_cents == 1234 and result.receipt_number == 1
    assert result.terminal_id == "29001006" and result.card_name == "girocard"
    assert [copy[-1] for copy in result.receipts] == ["Haendlerbeleg", "Kundenbeleg"]
    assert "Betrag EUR 12,34" in result.receipt_lines
    assert any(isinstance(e, IntermediateStatus) and e.code == 0x0A for e in events)
    assert sum(isinstance(e, PrintLine) for e in events) == len(result.receipt_lines)
    assert sim.journal.entries[1].state == BOOKED


async def test_decline_with_chosen_result_code(sim: ZvtSimulator) -> None:
    sim.push("decline:6C")
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        result = await zvt.authorize(500)
        await zvt.close()
    assert not result.approved and result.result_code == 0x6C and result.complete
    assert not sim.journal.entries


async def test_slow_card_streams_statuses(sim: ZvtSimulator) -> None:
    sim.push(Scenario(slow=4, delay=0.05))
    events: list[PtMessage] = []
    zvt = await tcp_client(sim, on_event=events.append)
    async with asyncio.timeout(10):
        result = await zvt.authorize(100)
        await zvt.close()
    codes = [e.code for e in events if isinstance(e, IntermediateStatus)]
    assert codes == [0x0A, 0x17, 0x17, 0x17, 0x17] and result.approved


async def test_timeout_never_completes_t4_expires(sim: ZvtSimulator) -> None:
    sim.push("timeout")
    zvt = await tcp_client(sim, t4=0.5)
    async with asyncio.timeout(10):
        with pytest.raises(ZvtTimeout) as info:
            await zvt.authorize(100)
    assert info.value.timer == "T4"
    partial = info.value.partial
    assert isinstance(partial, PaymentResult) and not partial.status_acknowledged
    assert not sim.journal.entries


async def test_abort_from_ecr_ends_waiting_terminal(sim: ZvtSimulator) -> None:
    sim.push("timeout")
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        task = asyncio.create_task(zvt.authorize(100))
        await asyncio.sleep(0.3)
        await zvt.abort()
        result = await task
        await zvt.close()
    assert not result.approved and result.result_code == 0x6C


async def test_disconnect_before_result_then_recovery_says_not_paid(sim: ZvtSimulator) -> None:
    sim.push("disconnect_before_result")
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        with pytest.raises(ZvtConnectionError):
            await zvt.authorize(700)
        rec = await zvt.recover_payment(700, known_receipts=set())
        await zvt.close()
    assert rec.outcome is Outcome.NOT_PAID


async def test_disconnect_after_result_then_recovery_finds_payment(sim: ZvtSimulator) -> None:
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        first = await zvt.authorize(100)
        sim.push("disconnect_after_result")
        with pytest.raises(ZvtConnectionError) as info:
            await zvt.authorize(700)
        partial = info.value.partial
        assert isinstance(partial, PaymentResult) and partial.status_acknowledged and not partial.complete
        rec = await zvt.recover_payment(700, known_receipts={first.receipt_number or 0})
        await zvt.close()
    assert rec.outcome is Outcome.PAID and rec.payment is not None
    assert rec.payment.receipt_number == partial.receipt_number == 2 and rec.payment.amount_cents == 700


@pytest.mark.parametrize("delivery", ["split", "merged"])
async def test_split_and_merged_packets(sim: ZvtSimulator, delivery: str) -> None:
    sim.push(delivery)
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        result = await zvt.authorize(4321)
        await zvt.close()
    assert result.approved and result.amount_cents == 4321 and len(result.receipts) == 2


async def test_text_blocks_when_registered_for_06_d3(sim: ZvtSimulator) -> None:
    zvt = await tcp_client(sim, permitted_commands=[(0x06, 0xD3)])
    async with asyncio.timeout(10):
        await zvt.register()
        result = await zvt.authorize(250)
        await zvt.close()
    assert sim.text_blocks and [copy[-1] for copy in result.receipts] == ["Haendlerbeleg", "Kundenbeleg"]


async def test_refund_reversal_and_end_of_day_totals(sim: ZvtSimulator) -> None:
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        giro = await zvt.authorize(1000)
        sim.push(Scenario(card=(0x0A, "Visa", "************0001")))
        visa = await zvt.authorize(2500)
        refund = await zvt.refund(300)
        third = await zvt.authorize(999)
        reversal = await zvt.reversal(third.receipt_number or 0)
        again = await zvt.reversal(third.receipt_number or 0)
        unknown = await zvt.reversal(4711)
        eod = await zvt.end_of_day()
        late = await zvt.reversal(giro.receipt_number or 0)
        await zvt.close()
    assert visa.card_name == "Visa" and refund.approved and refund.amount_cents == 300
    assert reversal.approved and reversal.original_trace_number == third.trace_number
    assert sim.journal.entries[third.receipt_number or 0].state == REVERSED
    assert (again.approved, again.result_code) == (False, 0xB4)
    assert (unknown.approved, unknown.result_code) == (False, 0xB5)
    assert eod.approved and eod.total_cents == 3500 and eod.totals is not None
    by_scheme = {s.scheme: (s.count, s.total_cents) for s in eod.totals.schemes}
    assert by_scheme["girocard"] == (1, 1000) and by_scheme["VISA"] == (1, 2500)
    assert (late.approved, late.result_code) == (False, 0xB5)  # after end-of-day


async def test_end_of_day_failure(sim: ZvtSimulator) -> None:
    sim.push("decline")
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        eod = await zvt.end_of_day()
        await zvt.close()
    assert not eod.approved and eod.result_code == 0x77


async def test_pre_authorisation_partial_reversal_and_book_total(sim: ZvtSimulator) -> None:
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        pre = await zvt.pre_authorize(5000)
        partial = await zvt.partial_reversal(pre.receipt_number or 0, 1000)
        too_much = await zvt.book_total(pre.receipt_number or 0, 4500)
        booked = await zvt.book_total(pre.receipt_number or 0, 3800)
        await zvt.close()
    assert pre.approved and partial.approved and partial.amount_cents == 4000
    assert (too_much.approved, too_much.result_code) == (False, 0xB7)
    assert booked.approved and booked.amount_cents == 3800


async def test_status_diagnosis_display_logoff_and_wrong_currency(sim: ZvtSimulator) -> None:
    zvt = await tcp_client(sim)
    async with asyncio.timeout(10):
        status = await zvt.status_enquiry()
        diag = await zvt.diagnosis()
        await zvt.display_text(["Bitte warten"])
        await zvt.log_off()
        zvt.currency = 840
        with pytest.raises(ZvtCommandRefused) as info:
            await zvt.register()
        await zvt.close()
    assert status.ready and status.sw_version == "STOREGW-SIM 1.0" and diag.approved
    assert sim.display == ["Bitte warten"] and info.value.result_code == 0x6F


async def test_journal_survives_simulator_restart(tmp_path: Path) -> None:
    path = tmp_path / "pt.json"
    first = ZvtSimulator(Journal.load(path))
    try:
        zvt = await tcp_client(first)
        async with asyncio.timeout(10):
            paid = await zvt.authorize(1500)
            await zvt.close()
    finally:
        await first.stop()
    second = ZvtSimulator(Journal.load(path))
    try:
        zvt = await tcp_client(second)
        async with asyncio.timeout(10):
            last = await zvt.last_transaction()
            reversal = await zvt.reversal(paid.receipt_number or 0)
            await zvt.close()
    finally:
        await second.stop()
    assert last is not None and last.receipt_number == paid.receipt_number and last.amount_cents == 1500
    assert reversal.approved and Journal.load(path).entries[paid.receipt_number or 0].state == REVERSED


async def test_unacknowledged_result_is_auto_reversed(sim: ZvtSimulator) -> None:
    """The ECR answers the Status-Information negatively: the terminal must not book it."""
    port = await sim.start_tcp()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sim.config_byte = 0x00  # no intermediate status, no receipts: 80 00 00 then 04 0F directly
    try:
        async with asyncio.timeout(10):
            writer.write(bytes.fromhex("06 01 07 04 00 00 00 00 01 00"))
            assert await reader.readexactly(3) == bytes.fromhex("80 00 00")
            head = await reader.readexactly(3)
            assert head[:2] == bytes.fromhex("04 0F")
            await reader.readexactly(head[2])
            writer.write(bytes.fromhex("84 66 00"))
            assert await reader.readexactly(4) == bytes.fromhex("06 1E 01 6C")
            writer.write(bytes.fromhex("80 00 00"))
            await writer.drain()
    finally:
        writer.close()
    assert [e.state for e in sim.journal.entries.values()] == [AUTO_REVERSED]


# ---- RS232 over a pty -----------------------------------------------------------------------------


async def test_pty_flows(sim: ZvtSimulator) -> None:
    path = await sim.start_pty()
    zvt = ZvtClient(SerialTransport(path), password="123456", t3=2.0)
    try:
        async with asyncio.timeout(15):
            reg = await zvt.register()
            paid = await zvt.authorize(1234)
            sim.push("decline:05")
            declined = await zvt.authorize(99)
            sim.push("timeout")
            task = asyncio.create_task(zvt.authorize(100))
            await asyncio.sleep(0.3)
            await zvt.abort()
            aborted = await task
            reversal = await zvt.reversal(paid.receipt_number or 0)
            eod = await zvt.end_of_day()
    finally:
        await zvt.close()
    assert reg.terminal_id == "29001006"
    assert paid.approved and paid.amount_cents == 1234 and len(paid.receipts) == 2
    assert (declined.approved, declined.result_code) == (False, 5)
    assert (aborted.approved, aborted.result_code) == (False, 0x6C)
    assert reversal.approved and eod.approved and eod.total_cents == 0


async def test_pty_slow_card_and_silent_terminal_then_recovery(sim: ZvtSimulator) -> None:
    path = await sim.start_pty()
    events: list[PtMessage] = []
    zvt = ZvtClient(SerialTransport(path), password="123456", t3=2.0, t4=0.6, on_event=events.append)
    try:
        async with asyncio.timeout(15):
            sim.push(Scenario(slow=2, delay=0.05))
            slow = await zvt.authorize(100)
            sim.push("disconnect_after_result")  # on a pty: the terminal goes silent after the result
            with pytest.raises(ZvtTimeout) as info:
                await zvt.authorize(2200)
            rec = await zvt.recover_payment(2200, known_receipts={slow.receipt_number or 0})
    finally:
        await zvt.close()
    assert slow.approved and [e.code for e in events if isinstance(e, IntermediateStatus)][:3] == [0x0A, 0x17, 0x17]
    assert info.value.timer == "T4"
    assert rec.outcome is Outcome.PAID and rec.payment is not None and rec.payment.amount_cents == 2200
