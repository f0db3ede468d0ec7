"""Exceptions of the TSE drivers: one root, subclasses carry data and match builtins."""

from __future__ import annotations


class TseError(Exception):
    """Root of every error raised by a TSE driver.

    ``code`` is a stable machine-readable reason (for fiskaly the ``E_...`` code of the
    response when there is one).
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TseUnavailable(TseError, ConnectionError):
    """The TSE cannot be reached or answers with a server-side failure; a later retry may succeed."""


class TseTimeout(TseError, TimeoutError):
    """The TSE did not answer in time (after the driver's own safe retries)."""


class TseRejected(TseError, ValueError):
    """The TSE refused the request as invalid; repeating it unchanged fails the same way."""

    def __init__(self, message: str, *, code: str = "", status: int = 0) -> None:
        super().__init__(message, code=code)
        self.status = status


class TseAuthError(TseError, PermissionError):
    """Credentials were refused (fiskaly API key/secret, admin PIN)."""


class TseConflict(TseError):
    """The request conflicts with the TSE's state (finished transaction, revision clash)."""


class TseNotFound(TseError, LookupError):
    """The addressed transaction, client, TSS or export does not exist."""


class TseStateError(TseError):
    """The TSE is in the wrong lifecycle state (not initialised, disabled, client not registered)."""
