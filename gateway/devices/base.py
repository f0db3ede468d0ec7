"""What the device manager needs of a device adapter (glue between a driver and the gateway).

An adapter wraps one driver instance (a printer on TCP, a scale on a serial port, …). It opens
and closes its transport, answers a health check, runs named commands, and may push events and
state through the callbacks the manager gives it. Driver exceptions are translated at this
boundary into :class:`DeviceError` with a stable code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from gateway.errors import GatewayError

EmitEvent = Callable[[str, dict[str, Any]], None]
EmitState = Callable[[dict[str, Any]], None]


class DeviceError(GatewayError):
    """A device command failed (offline, paper out, timeout, bad reply)."""

    type, status, title = "device-error", 503, "Device error"


class DeviceBusy(DeviceError):
    """The device cannot take the command now (e.g. drawer already open)."""

    type, status, title = "device-busy", 409, "Device busy"


class UnknownAction(DeviceError):
    """The device has no such command."""

    type, status, title = "unknown-action", 404, "Unknown device action"


class DeviceAdapter(Protocol):
    """One device as the manager sees it."""

    kind: str
    actions: frozenset[str]
    #: actions whose retries must not repeat the effect (print, open drawer, payments)
    idempotent_actions: frozenset[str]

    async def open(self, emit_event: EmitEvent, emit_state: EmitState) -> None:
        """Connect; raise on failure (the manager retries with backoff)."""

    async def close(self) -> None:
        """Disconnect; idempotent."""

    async def health(self) -> dict[str, Any]:
        """Probe the device; raise when it does not answer. Returns state details."""

    async def command(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one command; raise DeviceError (or a driver error, translated by the manager)."""

    def describe(self) -> dict[str, Any]:
        """Static description: driver, transport, model (no secrets)."""
