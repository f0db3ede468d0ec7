"""Errors of the HQ link; all derive from :class:`MirrorError`."""

from __future__ import annotations

from gateway.errors import GatewayError


class MirrorError(GatewayError):
    """Root of the HQ link's errors."""

    type, status, title = "hq-error", 502, "HQ link error"


class SchemaError(MirrorError, ValueError):
    """An HQ message does not match the schema of its type and version."""

    type, status, title = "hq-schema", 400, "HQ message does not match its schema"

    def __init__(self, detail: str, path: str = "") -> None:
        super().__init__(f"{path}: {detail}" if path else detail, path=path)
        self.path = path


class UnknownMessageType(SchemaError):
    """An HQ message names a type or version this gateway does not know."""

    type = "hq-unknown-type"
