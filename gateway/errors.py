"""The gateway's exception root; every error carries a stable ``type`` slug and an HTTP status.

The HTTP edge turns these into RFC 9457 ``application/problem+json`` documents, the MQTT edge
into error replies with the same ``type`` as code.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Root of all errors the gateway reports to a client or operator."""

    type: str = "internal-error"
    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        doc: dict[str, Any] = {
            "type": f"https://storegw.org/problems/{self.type}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.type,
        }
        doc.update(self.extra)
        return doc


class BadRequest(GatewayError, ValueError):
    """The request is malformed or its values are out of range."""

    type, status, title = "bad-request", 400, "Bad request"


class ValidationFailed(BadRequest):
    """A field of the request has the wrong type or value."""

    type, title = "validation-failed", "Validation failed"


class Unauthorized(GatewayError):
    """No or an unknown credential."""

    type, status, title = "unauthorized", 401, "Unauthorized"


class Forbidden(GatewayError, PermissionError):
    """The credential is valid but its role may not do this."""

    type, status, title = "forbidden", 403, "Forbidden"


class NotFound(GatewayError, LookupError):
    """The addressed object does not exist."""

    type, status, title = "not-found", 404, "Not found"


class Conflict(GatewayError):
    """The request conflicts with the current state (e.g. a finished cart, a reused key)."""

    type, status, title = "conflict", 409, "Conflict"


class PayloadTooLarge(GatewayError):
    """The request body exceeds the configured limit."""

    type, status, title = "payload-too-large", 413, "Payload too large"


class Unavailable(GatewayError):
    """A dependency (device, TSE, HQ) is not available right now; retrying later may succeed."""

    type, status, title = "unavailable", 503, "Service unavailable"


class ConfigError(GatewayError):
    """The configuration is invalid; names the file, section and key."""

    type, status, title = "config-error", 500, "Configuration error"

    def __init__(self, file: str, section: str, key: str, message: str) -> None:
        where = f"{file}: [{section}]" + (f" {key}" if key else "")
        super().__init__(f"{where}: {message}", file=file, section=section, key=key)
        self.file, self.section, self.key, self.message = file, section, key, message
