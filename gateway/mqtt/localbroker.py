"""Run a private Mosquitto from the shipped template (tests, benchmarks, demos on one machine).

Writes passwd/ACL/config with :func:`~gateway.mqtt.broker.write_broker_files` into a
directory, picks free loopback ports and starts ``mosquitto -c`` as a child process.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from gateway.mqtt.broker import BrokerTls, ClientCred, write_broker_files
from gateway.netutil import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM the broker when its parent dies, so a
    killed test run or benchmark leaves no broker behind (prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class _PortTaken(Exception):
    """mosquitto could not bind a port chosen as free: another process took it meanwhile."""


class LocalBroker:
    """A mosquitto child process on free loopback ports with generated credentials and ACL."""

    def __init__(
        self,
        directory: str | Path,
        store_id: str,
        clients: list[ClientCred],
        *,
        persistence: bool = False,
        tls: BrokerTls | None = None,
    ) -> None:
        """``tls``: certificate files; its ``mqtts_port`` is replaced by a free port."""
        self.directory = Path(directory)
        self.log = self.directory / "broker.log"
        self._files = (store_id, clients, persistence, tls)
        self._started = False
        self.proc: subprocess.Popen[bytes] | None = None
        self._pick_ports()

    def _pick_ports(self) -> None:
        """Choose free ports and (re)write the broker files for them."""
        store_id, clients, persistence, tls = self._files
        self.port = free_port()
        self.ws_port = free_port()
        self.tls = None if tls is None else dataclasses.replace(tls, mqtts_port=free_port())
        # As root Mosquitto drops to the "mosquitto" account, which cannot read a private
        # temp dir; a private broker runs as whoever starts it.
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
        paths = write_broker_files(
            self.directory,
            store_id,
            clients,
            port=self.port,
            ws_port=self.ws_port,
            ws_bind="127.0.0.1",
            persistence=persistence,
            log_dest="stdout",
            user=user,
            tls=self.tls,
        )
        self.conf = paths["conf"]

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT`` of the plain listener."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, wait: float = 5.0) -> None:
        """Start mosquitto and wait until every listener accepts connections.

        A free port can be taken by another process between choosing it and mosquitto binding
        it; on the first start that is retried with fresh ports. A restart keeps its ports
        (clients reconnect to the same address), so there a taken port is an error.
        """
        for attempt in range(5):
            try:
                self._start_once(wait)
            except _PortTaken:
                if self._started or attempt == 4:
                    raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}") from None
                self._pick_ports()
                continue
            self._started = True
            return

    def _start_once(self, wait: float) -> None:
        with open(self.log, "ab") as out:
            mark = out.tell()
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + wait
        ports = [self.port, self.ws_port] + ([self.tls.mqtts_port] if self.tls else [])
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                tail = self.log.read_bytes()[mark:].decode(errors="replace")
                if "Address already in use" in tail:
                    raise _PortTaken()
                raise RuntimeError(f"mosquitto exited: {tail[-2000:]}")
            if all(_accepts(p) for p in ports):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("mosquitto did not start listening")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGTERM, or e.g. SIGKILL); idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
