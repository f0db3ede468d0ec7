"""Software TSE for demo, training and tests - NOT CERTIFIED, never for production use.

It behaves like a TR-03151 security element: ECDSA P-256 signatures (``ecdsa-plain-SHA256``,
plain r||s) over DER log messages shaped as BSI TR-03151 describes (see :mod:`.logmsg`),
a signature counter incremented by every signed log, consecutive transaction numbers, a
TR-03153-style TAR export with the certificate. State (key, counters, open transactions,
registered clients) lives in a directory and survives restarts: every signed log is written
to a temporary file, fsynced and renamed into ``logs/`` before its result is returned, and the
state (counters, open transactions, clients) is rebuilt from those log files at start. It is not
certified by the BSI; the property :attr:`SoftwareTse.certified` is False and every export says so.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from .api import Tse, TseInfo, TseTransaction, b64, serial_from_public_key, utc_from_unix
from .errors import TseConflict, TseError, TseNotFound, TseStateError, TseUnavailable
from .logmsg import SystemLog, TransactionLog, decode, encode, signed_data

NOT_CERTIFIED = "NOT CERTIFIED - storegw software TSE for demo, training and tests only"
ALGORITHM = "ecdsa-plain-SHA256"
TIME_FORMAT = "unixTime"
_STATE_VERSION = 1
_LOG_NAME = re.compile(r"_Sig-(\d+)_Log-(?:Tra_No-(\d+)_|Sys_)")
_TX_NAME = re.compile(r"_(Start|Update|Finish)_Client-(.+)\.log$")
_OPS = {"Start": "StartTransaction", "Update": "UpdateTransaction", "Finish": "FinishTransaction"}


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def sign_plain(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA-SHA256 signature in the plain r||s form TR-03111 and the DSFinV-K expect."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


class SoftwareTse(Tse):
    """A persistent, uncertified software TSE; one instance per state directory."""

    certified = False

    def __init__(self, state_dir: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self._dir = Path(state_dir)
        self._logs = self._dir / "logs"
        self._logs.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._fail_next: list[TseError] = []
        self._failing: str | None = None
        self._key = self._load_or_create_key()
        self._point = self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self._serial_hex = serial_from_public_key(self._point)
        self._cert = self._load_or_create_certificate()
        self._state = self._load_state()
        if self._state["signature_counter"] == 0:
            self._system_log("initialize", b"")

    # -- failure simulation ---------------------------------------------------------------

    def fail_next(self, count: int = 1, error: TseError | None = None) -> None:
        """Make the next ``count`` operations raise ``error`` (default: :class:`TseUnavailable`)."""
        for _ in range(count):
            self._fail_next.append(error or TseUnavailable("simulated TSE failure", code="SIMULATED"))

    def set_failing(self, reason: str | None) -> None:
        """Fail every operation with :class:`TseUnavailable` until called again with None."""
        self._failing = reason

    def _check_available(self) -> None:
        if self._fail_next:
            raise self._fail_next.pop(0)
        if self._failing is not None:
            raise TseUnavailable(self._failing, code="SIMULATED")

    # -- persistence ----------------------------------------------------------------------

    def _load_or_create_key(self) -> ec.EllipticCurvePrivateKey:
        path = self._dir / "key.pem"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise TseStateError(f"{path} is not an EC private key")
            return key
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        atomic_write(path, pem, 0o600)
        return key

    def _load_or_create_certificate(self) -> x509.Certificate:
        path = self._dir / "certificate.der"
        if path.exists():
            return x509.load_der_x509_certificate(path.read_bytes())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"storegw software TSE {self._serial_hex[:16]}"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "NOT CERTIFIED"),
            ]
        )
        now = dt.datetime.fromtimestamp(self._clock(), tz=dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(int(self._serial_hex[:30], 16))
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=5 * 365))
            .sign(self._key, hashes.SHA256())
        )
        atomic_write(path, cert.public_bytes(serialization.Encoding.DER))
        return cert

    def _load_state(self) -> dict[str, Any]:
        # The signed log files are the only persistent state: counters, open transactions and
        # clients are what they imply. Nothing can disagree with them, so a crash at any point
        # never reuses a number, reopens a finished transaction or forgets a client.
        state: dict[str, Any] = {
            "version": _STATE_VERSION,
            "signature_counter": 0,
            "transaction_counter": 0,
            "clients": [],
            "open": {},
        }
        finished: set[str] = set()
        for name in sorted(os.listdir(self._logs), key=_counter_of):
            match = _LOG_NAME.search(name)
            if not match or not name.endswith(".log") or name.startswith("."):
                continue  # e.g. the temporary file of a write a crash interrupted
            state["signature_counter"] = max(state["signature_counter"], int(match.group(1)))
            number = match.group(2)
            if number:
                state["transaction_counter"] = max(state["transaction_counter"], int(number))
                op = _TX_NAME.search(name)
                if op and op.group(1) == "Start":
                    state["open"][number] = {"client_id": op.group(2), "start": int(name.split("_")[1])}
                elif op and op.group(1) == "Finish":
                    finished.add(number)
            elif "_Log-Sys_registerClient" in name:
                log = decode((self._logs / name).read_bytes())
                if isinstance(log, SystemLog):
                    client = log.system_operation_data.decode("utf-8")
                    if client not in state["clients"]:
                        state["clients"].append(client)
        for number in finished:
            state["open"].pop(number, None)
        return state

    # -- signing --------------------------------------------------------------------------

    def _next_counter_and_time(self) -> tuple[int, int]:
        counter = int(self._state["signature_counter"]) + 1
        return counter, int(self._clock())

    def _system_log(self, operation: str, data: bytes) -> None:
        counter, now = self._next_counter_and_time()
        log = SystemLog(operation, data, bytes.fromhex(self._serial_hex), ALGORITHM, counter, now)
        signature = sign_plain(self._key, signed_data(log))
        message = encode(SystemLog(**{**log.__dict__, "signature_value": signature}))
        atomic_write(self._logs / f"Unixt_{now}_Sig-{counter}_Log-Sys_{operation}.log", message)
        self._state["signature_counter"] = counter

    def _transaction_log(
        self, op: str, client_id: str, number: int, process_type: str, process_data: str
    ) -> TseTransaction:
        counter, now = self._next_counter_and_time()
        log = TransactionLog(
            operation_type=_OPS[op],
            client_id=client_id,
            process_data=process_data.encode("utf-8"),
            process_type=process_type,
            transaction_number=number,
            serial_number=bytes.fromhex(self._serial_hex),
            signature_algorithm=ALGORITHM,
            signature_counter=counter,
            log_time=now,
        )
        signature = sign_plain(self._key, signed_data(log))
        message = encode(TransactionLog(**{**log.__dict__, "signature_value": signature}))
        name = f"Unixt_{now}_Sig-{counter}_Log-Tra_No-{number}_{op}_Client-{client_id}.log"
        atomic_write(self._logs / name, message)
        self._state["signature_counter"] = counter
        if op == "Start":
            self._state["transaction_counter"] = number
            self._state["open"][str(number)] = {"client_id": client_id, "start": now}
            start = now
        else:
            start = int(self._state["open"][str(number)]["start"])
            if op == "Finish":
                del self._state["open"][str(number)]
        return TseTransaction(
            number=number,
            client_id=client_id,
            operation=op,
            signature_counter=counter,
            start_time=utc_from_unix(start),
            log_time=utc_from_unix(now),
            end_time=utc_from_unix(now) if op == "Finish" else None,
            signature=b64(signature),
            serial_number=self._serial_hex,
            public_key=b64(self._point),
            signature_algorithm=ALGORITHM,
            log_time_format=TIME_FORMAT,
            process_type=process_type,
            process_data=process_data,
            certified=False,
        )

    def _require_client(self, client_id: str) -> None:
        if client_id not in self._state["clients"]:
            raise TseStateError(f"client {client_id!r} is not registered", code="ClientNotRegistered")

    def _require_open(self, client_id: str, number: int) -> None:
        entry = self._state["open"].get(str(number))
        if entry is None:
            if 0 < number <= int(self._state["transaction_counter"]):
                raise TseConflict(f"transaction {number} is not open", code="TransactionNotOpen")
            raise TseNotFound(f"transaction {number} does not exist", code="TransactionNotFound")
        if entry["client_id"] != client_id:
            raise TseConflict(f"transaction {number} belongs to another client", code="ClientMismatch")

    # -- Tse interface --------------------------------------------------------------------

    async def start_transaction(
        self, client_id: str, process_type: str = "", process_data: str = ""
    ) -> TseTransaction:
        """Start a transaction with the next transaction number."""
        with self._lock:
            self._check_available()
            self._require_client(client_id)
            number = int(self._state["transaction_counter"]) + 1
            return self._transaction_log("Start", client_id, number, process_type, process_data)

    async def update_transaction(
        self, client_id: str, number: int, process_type: str, process_data: str
    ) -> TseTransaction:
        """Sign an update of an open transaction."""
        with self._lock:
            self._check_available()
            self._require_client(client_id)
            self._require_open(client_id, number)
            return self._transaction_log("Update", client_id, number, process_type, process_data)

    async def finish_transaction(
        self, client_id: str, number: int, process_type: str, process_data: str
    ) -> TseTransaction:
        """Finish an open transaction."""
        with self._lock:
            self._check_available()
            self._require_client(client_id)
            self._require_open(client_id, number)
            return self._transaction_log("Finish", client_id, number, process_type, process_data)

    async def info(self) -> TseInfo:
        """Identity, counters and open transactions of this TSE."""
        with self._lock:
            self._check_available()
            return TseInfo(
                serial_number=self._serial_hex,
                public_key=b64(self._point),
                signature_algorithm=ALGORITHM,
                log_time_format=TIME_FORMAT,
                signature_counter=int(self._state["signature_counter"]),
                transaction_counter=int(self._state["transaction_counter"]),
                certified=False,
                description=NOT_CERTIFIED,
                certificate=b64(self._cert.public_bytes(serialization.Encoding.DER)),
                registered_clients=tuple(self._state["clients"]),
                open_transactions=tuple(sorted(int(n) for n in self._state["open"])),
            )

    async def register_client(self, client_id: str) -> None:
        """Register ``client_id``; a no-op when it already is registered."""
        with self._lock:
            self._check_available()
            if client_id in self._state["clients"]:
                return
            if not client_id or "_" in client_id or "/" in client_id or len(client_id) > 70:
                # DSFinV-K 2.3: no '/' or '_' in the client serial, at most 70 characters.
                raise TseStateError(f"invalid client id {client_id!r}", code="InvalidClientId")
            self._state["clients"].append(client_id)
            self._system_log("registerClient", client_id.encode())

    async def self_test(self, client_id: str) -> None:
        """Log a self-test; fails like a hardware TSE when the client is not registered."""
        with self._lock:
            self._check_available()
            self._require_client(client_id)
            self._system_log("selfTest", client_id.encode())

    async def update_time(self) -> None:
        """Log a time update; the software TSE uses the host clock directly."""
        with self._lock:
            self._check_available()
            self._system_log("updateTime", str(int(self._clock())).encode())

    async def export_tar(self) -> bytes:
        """TAR (ustar; PAX headers only for names over 99 characters) of all log messages, the certificate and ``info.csv``, marked NOT CERTIFIED."""
        with self._lock:
            self._check_available()
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

                def add(name: str, data: bytes) -> None:
                    """Add one member with the TSE clock as modification time."""
                    entry = tarfile.TarInfo(name)
                    entry.size = len(data)
                    entry.mtime = int(self._clock())
                    tar.addfile(entry, io.BytesIO(data))

                add(
                    "info.csv",
                    (
                        "description;manufacturer;version\r\n"
                        f'"{NOT_CERTIFIED}";"storegw";"software-tse-{_STATE_VERSION}"\r\n'
                    ).encode(),
                )
                add("NOT-CERTIFIED.txt", (NOT_CERTIFIED + "\n").encode())
                add(
                    f"{self._serial_hex.upper()}_X509.cer",
                    self._cert.public_bytes(serialization.Encoding.DER),
                )
                for name in sorted(os.listdir(self._logs), key=_counter_of):
                    if name.endswith(".log"):
                        add(name, (self._logs / name).read_bytes())
            return buf.getvalue()


def _counter_of(name: str) -> int:
    match = _LOG_NAME.search(name)
    return int(match.group(1)) if match else 0
