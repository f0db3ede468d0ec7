"""Tests of sale signing: the tse object, QR round trip, TSE failure mid-sale and the outage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.tse import TseTransaction
from drivers.tse.software import SoftwareTse
from drivers.tse.verify import verify_transaction
from gateway.fiscal.process_data import Payment, receipt_process_data
from gateway.fiscal.signing import OpenTransaction, Outage, SaleSigner, tse_object

CLIENT = "KASSE-02"
PD = receipt_process_data("Beleg", {1: 1190, 2: 214}, [Payment(1000, True), Payment(404, False)])
KEYS = {"process_type", "process_data", "transaction_number", "signature_counter", "start", "end", "signature",
        "serial_number", "public_key", "signature_algorithm", "qr_code"}  # fmt: skip


@pytest.fixture
async def tse(tmp_path: Path) -> SoftwareTse:
    t = SoftwareTse(tmp_path / "tse")
    await t.register_client(CLIENT)
    return t


def tx_from_qr(qr: str, serial: str) -> TseTransaction:
    """What a receipt checker does: read the QR fields back (the serial derives from the key)."""
    v, client, ptype, pdata, number, counter, start, end, algo, fmt, sig, pub = qr.split(";")
    assert v == "V0"
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return TseTransaction(int(number), client, "Finish", int(counter), parse(start), parse(end), parse(end),
                          sig, serial, pub, algo, fmt, ptype, pdata)  # fmt: skip


async def test_finished_sale_tse_object(tse: SoftwareTse) -> None:
    signer = SaleSigner(tse, CLIENT)
    async with asyncio.timeout(10):
        started = await signer.start()
        obj = await signer.finish(started, "Kassenbeleg-V1", PD, bon_id="B1")
    assert KEYS <= obj.keys() and "failed" not in obj
    assert obj["process_data"] == PD and obj["transaction_number"] == 1
    assert obj["start"].endswith("Z") and len(obj["end"]) == 24
    assert obj["qr_code"].startswith(f"V0;{CLIENT};Kassenbeleg-V1;{PD};1;{obj['signature_counter']};")
    assert obj["qr_code"].endswith(f";ecdsa-plain-SHA256;unixTime;{obj['signature']};{obj['public_key']}")
    assert obj["certified"] is False
    verify_transaction(tx_from_qr(obj["qr_code"], obj["serial_number"]))


async def test_tse_failure_mid_sale_marks_and_journals_outage(tse: SoftwareTse) -> None:
    started_events: list[Outage] = []
    ended_events: list[Outage] = []
    signer = SaleSigner(tse, CLIENT, on_outage_start=started_events.append, on_outage_end=ended_events.append)
    started = await signer.start()
    assert started is not None
    tse.set_failing("USB-TSE entfernt")
    obj = await signer.finish(started, "Kassenbeleg-V1", PD, bon_id="B1")
    assert obj["failed"] is True and "USB-TSE entfernt" in obj["reason"]
    assert set(obj) == {"failed", "reason", "start", "end"}
    assert len(started_events) == 1 and started_events[0].bon_ids == ["B1"] and started_events[0].end is None

    # the TSE is back, but the circuit stays open: the next sale is not signed
    tse.set_failing(None)
    counter_before = (await tse.info()).signature_counter
    assert await signer.start() is None
    obj2 = await signer.finish(None, "Kassenbeleg-V1", PD, bon_id="B2", began=datetime.now(UTC))
    assert obj2["failed"] is True
    assert (await tse.info()).signature_counter == counter_before
    assert signer.outage is not None and signer.outage.bon_ids == ["B1", "B2"]

    # recovery ends the outage with an end time and resumes signing
    assert await signer.try_recover() is True
    assert len(ended_events) == 1 and ended_events[0].end is not None
    assert ended_events[0].end >= ended_events[0].start
    started3 = await signer.start()
    obj3 = await signer.finish(started3, "Kassenbeleg-V1", PD, bon_id="B3")
    assert "failed" not in obj3 and obj3["transaction_number"] == 2  # B2 never reached the TSE


async def test_sale_started_in_outage_is_never_signed_later(tse: SoftwareTse) -> None:
    signer = SaleSigner(tse, CLIENT)
    tse.fail_next()
    assert await signer.start() is None
    assert await signer.try_recover() is True
    obj = await signer.finish(None, "Kassenbeleg-V1", PD, bon_id="B9")
    assert obj["failed"] is True


async def test_recovery_fails_while_tse_down(tse: SoftwareTse) -> None:
    signer = SaleSigner(tse, CLIENT)
    tse.set_failing("down")
    assert await signer.start() is None
    assert await signer.try_recover() is False
    assert signer.outage is not None


class SlowTse(SoftwareTse):
    """A TSE whose finish never answers in time."""

    async def finish_transaction(self, client_id: str, number: int, process_type: str, process_data: str) -> TseTransaction:
        await asyncio.sleep(5)
        raise AssertionError("not reached")


async def test_timeout_counts_as_failure(tmp_path: Path) -> None:
    tse = SlowTse(tmp_path / "slow")
    await tse.register_client(CLIENT)
    signer = SaleSigner(tse, CLIENT, call_timeout=0.1)
    started = await signer.start()
    async with asyncio.timeout(5):
        obj = await signer.finish(started, "Kassenbeleg-V1", PD, bon_id="B1")
    assert obj["failed"] is True and "TseTimeout" in obj["reason"]


def test_tse_object_needs_a_finish() -> None:
    now = datetime.now(UTC)
    tx = TseTransaction(1, CLIENT, "Start", 2, now, now, None, "s", "ab", "k", "ecdsa-plain-SHA256", "unixTime", "", "")
    with pytest.raises(ValueError):
        tse_object(tx)


async def test_finish_after_restart_from_stored_number(tmp_path: Path) -> None:
    first = SoftwareTse(tmp_path / "r")
    await first.register_client(CLIENT)
    started = await SaleSigner(first, CLIENT).start()
    assert started is not None
    stored = (started.number, started.start_time)  # what the open cart keeps
    signer = SaleSigner(SoftwareTse(tmp_path / "r"), CLIENT)
    obj = await signer.finish(OpenTransaction(*stored), "Kassenbeleg-V1", PD, bon_id="B1")
    assert obj["transaction_number"] == started.number
    verify_transaction(tx_from_qr(obj["qr_code"], obj["serial_number"]))
