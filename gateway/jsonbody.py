"""Client JSON bodies (HTTP requests, MQTT command payloads) parsed into a dict or refused clearly."""

from __future__ import annotations

import json
from typing import Any

from gateway.errors import BadRequest


def json_object(raw: bytes | str, what: str = "request body") -> dict[str, Any]:
    """``raw`` as a JSON object; BadRequest for malformed JSON, other JSON types and text that is not
    valid Unicode (a lone surrogate such as ``"\\ud800"`` parses, but could never be stored)."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequest(f"{what} is not valid JSON: {err}") from None
    except RecursionError:
        raise BadRequest(f"{what} is not valid JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise BadRequest(f"{what} must be a JSON object")
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} holds text that is not valid Unicode (a lone surrogate escape)") from None
    return doc
