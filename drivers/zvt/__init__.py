"""ZVT (ZVT-700) driver for German card payment terminals: codec, transports, client, simulator.

Implements the ECR side of PA00P015 rev. 13.08 "Commands, Bitmaps, Error Messages" and
PA00P016 rev. 04 "Transport-Protocol" (see ``docs/zvt.md``); never imports ``gateway``.
"""

from drivers.zvt.apdu import Apdu, decode_apdu, encode_apdu
from drivers.zvt.client import ZvtClient
from drivers.zvt.errors import (
    ZvtBusy,
    ZvtCommandRefused,
    ZvtConnectionError,
    ZvtDecodeError,
    ZvtEncodeError,
    ZvtError,
    ZvtFramingError,
    ZvtTimeout,
    ZvtTransmissionError,
)
from drivers.zvt.recovery import Outcome, Reconciliation, reconcile_interrupted_payment
from drivers.zvt.results import AdminResult, EndOfDayResult, PaymentResult, RegistrationResult, TerminalStatus
from drivers.zvt.serial_link import SerialTransport
from drivers.zvt.transport import DEFAULT_PORT, FakeTransport, TcpTransport, Transport

__all__ = [
    "DEFAULT_PORT",
    "AdminResult",
    "Apdu",
    "EndOfDayResult",
    "FakeTransport",
    "Outcome",
    "PaymentResult",
    "Reconciliation",
    "RegistrationResult",
    "SerialTransport",
    "TcpTransport",
    "TerminalStatus",
    "Transport",
    "ZvtBusy",
    "ZvtClient",
    "ZvtCommandRefused",
    "ZvtConnectionError",
    "ZvtDecodeError",
    "ZvtEncodeError",
    "ZvtError",
    "ZvtFramingError",
    "ZvtTimeout",
    "ZvtTransmissionError",
    "decode_apdu",
    "encode_apdu",
    "reconcile_interrupted_payment",
]
