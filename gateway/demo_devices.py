"""Simulated devices for ``storegw demo``: each speaks its real wire protocol on a local port or pty."""

from __future__ import annotations

import logging
from typing import Any

from drivers.zvt.simulator import ZvtSimulator
from gateway.payments.card import ZvtConfig

log = logging.getLogger(__name__)


class DemoSimulators:
    """Component ``simulators``: starts the demo's device simulators before the devices connect."""

    name = "simulators"

    def __init__(self, gw: Any) -> None:
        self.gw = gw
        self.zvt: ZvtSimulator | None = None
        self.endpoints: dict[str, str] = {}

    async def start(self) -> None:
        """Start every simulator the demo config points at."""
        zcfg = self.gw.config.get(ZvtConfig)
        if zcfg.enabled and zcfg.transport == "tcp" and zcfg.host in ("127.0.0.1", "localhost"):
            self.zvt = ZvtSimulator()
            port = await self.zvt.start_tcp(zcfg.host, zcfg.port)
            self.endpoints["zvt"] = f"tcp://{zcfg.host}:{port}"
        log.info("demo simulators: %s", ", ".join(f"{k} {v}" for k, v in self.endpoints.items()) or "none")

    async def stop(self) -> None:
        """Stop the simulators."""
        if self.zvt:
            await self.zvt.stop()
            self.zvt = None

    def status(self) -> dict[str, Any]:
        """Where each simulator listens."""
        return {"state": "ok", **self.endpoints}
