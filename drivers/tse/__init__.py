"""TSE drivers (KassenSichV technical security elements): one interface, several backends.

``api`` defines :class:`Tse` and its result dataclasses, ``logmsg`` the TR-03151 log message
codec, ``software`` an uncertified software TSE, ``fiskaly`` the fiskaly SIGN DE v2 cloud
client and ``fiskaly_sim`` a local server speaking the fiskaly contract for tests and demos.
"""

from .api import (
    PROCESS_TYPE_ORDER,
    PROCESS_TYPE_OTHER,
    PROCESS_TYPE_RECEIPT,
    Tse,
    TseInfo,
    TseTransaction,
    serial_from_public_key,
)
from .errors import (
    TseAuthError,
    TseConflict,
    TseError,
    TseNotFound,
    TseRejected,
    TseStateError,
    TseTimeout,
    TseUnavailable,
)

__all__ = [
    "PROCESS_TYPE_ORDER",
    "PROCESS_TYPE_OTHER",
    "PROCESS_TYPE_RECEIPT",
    "Tse",
    "TseAuthError",
    "TseConflict",
    "TseError",
    "TseInfo",
    "TseNotFound",
    "TseRejected",
    "TseStateError",
    "TseTimeout",
    "TseTransaction",
    "TseUnavailable",
    "serial_from_public_key",
]
