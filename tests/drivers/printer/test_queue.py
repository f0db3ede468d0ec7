"""Print queue: prints once per job id, copies, waiting for paper, failing clearly, persistence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from drivers.printer.connection import PrinterConnection
from drivers.printer.errors import PrintJobError, UnknownJob
from drivers.printer.layout import ReceiptLayout
from drivers.printer.queue import JobState, JobStore, MemoryJobStore, PrintJob, PrintQueue, SqliteJobStore
from drivers.printer.simulator import PrinterSimulator, SimulatedEscpos, TcpPrinterSimulator
from tests.drivers.polling import until
from tests.drivers.printer.test_layout import sample_receipt

JOB = b"\x1b@receipt\n\x1dV\x01"
COPY = b"\x1b@receipt KOPIE\n\x1dV\x01"


def make_queue(store: JobStore | None = None, **kwargs: object) -> tuple[PrintQueue, PrinterSimulator,
                                                                        SimulatedEscpos, list[PrintJob]]:
    device = SimulatedEscpos()
    updates: list[PrintJob] = []
    queue = PrintQueue(PrinterConnection(device, name="prn"), store or MemoryJobStore(), name="prn",
                       on_update=updates.append, **kwargs)  # type: ignore[arg-type]
    return queue, device.sim, device, updates


@pytest.fixture
async def running() -> AsyncIterator[tuple[PrintQueue, PrinterSimulator, SimulatedEscpos, list[PrintJob]]]:
    parts = make_queue(wait_timeout=5.0, retry_interval=0.01)
    await parts[0].start()
    yield parts
    await parts[0].stop()


async def test_job_prints_once_even_when_retried(running: tuple[PrintQueue, PrinterSimulator, SimulatedEscpos,
                                                                list[PrintJob]]) -> None:
    queue, sim, _, updates = running
    async with asyncio.timeout(10):
        await queue.submit("sale-1", JOB, COPY)
        done = await queue.wait("sale-1")
        again = await queue.submit("sale-1", JOB, COPY)  # client retried the request
        await asyncio.sleep(0.05)
    assert done.state is JobState.DONE and done.attempts == 1 and again.state is JobState.DONE
    assert sim.jobs == [JOB]
    assert [u.state for u in updates] == [JobState.QUEUED, JobState.PRINTING, JobState.DONE]


async def test_reprint_is_marked_copy_and_idempotent(running: tuple[PrintQueue, PrinterSimulator,
                                                                    SimulatedEscpos, list[PrintJob]]) -> None:
    queue, sim, _, _ = running
    async with asyncio.timeout(10):
        await queue.submit("sale-2", JOB, COPY)
        with pytest.raises(PrintJobError, match="cannot reprint"):
            await queue.reprint("sale-2")  # still queued
        await queue.wait("sale-2")
        copy = await queue.reprint("sale-2", copy_id="req-7")
        assert copy.copy_of == "sale-2" and copy.job_id == "req-7"
        assert (await queue.reprint("sale-2", copy_id="req-7")).job_id == "req-7"
        await queue.wait("req-7")
        second = await queue.reprint("sale-2")
        await queue.wait(second.job_id)
    assert second.job_id == "sale-2#copy2"
    assert sim.jobs == [JOB, COPY, COPY]
    assert queue.get("sale-2").copies == 2
    with pytest.raises(UnknownJob):
        queue.get("nope")


async def test_waits_for_paper_then_prints(running: tuple[PrintQueue, PrinterSimulator, SimulatedEscpos,
                                                          list[PrintJob]]) -> None:
    queue, sim, _, updates = running
    sim.apply("paper-out")
    async with asyncio.timeout(10):
        await queue.submit("sale-3", JOB)
        await until(lambda: queue.get("sale-3").reason == "waiting: paper out")
        assert queue.get("sale-3").state is JobState.QUEUED and sim.jobs == []
        await asyncio.sleep(10 * queue.retry_interval)  # several retries while the paper is out
        waiting = [u for u in updates if u.reason == "waiting: paper out"]
        assert len(waiting) == 1  # stored and announced once, not once per retry
        sim.apply("paper-ok")
        done = await queue.wait("sale-3")
    assert done.state is JobState.DONE and sim.jobs == [JOB]


async def test_paper_out_fails_clearly_when_wait_is_over() -> None:
    queue, sim, _, _ = make_queue(wait_timeout=0.0)
    sim.apply("paper-out")
    await queue.start()
    try:
        async with asyncio.timeout(10):
            await queue.submit("sale-4", JOB)
            failed = await queue.wait("sale-4")
    finally:
        await queue.stop()
    assert failed.state is JobState.FAILED and failed.reason == "paper out" and sim.jobs == []
    assert failed.data == JOB  # kept for a retry


async def test_paper_out_mid_receipt_prints_again_when_refilled(
    running: tuple[PrintQueue, PrinterSimulator, SimulatedEscpos, list[PrintJob]],
) -> None:
    queue, sim, _, _ = running
    receipt = ReceiptLayout().render(sample_receipt())
    sim.paper_out_after(200)
    async with asyncio.timeout(10):
        await queue.submit("sale-5", receipt)
        await until(lambda: queue.get("sale-5").reason == "waiting: paper out during printing")
        assert sim.jobs == [] and sim.lost_bytes > 0
        sim.current.clear()  # the operator tears off the partial slip and loads paper
        sim.apply("paper-ok")
        done = await queue.wait("sale-5")
    assert done.state is JobState.DONE and done.attempts == 2
    assert sim.jobs == [receipt]


async def test_offline_printer_fails_with_reason_then_retry() -> None:
    queue, sim, device, _ = make_queue(wait_timeout=0.05, retry_interval=0.01)
    device.unplugged = True
    await queue.start()
    try:
        async with asyncio.timeout(10):
            await queue.submit("sale-6", JOB)
            failed = await queue.wait("sale-6")
            assert failed.state is JobState.FAILED and "offline" in failed.reason
            await queue.submit("queued", JOB)
            with pytest.raises(PrintJobError, match="only failed jobs"):
                await queue.retry("queued")
            device.unplugged = False
            await queue.retry("sale-6")
            done = await queue.wait("sale-6")
    finally:
        await queue.stop()
    assert done.state is JobState.DONE and sim.jobs[0] == JOB


async def test_empty_job_id_rejected(running: tuple[PrintQueue, PrinterSimulator, SimulatedEscpos,
                                                    list[PrintJob]]) -> None:
    with pytest.raises(PrintJobError, match="empty job id"):
        await running[0].submit("", JOB)


async def test_sqlite_store_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SqliteJobStore(path)
    # A job that was being printed when the process died, and one still waiting.
    store.put(PrintJob("old-1", "prn", JOB, state=JobState.PRINTING, created_at=1.0))
    store.put(PrintJob("old-2", "prn", JOB, COPY, created_at=2.0))
    store.put(PrintJob("other", "other-printer", JOB, created_at=3.0))
    store.close()

    store = SqliteJobStore(path)
    queue, sim, _, _ = make_queue(store, wait_timeout=1.0, retry_interval=0.01)
    await queue.start()
    try:
        async with asyncio.timeout(10):
            done = await queue.wait("old-2")
    finally:
        await queue.stop()
    interrupted = store.get("old-1")
    assert interrupted is not None and interrupted.state is JobState.FAILED
    assert "interrupted while printing" in interrupted.reason
    assert done.state is JobState.DONE and done.copy_data == COPY and sim.jobs == [JOB]
    assert [j.job_id for j in store.recent("prn")] == ["old-2", "old-1"]
    assert store.unfinished("other-printer")[0].job_id == "other"
    store.close()

    # Another restart: a client retrying "old-2" gets the finished job, nothing prints.
    store = SqliteJobStore(path)
    queue, sim, _, _ = make_queue(store, wait_timeout=1.0, retry_interval=0.01)
    await queue.start()
    try:
        again = await queue.submit("old-2", JOB)
        await asyncio.sleep(0.05)
    finally:
        await queue.stop()
        store.close()
    assert again.state is JobState.DONE and sim.jobs == []


async def test_end_to_end_over_tcp_with_paper_out() -> None:
    tcp = TcpPrinterSimulator()
    await tcp.start()
    printer = PrinterConnection.network("127.0.0.1", tcp.port, timeout=1.0)
    queue = PrintQueue(printer, MemoryJobStore(), wait_timeout=5.0, retry_interval=0.02)
    await queue.start()
    layout = ReceiptLayout()
    receipt = sample_receipt()
    try:
        async with asyncio.timeout(15):
            tcp.sim.apply("paper-out")
            await queue.submit("tcp-1", layout.render(receipt), layout.render(replace(receipt, copy=True)))
            await until(lambda: queue.get("tcp-1").reason.startswith("waiting"))
            tcp.sim.apply("paper-ok")
            assert (await queue.wait("tcp-1")).state is JobState.DONE
            copy = await queue.reprint("tcp-1")
            await queue.wait(copy.job_id)
    finally:
        await queue.stop()
        await printer.close()
        await tcp.stop()
    assert len(tcp.sim.jobs) == 2
    assert b"KOPIE" not in tcp.sim.jobs[0] and b"KOPIE" in tcp.sim.jobs[1]


async def test_render_pair_and_last_printed(running: tuple[PrintQueue, PrinterSimulator, SimulatedEscpos,
                                                           list[PrintJob]]) -> None:
    queue, sim, _, _ = running
    assert sim.jobs == []
    original, copy = ReceiptLayout().render_pair(sample_receipt(copy=True))
    assert b"KOPIE" not in original and b"*** KOPIE ***" in copy
    assert queue.last_printed() is None
    async with asyncio.timeout(10):
        await queue.submit("sale-7", original, copy)
        await queue.wait("sale-7")
        await queue.submit("sale-8", b"\x1b@second\n\x1dV\x01")
        await queue.wait("sale-8")
    last = queue.last_printed()
    assert last is not None and last.job_id == "sale-8"
    assert [j.job_id for j in queue.recent()] == ["sale-8", "sale-7"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_contract(kind: str, tmp_path: Path) -> None:
    store: JobStore = MemoryJobStore() if kind == "memory" else SqliteJobStore(tmp_path / "j.db")
    assert store.get("a") is None
    for name in ("a", "b", "c"):
        store.put(PrintJob(name, "prn", name.encode(), created_at=5.0))  # equal times: order by submission
    job = store.get("a")
    assert job is not None
    job.state, job.reason = JobState.DONE, ""
    assert store.get("a").state is JobState.QUEUED  # type: ignore[union-attr]  # a copy, not a live object
    store.put(job)
    assert [j.job_id for j in store.unfinished("prn")] == ["b", "c"]
    assert [j.job_id for j in store.recent("prn", 2)] == ["c", "b"]
    assert [j.job_id for j in store.recent("prn")] == ["c", "b", "a"]
    assert store.unfinished("nobody") == [] and store.get("a") == job
