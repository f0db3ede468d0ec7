"""Builds the configured TSE backend from the ``[tse]`` settings; refuses uncertified TSEs in production.

Secrets (fiskaly API key/secret, admin PIN) are read from files named in the configuration,
never taken inline. Errors are :class:`gateway.errors.ConfigError` naming file, section and key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drivers.tse import Tse
from drivers.tse.fiskaly import FiskalyConfig, FiskalyTse
from drivers.tse.software import SoftwareTse
from gateway.errors import ConfigError

SECTION = "tse"
MODES = ("production", "demo")
TYPES = ("software", "fiskaly")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9 '()+,\-.:=?]{1,70}$")


def _get(settings: Mapping[str, Any], key: str, file: str, default: Any = None) -> Any:
    value = settings.get(key, default)
    if value is None:
        raise ConfigError(file, SECTION, key, "is required")
    return value


def _secret(settings: Mapping[str, Any], key: str, file: str, required: bool = True) -> str:
    if key.removesuffix("_file") in settings:
        raise ConfigError(file, SECTION, key.removesuffix("_file"), f"secrets are not allowed inline; use {key}")
    path = settings.get(key)
    if path is None:
        if required:
            raise ConfigError(file, SECTION, key, "is required (path to a file holding the secret)")
        return ""
    try:
        value = Path(str(path)).read_text("utf-8").strip()
    except OSError as err:
        raise ConfigError(file, SECTION, key, f"cannot read {path}: {err.strerror}") from err
    if not value:
        raise ConfigError(file, SECTION, key, f"{path} is empty")
    return value


def open_tse(settings: Mapping[str, Any], config_file: str = "storegw.toml") -> Tse:
    """The TSE described by the ``[tse]`` section (see docs/tse.md).

    Raises :class:`ConfigError` for missing or invalid keys, unreadable secret files, and for an
    uncertified TSE (the software TSE) when ``mode = "production"``.
    """
    mode = _get(settings, "mode", config_file, "production")
    if mode not in MODES:
        raise ConfigError(config_file, SECTION, "mode", f"must be one of {', '.join(MODES)}")
    kind = _get(settings, "type", config_file)
    if kind not in TYPES:
        raise ConfigError(config_file, SECTION, "type", f"must be one of {', '.join(TYPES)}")
    client_id = str(_get(settings, "client_id", config_file))
    if not _CLIENT_ID.match(client_id):
        raise ConfigError(config_file, SECTION, "client_id", "1-70 characters, no '_' or '/'")
    tse: Tse
    if kind == "software":
        if mode == "production":
            raise ConfigError(config_file, SECTION, "type", "the software TSE is not certified; not allowed in production")
        tse = SoftwareTse(str(_get(settings, "state_dir", config_file)))
    else:
        cfg = FiskalyConfig(
            api_key=_secret(settings, "api_key_file", config_file),
            api_secret=_secret(settings, "api_secret_file", config_file),
            tss_id=str(_get(settings, "tss_id", config_file)),
            client_uuids={client_id: str(_get(settings, "client_uuid", config_file))},
            base_url=str(settings.get("base_url", FiskalyConfig.base_url)),
            admin_pin=_secret(settings, "admin_pin_file", config_file, required=False),
            timeout=float(settings.get("request_timeout", FiskalyConfig.timeout)),
            attempts=int(settings.get("attempts", FiskalyConfig.attempts)),
        )
        tse = FiskalyTse(cfg)
    if mode == "production" and not tse.certified:
        raise ConfigError(config_file, SECTION, "type", "an uncertified TSE is not allowed in production")
    return tse
