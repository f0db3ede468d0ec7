"""The device end of a pseudo-terminal pair, for simulators that speak a serial protocol.

The simulator owns the master side; the driver opens the slave path (or the stable
``link`` symlink, like a udev ``/dev/serial/by-id`` name) with pyserial as if it were a real
port. :meth:`PtyDevice.unplug` closes the pair and removes the link, which the driver sees as
EIO, and :meth:`PtyDevice.replug` creates a fresh pair behind the same link.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable


class PtyDevice:
    """A pty pair served on the running loop; ``on_bytes`` gets what the driver writes."""

    def __init__(self, on_bytes: Callable[[bytes], None], link: str | None = None) -> None:
        self.on_bytes = on_bytes
        self.link = link
        self.master = -1
        self._slave = -1
        self.slave_path = ""

    @property
    def path(self) -> str:
        """What a driver should open: the link when given, else the slave path."""
        return self.link or self.slave_path

    @property
    def plugged(self) -> bool:
        """True while the pair exists."""
        return self.master >= 0

    def open(self) -> None:
        """Create the pair (and the link) and start serving on the running loop."""
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        # Keeping our own slave fd open means the master never sees EIO between driver opens.
        self.master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
            os.symlink(self.slave_path, self.link)
        asyncio.get_running_loop().add_reader(master, self._readable)

    def write(self, data: bytes) -> None:
        """Send bytes to the driver (dropped while unplugged, as on a real cable)."""
        if self.master < 0:
            return
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                return  # the driver stopped reading; a real device would overrun too

    def unplug(self) -> None:
        """Close the pair and remove the link, as when the USB cable is pulled."""
        if self.master >= 0:
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            os.close(self._slave)
            self.master = self._slave = -1
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)

    def replug(self) -> None:
        """A fresh pair behind the same link."""
        self.unplug()
        self.open()

    close = unplug

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO: no slave open right now
        if data:
            self.on_bytes(data)
