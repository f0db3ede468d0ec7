"""ZvtClient conversation rules with the recording fake transport: exact bytes both ways, timers, faults.

Sequences from fact sheet ``reference/zvt.md`` section 13 (13.1 registration, 13.2 payment, 13.3
declined payment, 13.6 status enquiry) and section 3 (master rights, T3/T4).
"""

from __future__ import annotations

import asyncio

import pytest

from drivers.zvt.client import ZvtClient
from drivers.zvt.errors import ZvtBusy, ZvtCommandRefused, ZvtConnectionError, ZvtTimeout
from drivers.zvt.messages import IntermediateStatus, PrintLine, PtMessage, StatusInformation
from drivers.zvt.recovery import Outcome
from drivers.zvt.results import PaymentResult
from drivers.zvt.transport import FakeTransport

ACK = bytes.fromhex("80 00 00")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


APPROVED_INFO = h(
    "04 0F 2C 27 00 04 00 00 00 00 12 34 49 09 78 0B 00 00 07 0C 12 30 45 0D 12 04"
    " 22 F0 F8 EE EE EE EE EE EE 47 71 29 29 00 10 06 87 00 42 8A 05"
)


def client(fake: FakeTransport, **kwargs: object) -> ZvtClient:
    return ZvtClient(fake, password="123456", t3=0.5, t4=0.5, **kwargs)  # type: ignore[arg-type]


async def test_registration_sequence_exact_bytes() -> None:
    fake = FakeTransport([[ACK, h("06 0F 0A 19 00 29 29 00 10 06 49 09 78")], []])
    zvt = client(fake, permitted_commands=[(0x06, 0xD3)])
    async with asyncio.timeout(5):
        result = await zvt.register()
    assert fake.sent == [h("06 00 0E 12 34 56 BE 09 78 06 06 26 04 0A 02 06 D3"), ACK]
    assert (result.terminal_id, result.currency_code, result.status_byte) == ("29001006", 978, 0)
    assert zvt.terminal_id == "29001006"


async def test_payment_acks_every_pt_message_and_collects_receipts() -> None:
    pt = [
        ACK + h("04 FF 01 0A"),  # merged: response and first PT command in one read
        h("04 FF 01 17"),
        APPROVED_INFO,
        h("06 D1 06 00") + b"Beleg",
        h("06 D1 06 81") + b"Ende1",
        h("06 D1 06 81") + b"Ende2",
        h("06 0F 00"),
    ]
    fake = FakeTransport([[pt[0]], [pt[1]], [pt[2]], [pt[3]], [pt[4]], [pt[5]], [pt[6]], []])
    events: list[PtMessage] = []
    zvt = client(fake, on_event=events.append)
    async with asyncio.timeout(5):
        result = await zvt.authorize(1234)
    assert fake.sent == [h("06 01 0A 04 00 00 00 00 12 34 49 09 78")] + [ACK] * 7
    assert result.approved and result.complete
    assert (result.amount_cents, result.receipt_number, result.trace_number) == (1234, 42, 7)
    assert (result.terminal_id, result.masked_pan, result.card_type) == ("29001006", "************4771", 5)
    assert result.receipts == [["Beleg", "Ende1"], ["Ende2"]]
    assert [type(e) for e in events][:3] == [IntermediateStatus, IntermediateStatus, StatusInformation]
    assert isinstance(events[3], PrintLine)


async def test_declined_payment_from_spec() -> None:
    info = h("04 0F 25 27 05 29 29 00 02 74 3C F0 F0 F9") + b"Abgelehnt" + h("8A 06 06 0D 24 0B 07 09") + b"Abgelehnt"
    fake = FakeTransport([[ACK, info], [h("06 1E 01 05")], []])
    async with asyncio.timeout(5):
        result = await client(fake).authorize(1000)
    assert fake.sent == [h("06 01 0A 04 00 00 00 00 10 00 49 09 78"), ACK, ACK]
    assert not result.approved and result.result_code == 5


async def test_refused_command_raises_with_code() -> None:
    fake = FakeTransport([[h("84 83 00")]])
    with pytest.raises(ZvtCommandRefused) as info:
        async with asyncio.timeout(5):
            await client(fake).end_of_day()
    assert info.value.result_code == 0x83


