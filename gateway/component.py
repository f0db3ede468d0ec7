"""The contract between the composition root (``gateway/app.py``) and each component.

A component is built by a factory from its config section, started and stopped by the app, and
reports a JSON-able status for the status page, ``/metrics`` and MQTT. It may contribute HTTP
routes and CLI sub-commands. An optional component that fails to start is reported as failed;
the gateway keeps running.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Component(Protocol):
    """What the app needs of every component."""

    name: str

    async def start(self) -> None:
        """Open connections and start background tasks. Must not block on remote links."""

    async def stop(self) -> None:
        """Stop background tasks and close resources; idempotent."""

    def status(self) -> dict[str, Any]:
        """A JSON-able health summary: at least ``{"state": "ok"|"degraded"|"failed"|"off"}``."""
