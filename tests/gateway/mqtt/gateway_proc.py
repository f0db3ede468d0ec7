"""A gateway process for the crash tests: MQTT component plus a little device state.

Run as ``python -m tests.gateway.mqtt.gateway_proc URL PASSWORD_FILE``; prints ``READY
<boot_id>`` once connected and then runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from gateway.bus import Bus
from gateway.mqtt.commands import CommandRegistry
from gateway.mqtt.component import MqttComponent
from gateway.mqtt.config import MqttConfig
from gateway.mqtt.idempotency import MemoryIdempotencyStore


async def main(url: str, password_file: str) -> None:
    """Start the component, publish device state, report readiness, wait forever."""
    bus = Bus()
    cfg = MqttConfig(url=url, username="gateway", password_file=password_file, client_id="gateway", keepalive=5)
    comp = MqttComponent(cfg, bus, "s0042", CommandRegistry(), MemoryIdempotencyStore(), client_roles=lambda c: None)
    await comp.start()
    bus.publish("device.drawer-1.state", {"open": False})
    assert comp.link is not None
    async with asyncio.timeout(10):
        await comp.link.wait_connected()
    await asyncio.sleep(0.2)
    print("READY", comp.boot_id, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
