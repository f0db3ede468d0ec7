"""Device end of a pseudo-terminal pair, for simulators of serial devices.

The simulator owns the pty master; the driver under test opens the slave path (or a stable
symlink to it) with pyserial exactly as it would open ``/dev/ttyUSB0``. ``unplug`` closes the
pty so the driver's next read or write fails like a pulled USB-serial adapter; ``plug`` creates
a fresh pty behind the same symlink, like the replugged adapter reappearing under its udev name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable


class PtyEndpoint:
    """Answers bytes written to a pty with ``feed(data) -> reply`` on the running event loop."""

    def __init__(
        self,
        feed: Callable[[bytes], bytes],
        link: str | None = None,
        on_unplug: Callable[[], None] | None = None,
    ) -> None:
        self.feed = feed
        self.link = link
        self.on_unplug = on_unplug
        self.path = ""
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def plugged(self) -> bool:
        """Whether the pty currently exists."""
        return self._master is not None

    def plug(self) -> str:
        """Create the pty (and the symlink) and start serving; returns the path to open."""
        if self._master is not None:
            return self.path
        master, slave = os.openpty()
        tty.setraw(master)
        # Keeping the slave open ourselves stops the master from reporting EIO while no
        # driver has the port open.
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        if self.link:
            tmp = f"{self.link}.tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
            self.path = self.link
        asyncio.get_running_loop().add_reader(master, self._on_readable)
        return self.path

    def _on_readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        reply = self.feed(data)
        if reply:
            with contextlib.suppress(OSError):
                os.write(self._master, reply)

    def write(self, data: bytes) -> None:
        """Send unsolicited bytes to the driver (noise, status pushes)."""
        if self._master is not None:
            os.write(self._master, data)

    def unplug(self) -> None:
        """Close the pty: the driver's port goes dead."""
        if self._master is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        if self.on_unplug is not None:
            self.on_unplug()

    def close(self) -> None:
        """Unplug and remove the symlink."""
        self.unplug()
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