async def test_t3_expiry_closes_and_reports() -> None:
    fake = FakeTransport([[]])
    with pytest.raises(ZvtTimeout) as info:
        async with asyncio.timeout(5):
            await client(fake).authorize(100)
    assert info.value.timer == "T3" and not fake.is_open


async def test_t4_is_reset_by_intermediate_status() -> None:
    fake = FakeTransport([[ACK]])
    zvt = client(fake)

    async def terminal() -> None:
        for _ in range(4):  # 4 x 0.3 s = 1.2 s > T4 of 0.5 s, but each status resets T4
            await asyncio.sleep(0.3)
            fake.feed(h("04 FF 01 17"))
        await asyncio.sleep(0.3)
        fake.feed(APPROVED_INFO)
        await asyncio.sleep(0.05)
        fake.feed(h("06 0F 00"))

    async with asyncio.timeout(5):
        task = asyncio.create_task(terminal())
        result = await zvt.authorize(1234)
        await task
    assert result.approved


async def test_t4_expiry_carries_partial_result() -> None:
    fake = FakeTransport([[ACK, APPROVED_INFO]])
    with pytest.raises(ZvtTimeout) as info:
        async with asyncio.timeout(5):
            await client(fake).authorize(1234)
    partial = info.value.partial
    assert isinstance(partial, PaymentResult)
    assert info.value.timer == "T4" and not partial.complete and partial.status_acknowledged
    assert partial.receipt_number == 42 and not partial.approved


async def test_disconnect_mid_transaction_is_connection_error() -> None:
    fake = FakeTransport([[ACK, h("04 FF 01 0A")], []])
    zvt = client(fake)
    async with asyncio.timeout(5):
        task = asyncio.create_task(zvt.authorize(100))
        await asyncio.sleep(0.05)
        fake.disconnect()
        with pytest.raises(ZvtConnectionError) as info:
            await task
    assert isinstance(info.value.partial, PaymentResult) and not info.value.partial.status_acknowledged


async def test_busy_while_terminal_is_master_and_abort_allowed() -> None:
    fake = FakeTransport([[ACK, h("04 FF 01 0A")], [], [ACK, h("06 1E 01 6C")], []])
    zvt = client(fake)
    async with asyncio.timeout(5):
        task = asyncio.create_task(zvt.authorize(100))
        await asyncio.sleep(0.05)
        assert zvt.pt_has_master_rights
        with pytest.raises(ZvtBusy):
            await zvt.status_enquiry()
        await zvt.abort()
        result = await task
    assert fake.sent[2] == h("06 B0 00")
    assert not result.approved and result.result_code == 0x6C


async def test_unknown_pt_command_gets_84_83_and_malformed_gets_84_9a() -> None:
    fake = FakeTransport([[ACK, h("06 D8 00")], [h("04 FF 00")], [h("06 0F 00")], []])
    async with asyncio.timeout(5):
        await client(fake).diagnosis()
    assert fake.sent[1:] == [h("84 83 00"), h("84 9A 00"), ACK]


async def test_status_enquiry_sequence() -> None:
    fake = FakeTransport([[ACK, h("06 0F 15 F0 F1 F7") + b"SW-1.2.3 12345678" + h("00")], []])
    async with asyncio.timeout(5):
        status = await client(fake).status_enquiry()
    assert fake.sent == [h("05 01 03 12 34 56"), ACK]
    assert status.ready and status.sw_version == "SW-1.2.3 12345678"


async def test_recover_payment_from_repeat_receipt() -> None:
    fake = FakeTransport([[ACK, APPROVED_INFO], [h("06 0F 00")], []])
    async with asyncio.timeout(5):
        rec = await client(fake).recover_payment(1234, known_receipts={41})
    assert fake.sent[0] == h("06 20 05 12 34 56 03 01")
    assert rec.outcome is Outcome.PAID and rec.payment is not None and rec.payment.receipt_number == 42


async def test_log_off_and_display_text_need_only_the_ack() -> None:
    fake = FakeTransport([[ACK], [ACK]])
    zvt = client(fake)
    async with asyncio.timeout(5):
        await zvt.log_off()
        await zvt.display_text(["Hallo"])
    assert fake.sent == [h("06 02 00"), h("06 E0 08 F1 F0 F5") + b"Hallo"]
