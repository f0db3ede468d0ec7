"""SerialScale against the protocol simulators over real pty pairs: commands, faults, replug."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.scale import (
    ScaleBusy,
    ScaleError,
    ScaleOffline,
    ScaleProtocolError,
    ScaleTimeout,
    ScaleUnsupported,
    SerialScale,
    WeightState,
    make_codec,
)
from drivers.scale.simulator import ScaleSimulator, ScaleState


@pytest.fixture(params=["mtsics", "toledo8217", "nci"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[ScaleSimulator, SerialScale]]:
    sim = ScaleSimulator(request.param, link=str(tmp_path / "scale0"), state=ScaleState(gross_g=1234))
    await sim.start()
    scale = SerialScale(sim.path, request.param, timeout=0.5, settle=0.01)
    await scale.start()
    async with asyncio.timeout(3):
        await scale.line.wait_online()
    yield sim, scale
    await scale.close()
    sim.close()


async def test_stable_weight(rig: tuple[ScaleSimulator, SerialScale]) -> None:
    _sim, scale = rig
    async with asyncio.timeout(5):
        r = await scale.read_weight()
    assert (r.state, r.weight_g) == (WeightState.STABLE, 1234)


async def test_moving_over_under(rig: tuple[ScaleSimulator, SerialScale]) -> None:
    sim, scale = rig
    async with asyncio.timeout(5):
        sim.state.stable = False
        if sim.protocol == "mtsics":
            with pytest.raises(ScaleBusy):
                await scale.read_weight()
            r = await scale.read_weight(immediate=True)
            assert (r.state, r.weight_g) == (WeightState.MOVING, 1234)
        else:
            assert (await scale.read_weight()).state is WeightState.MOVING
        sim.state.stable = True
        sim.state.overload = True
        assert (await scale.read_weight()).state is WeightState.OVERLOAD
        sim.state.overload, sim.state.underload = False, True
        r = await scale.read_weight()
        assert (r.state, r.weight_g) == (WeightState.UNDERLOAD, None)


async def test_zero_and_tare(rig: tuple[ScaleSimulator, SerialScale]) -> None:
    sim, scale = rig
    async with asyncio.timeout(5):
        await scale.zero()
        assert (await scale.read_weight()).weight_g == 0
        sim.state.gross_g = 1500
        if sim.protocol == "nci":
            return  # NCI has no tare command
        tare = await scale.tare()
        if sim.protocol == "mtsics":
            assert tare is not None and tare.weight_g == 266
        sim.state.gross_g = 2000
        r = await scale.read_weight()
        assert r.weight_g == 500
        # 8217 flags net weight with "N"; an MT-SICS "S S" reply does not say.
        assert r.net is (sim.protocol == "toledo8217")
        await scale.clear_tare()
        assert (await scale.read_weight()).weight_g == 766


async def test_exact_bytes_on_the_wire(rig: tuple[ScaleSimulator, SerialScale]) -> None:
    sim, scale = rig
    async with asyncio.timeout(5):
        await scale.read_weight()
        await scale.zero()
    expected = {"mtsics": b"S\r\nZ\r\n", "toledo8217": b"WZ", "nci": b"W\rZ\r"}[sim.protocol]
    assert bytes(sim.wire) == expected


async def test_garbage_is_logged_and_scale_keeps_working(
    rig: tuple[ScaleSimulator, SerialScale], caplog: pytest.LogCaptureFixture
) -> None:
    sim, scale = rig
    errors: list[ScaleError] = []
    scale.on_error = errors.append
    caplog.set_level(logging.WARNING)
    async with asyncio.timeout(5):
        sim.pty.write(b"\x00\xff#noise#\r\n\x03")
        sim.garbage_next = b"\x02@@\r\n\x03"
        with pytest.raises(ScaleTimeout):
            await scale.read_weight()
        assert errors and all(isinstance(e, ScaleProtocolError) for e in errors)
        assert any(r.name == "drivers.scale.client" and r.levelname == "WARNING" for r in caplog.records)
        assert (await scale.read_weight()).weight_g == 1234


async def test_silent_scale_times_out(rig: tuple[ScaleSimulator, SerialScale]) -> None:
    sim, scale = rig
    sim.silent = True
    async with asyncio.timeout(5):
        with pytest.raises(ScaleTimeout) as ei:
            await scale.read_weight()
    assert isinstance(ei.value, TimeoutError)


async def test_unplug_replug(rig: tuple[ScaleSimulator, SerialScale]) -> None:
    sim, scale = rig
    states: list[bool] = []
    went_offline = asyncio.Event()

    def on_state(online: bool, reason: str) -> None:
        states.append(online)
        if not online:
            went_offline.set()

    scale.on_state = on_state
    async with asyncio.timeout(5):
        sim.pty.unplug()
        await went_offline.wait()
        with pytest.raises(ScaleOffline) as ei:
            await scale.read_weight()
        assert isinstance(ei.value, ConnectionError)
        sim.pty.open()
        await scale.line.wait_online()
        assert (await scale.read_weight()).weight_g == 1234
    assert states[:1] == [False] and states[-1] is True


async def test_unplug_during_command(rig: tuple[ScaleSimulator, SerialScale]) -> None:
    sim, scale = rig
    sim.silent = True
    scale.timeout = 3
    async with asyncio.timeout(5):
        task = asyncio.create_task(scale.read_weight())
        await asyncio.sleep(0.05)
        sim.pty.unplug()
        with pytest.raises(ScaleOffline):
            await task


async def test_absent_port_stays_offline_without_crash(tmp_path: Path) -> None:
    scale = SerialScale(str(tmp_path / "nothing"), "mtsics", timeout=0.2)
    await scale.start()
    await asyncio.sleep(0.1)
    assert not scale.online and "cannot open" in scale.line.reason
    with pytest.raises(ScaleOffline):
        await scale.read_weight()
    await scale.close()


async def test_preset_tare(rig: tuple[ScaleSimulator, SerialScale]) -> None:
    sim, scale = rig
    async with asyncio.timeout(5):
        if sim.protocol != "mtsics":
            with pytest.raises(ScaleUnsupported):
                await scale.preset_tare(100)
            return
        tare = await scale.preset_tare(234)
        assert tare.weight_g == 234
        assert (await scale.read_weight()).weight_g == 1000
    assert bytes(sim.wire).endswith(b"TA 234 g\r\nS\r\n")


def test_make_codec_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        make_codec("dialog07")
