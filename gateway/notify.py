"""systemd notification protocol (sd_notify) on the ``NOTIFY_SOCKET`` datagram socket.

Implements READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 as described in sd_notify(3): one
AF_UNIX datagram per message to the path in ``NOTIFY_SOCKET`` (a leading ``@`` means the abstract
namespace). The watchdog is pinged from the event loop at half of ``WATCHDOG_USEC``, so a stuck
loop stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages when running under systemd; a no-op otherwise."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        e = os.environ if env is None else env
        self.address = e.get("NOTIFY_SOCKET") or None
        usec = e.get("WATCHDOG_USEC", "")
        pid = e.get("WATCHDOG_PID", "")
        self.watchdog_usec = int(usec) if usec.isdigit() and (not pid or pid == str(os.getpid())) else 0
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        """True under systemd (``NOTIFY_SOCKET`` set)."""
        return self.address is not None

    def send(self, message: str) -> bool:
        """Send one message; errors are logged, never raised (the service must keep running)."""
        if not self.address:
            return False
        addr = self.address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode("utf-8"), addr)
            self.sent += 1
            return True
        except OSError as err:
            log.warning("sd_notify failed: %s", err)
            return False

    def ready(self, status: str = "") -> None:
        """READY=1 (with an optional STATUS line)."""
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> None:
        """STATUS= one-line health summary."""
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        """STOPPING=1."""
        self.send("STOPPING=1")

    def start_watchdog(self) -> None:
        """Ping WATCHDOG=1 from the running loop at half the configured interval."""
        if self.watchdog_usec and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watchdog(self.watchdog_usec / 2_000_000))

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """Stop pinging and close the socket."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sock:
            self._sock.close()
            self._sock = None
