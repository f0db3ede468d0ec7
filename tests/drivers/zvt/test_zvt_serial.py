"""RS232 framing of ZVT: CRC and DLE stuffing vectors, and the block layer over real pty pairs.

Vectors from PA00P016 rev. 04 as quoted in fact sheet ``reference/zvt.md`` section 1.3-1.4.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty
from collections.abc import AsyncIterator

import pytest

from drivers.zvt.apdu import Apdu
from drivers.zvt.errors import ZvtConnectionError, ZvtFramingError, ZvtTimeout, ZvtTransmissionError
from drivers.zvt.framing import Deframer, crc16_kermit, frame, unframe
from drivers.zvt.serial_link import SerialLink


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_crc_is_kermit() -> None:
    assert crc16_kermit(b"123456789") == 0x2189


def test_frame_of_ack_from_spec() -> None:
    assert frame(h("80 00 00")) == h("10 02 80 00 00 10 03 F5 1F")
    assert unframe(h("10 02 80 00 00 10 03 F5 1F")) == h("80 00 00")


def test_dle_is_doubled_and_not_in_crc() -> None:
    apdu = h("06 D1 02 00 10")
    block = frame(apdu)
    crc = crc16_kermit(apdu + b"\x03")
    assert block == h("10 02 06 D1 02 00 10 10 10 03") + bytes([crc & 0xFF, crc >> 8])
    assert unframe(block) == apdu


def test_new_dle_stx_restarts_block_and_noise_before_is_ignored() -> None:
    assert unframe(h("10 02 80 10 02 80 00 00 10 03 F5 1F")) == h("80 00 00")
    deframer = Deframer()
    results = [deframer.feed(b) for b in h("00 FF 10 02 80 00 00 10 03 F5 1F")]
    assert results[-1] == ("block", h("80 00 00")) and results[:-1] == [None] * 10


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        ("10 02 80 00 00 10 03 F5 1E", "CRC mismatch"),
        ("10 02 80 10 05 00 10 03 F5 1F", "DLE followed by 05"),
        ("10 02 80 00 00 10 03 F5", "truncated"),
        ("02 80 00 00 10 03 F5 1F", "does not start"),
        ("10 02 80 00 00 10 03 F5 1F 00", "after the block"),
    ],
)
def test_unframe_errors(block: str, reason: str) -> None:
    with pytest.raises(ZvtFramingError, match=reason):
        unframe(h(block))


# ---- block layer over a real pty pair -----------------------------------------------------------


class Peer:
    """The far end of the pty, driven byte by byte by the test."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    async def read(self, count: int, limit: float = 2.0) -> bytes:
        out = b""
        deadline = time.monotonic() + limit
        while len(out) < count:
            try:
                out += os.read(self.fd, count - len(out))
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"got only {out.hex()}") from None
                await asyncio.sleep(0.005)
        return out

    async def silent(self, seconds: float) -> bool:
        await asyncio.sleep(seconds)
        try:
            return os.read(self.fd, 100) == b""
        except BlockingIOError:
            return True


@pytest.fixture
async def pty_pair() -> AsyncIterator[tuple[SerialLink, Peer]]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    link = SerialLink(master, t1=0.1, t2=0.3)
    link.start()
    try:
        yield link, Peer(slave)
    finally:
        await link.stop()
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)


async def test_receive_block_with_stuffed_dle_is_acked(pty_pair: tuple[SerialLink, Peer]) -> None:
    link, peer = pty_pair
    apdu = h("06 D1 03 00 10 10")
    peer.write(frame(apdu))
    async with asyncio.timeout(5):
        got = await link.receive(2)
        assert got == Apdu(0x06, 0xD1, h("00 10 10"))
        assert await peer.read(1) == b"\x06"


async def test_bad_crc_is_naked_then_repeat_accepted(pty_pair: tuple[SerialLink, Peer]) -> None:
    link, peer = pty_pair
    good = frame(h("80 00 00"))
    peer.write(good[:-1] + bytes([good[-1] ^ 0xFF]))
    async with asyncio.timeout(5):
        assert await peer.read(1) == b"\x15"
        peer.write(good)
        assert await link.receive(2) == Apdu(0x80, 0x00)
        assert await peer.read(1) == b"\x06"
    assert link.naks_sent == 1


async def test_t1_gap_inside_block_is_naked(pty_pair: tuple[SerialLink, Peer]) -> None:
    link, peer = pty_pair
    block = frame(h("04 FF 01 0A"))
    peer.write(block[:4])
    async with asyncio.timeout(5):
        assert await peer.read(1, limit=1.0) == b"\x15"  # T1 = 0.1 s here
        peer.write(block)
        assert await link.receive(2) == Apdu(0x04, 0xFF, h("0A"))


async def test_send_repeats_after_nak(pty_pair: tuple[SerialLink, Peer]) -> None:
    link, peer = pty_pair
    block = frame(h("06 01 07 04 00 00 00 00 10 00"))
    async with asyncio.timeout(5):
        sender = asyncio.create_task(link.send(Apdu(0x06, 0x01, h("04 00 00 00 00 10 00"))))
        assert await peer.read(len(block)) == block
        peer.write(b"\x15")
        assert await peer.read(len(block)) == block
        peer.write(b"\x06")
        await sender
    assert link.blocks_repeated == 1


async def test_send_gives_up_after_three_unanswered_attempts(pty_pair: tuple[SerialLink, Peer]) -> None:
    link, peer = pty_pair
    block = frame(h("06 B0 00"))
    async with asyncio.timeout(5):
        sender = asyncio.create_task(link.send(Apdu(0x06, 0xB0)))
        for _ in range(3):  # first send + two repeats, T2 = 0.3 s each
            assert await peer.read(len(block)) == block
        with pytest.raises(ZvtTransmissionError):
            await sender
        assert await peer.silent(0.4)


async def test_receive_timeout_is_typed(pty_pair: tuple[SerialLink, Peer]) -> None:
    link, _ = pty_pair
    with pytest.raises(ZvtTimeout) as info:
        await link.receive(0.1, "T4")
    assert info.value.timer == "T4"
    assert isinstance(info.value, TimeoutError)


async def test_peer_closing_pty_is_connection_error() -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    link = SerialLink(master)
    link.start()
    try:
        os.close(slave)
        with pytest.raises(ZvtConnectionError):
            await link.receive(2)
    finally:
        await link.stop()
        os.close(master)


async def test_line_that_never_drains_is_a_connection_error(pty_pair: tuple[SerialLink, Peer]) -> None:
    """The terminal side stops reading: the full tty buffer is a dead line, not a busy loop."""
    link, _peer = pty_pair
    for filler in (b"\x00" * 4096, b"\x00"):  # big chunks, then the last bytes that still fit
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(link.fd, filler)
    started = time.monotonic()
    with pytest.raises(ZvtConnectionError, match="did not take data"):
        await asyncio.wait_for(link.send(Apdu(0x06, 0xB0)), 10)
    assert time.monotonic() - started < 5
