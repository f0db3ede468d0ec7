"""The one interface every TSE backend implements, and the plain results it returns.

A TSE (technische Sicherheitseinrichtung, KassenSichV / BSI TR-03153) is driven through the
operations of the SE API in BSI TR-03151: start/update/finish a transaction, register
clients, self-test, time update and export. Backends: ``software`` (demo, training, tests;
not certified), ``fiskaly`` (SIGN DE v2 cloud TSE). A hardware TSE (Swissbit, Epson) is added
by writing one more subclass of :class:`Tse`; see ``docs/tse.md``.
"""

from __future__ import annotations

import abc
import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: Process types of DSFinV-K Anhang I (fact sheet §1.3).
PROCESS_TYPE_RECEIPT = "Kassenbeleg-V1"
PROCESS_TYPE_ORDER = "Bestellung-V1"
PROCESS_TYPE_OTHER = "SonstigerVorgang"


@dataclass(frozen=True)
class TseTransaction:
    """The TSE's answer to one transaction operation (Start, Update or Finish).

    Every value is set by the TSE, never by the till (§2 KassenSichV). ``end_time`` is set
    only by the Finish operation; ``signature_counter`` and ``signature`` belong to the
    operation that produced this object (for a finished sale: the Finish log, which is what
    the receipt, the QR code and ``TSE_TA_SIGZ`` carry).
    """

    number: int
    client_id: str
    operation: str
    signature_counter: int
    start_time: datetime
    log_time: datetime
    end_time: datetime | None
    signature: str
    serial_number: str
    public_key: str
    signature_algorithm: str
    log_time_format: str
    process_type: str
    process_data: str
    certified: bool = True


@dataclass(frozen=True)
class TseInfo:
    """Identity and health of a TSE, as needed for tse.csv, the status page and monitoring."""

    serial_number: str
    public_key: str
    signature_algorithm: str
    log_time_format: str
    signature_counter: int
    transaction_counter: int
    certified: bool
    description: str
    state: str = "INITIALIZED"
    certificate: str = ""
    registered_clients: tuple[str, ...] = ()
    open_transactions: tuple[int, ...] = field(default_factory=tuple)
    process_data_encoding: str = "UTF-8"


class Tse(abc.ABC):
    """A technical security element as seen by the till.

    All operations are coroutines: cloud and hardware TSEs do I/O. ``client_id`` is the
    TR-03151 clientId, i.e. the serial number of the recording system (``KASSE_SERIENNR``,
    the second QR field). Errors are :class:`~drivers.tse.errors.TseError` subclasses.
    """

    #: False for any TSE that is not BSI-certified; the gateway refuses it in production.
    certified: bool = True

    @abc.abstractmethod
    async def start_transaction(
        self, client_id: str, process_type: str = "", process_data: str = ""
    ) -> TseTransaction:
        """Start a transaction; DSFinV-K wants empty process type and data at start."""

    @abc.abstractmethod
    async def update_transaction(
        self, client_id: str, number: int, process_type: str, process_data: str
    ) -> TseTransaction:
        """Log a signed update of an open transaction."""

    @abc.abstractmethod
    async def finish_transaction(
        self, client_id: str, number: int, process_type: str, process_data: str
    ) -> TseTransaction:
        """Finish an open transaction with its final process type and data."""

    @abc.abstractmethod
    async def info(self) -> TseInfo:
        """Serial number, public key, algorithm, time format, counters and state."""

    @abc.abstractmethod
    async def register_client(self, client_id: str) -> None:
        """Register a recording system (idempotent: registering twice is not an error)."""

    @abc.abstractmethod
    async def self_test(self, client_id: str) -> None:
        """Run the self-test; raises :class:`TseStateError` when it fails."""

    @abc.abstractmethod
    async def update_time(self) -> None:
        """Set the TSE's clock from the host clock (every boot, and periodically)."""

    @abc.abstractmethod
    async def export_tar(self) -> bytes:
        """All log messages and certificates as a TR-03153 TAR archive."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections and files."""


def serial_from_public_key(point: bytes) -> str:
    """TSE serial number: SHA-256 of the uncompressed public point, lowercase hex.

    Fact sheet §1.1 ([S1] index.xml description of TSE_SERIAL, [S8] calculateSerialNumber).
    """
    return hashlib.sha256(point).hexdigest()


def b64(data: bytes) -> str:
    """Standard base64 text of ``data`` (QR code, tse.csv and fiskaly all use it)."""
    return base64.b64encode(data).decode("ascii")


def utc_from_unix(seconds: int) -> datetime:
    """A timezone-aware UTC datetime for Unix seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)
