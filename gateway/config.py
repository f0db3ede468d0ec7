"""TOML configuration: typed, bounded sections validated at start-up, with errors naming file, section and key.

Each component declares its section as a frozen dataclass with a ``SECTION`` name and defaults in
code; field metadata carries ``doc`` and optional ``min``/``max``/``choices``/``secret``. The
loader refuses unknown sections and keys, wrong types and out-of-range values, so a broken file
never starts a half-configured gateway. ``docs/configuration.md`` is generated from the same
metadata (``storegw config-doc``) and a test keeps it in sync.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from gateway.errors import ConfigError
from gateway.pos.money import VAT_RATES_BP

DEFAULT_CONFIG_PATH = Path("/etc/storegw/gateway.toml")

T = TypeVar("T")

_SECTIONS: dict[str, type[Any]] = {}


def opt(default: Any, doc: str, **meta: Any) -> Any:
    """A documented config option with a default and optional ``min``, ``max``, ``choices``."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc, **meta})
    return field(default=default, metadata={"doc": doc, **meta})


def section(cls: type[T]) -> type[T]:
    """Class decorator registering a config section dataclass under its ``SECTION`` name."""
    name = cls.SECTION  # type: ignore[attr-defined]
    _SECTIONS[name] = cls
    return cls


@section
@dataclass(frozen=True)
class StoreConfig:
    """Who this store is: identity used on receipts, MQTT topics and HQ subjects."""

    SECTION: ClassVar[str] = "store"
    id: str = opt("store-1", "Store id; used in MQTT topics (store/{id}/...) and NATS subjects. Letters, digits, '-' and '_'.", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = opt("Demo Store", "Business name printed on receipts.")
    address: str = opt("Musterstraße 1, 10115 Berlin", "Address printed on receipts.")
    vat_id: str = opt("DE123456789", "VAT identification number printed on receipts.")
    zone: str = opt("default", "Price/assortment zone; selects hq.zone.{zone}.> messages.", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    register_id: str = opt("till-1", "Id of the cash register (Kasse) in fiscal exports.", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    currency: str = opt("EUR", "ISO 4217 currency of the store.", choices=["EUR"])
    timezone: str = opt("Europe/Berlin", "IANA time zone for business days and receipts.")


@section
@dataclass(frozen=True)
class HttpConfig:
    """The HTTP/WebSocket API and status page listener."""

    SECTION: ClassVar[str] = "http"
    host: str = opt("127.0.0.1", "Address to listen on; 0.0.0.0 for the store LAN.")
    port: int = opt(8080, "TCP port of the API and status page.", min=1, max=65535)
    max_body_bytes: int = opt(1_048_576, "Largest accepted request body; larger bodies get 413.", min=1024, max=64 * 1024 * 1024)
    status_public: bool = opt(True, "Serve the status page and /api/v1/status without a token (no personal data, no secrets are shown).")


@section
@dataclass(frozen=True)
class LedgerConfig:
    """The local SQLite ledger."""

    SECTION: ClassVar[str] = "ledger"
    verify_interval_s: int = opt(3600, "Seconds between background hash-chain verifications (0 = off).", min=0, max=7 * 86400)
    busy_timeout_ms: int = opt(5000, "SQLite busy timeout for readers and the writer.", min=100, max=600_000)


@section
@dataclass(frozen=True)
class PosConfig:
    """Sales rules of the till."""

    SECTION: ClassVar[str] = "pos"
    max_line_qty: int = opt(9999, "Largest quantity of one line in pieces.", min=1, max=1_000_000)
    max_weight_g: int = opt(100_000, "Largest weight of one weighed line in grams.", min=1, max=10_000_000)
    max_amount_cents: int = opt(10_000_000, "Largest total or payment amount of one sale in cents.", min=100, max=10**12)
    manual_weight_allowed: bool = opt(False, "Accept weights typed by the cashier (otherwise only stable readings from a scale, legal-for-trade).")
    training: bool = opt(False, "Training mode: every receipt is marked as training and excluded from revenue.")
    reduced_vat_bp: int = opt(840, "Rate of DSFinV-K VAT id 3 (average rate §24(1) no. 3 UStG) in basis points.", min=0, max=10000)

    @functools.cached_property
    def vat_rates(self) -> dict[int, int]:
        """Basis points per DSFinV-K VAT id as this till charges them (id 3 from ``reduced_vat_bp``)."""
        return {**VAT_RATES_BP, 3: self.reduced_vat_bp}


@section
@dataclass(frozen=True)
class LogConfig:
    """Logging."""

    SECTION: ClassVar[str] = "log"
    level: str = opt("INFO", "Log level.", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    json: bool = opt(False, "Log one JSON object a line (for journald/forwarders).")


class Config:
    """The validated configuration: one dataclass instance per section."""

    def __init__(self, sections: dict[str, Any], source: str = "<defaults>") -> None:
        self._sections = sections
        self.source = source

    def get(self, cls: type[T]) -> T:
        """The section of dataclass ``cls`` (defaults when the file does not name it)."""
        name = cls.SECTION  # type: ignore[attr-defined]
        value = self._sections.get(name)
        if value is None:
            value = cls()
            self._sections[name] = value
        return typing.cast(T, value)

    def with_section(self, value: Any) -> Config:
        """A copy with one section replaced (used by the demo and tests)."""
        sections = dict(self._sections)
        sections[value.SECTION] = value
        return Config(sections, self.source)

    @property
    def store(self) -> StoreConfig:
        """The ``[store]`` section."""
        return self.get(StoreConfig)

    @property
    def http(self) -> HttpConfig:
        """The ``[http]`` section."""
        return self.get(HttpConfig)

    @property
    def pos(self) -> PosConfig:
        """The ``[pos]`` section."""
        return self.get(PosConfig)


def _check_value(file: str, sec: str, f: dataclasses.Field[Any], hint: Any, value: Any) -> Any:
    key = f.name
    meta = f.metadata

    def fail(msg: str) -> ConfigError:
        return ConfigError(file, sec, key, msg)

    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise fail(f"expected true or false, got {value!r}")
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"expected an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):  # TOML has nan and inf; no option means either
            raise fail(f"expected a finite number, got {value!r}")
    elif hint is str:
        if not isinstance(value, str):
            raise fail(f"expected a string, got {value!r}")
        pattern = meta.get("pattern")
        if pattern:
            import re

            if not re.fullmatch(pattern, value):
                raise fail(f"{value!r} does not match {pattern}")
    elif origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            raise fail(f"expected a list of {item.__name__}, got {value!r}")
    elif origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is not None and not any(isinstance(value, a) for a in args):
            raise fail(f"expected {' or '.join(a.__name__ for a in args)}, got {value!r}")
    elif origin is dict:
        if not isinstance(value, dict):
            raise fail(f"expected a table, got {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        raise fail(f"{value!r} is not one of {', '.join(map(str, meta['choices']))}")
    if "min" in meta and isinstance(value, int | float) and value < meta["min"]:
        raise fail(f"{value} is below the minimum {meta['min']}")
    if "max" in meta and isinstance(value, int | float) and value > meta["max"]:
        raise fail(f"{value} is above the maximum {meta['max']}")
    return value


def build_section(cls: type[T], raw: dict[str, Any], file: str = "<config>") -> T:
    """Validate one section table and build its dataclass; unknown keys are errors."""
    sec = cls.SECTION  # type: ignore[attr-defined]
    if not isinstance(raw, dict):
        raise ConfigError(file, sec, "", "must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in fields:
            raise ConfigError(file, sec, key, f"unknown option (known: {', '.join(sorted(fields))})")
    values = {k: _check_value(file, sec, fields[k], hints[k], v) for k, v in raw.items()}
    try:
        return cls(**values)
    except ConfigError as err:  # cross-field checks in the section's __post_init__
        raise ConfigError(file, sec, err.key, err.message) from None


def parse_config(data: dict[str, Any], file: str = "<config>") -> Config:
    """Validate a parsed TOML document against the registered sections."""
    sections: dict[str, Any] = {}
    for name, raw in data.items():
        cls = _SECTIONS.get(name)
        if cls is None:
            raise ConfigError(file, name, "", f"unknown section (known: {', '.join(sorted(_SECTIONS))})")
        sections[name] = build_section(cls, raw, file)
    return Config(sections, file)


def load_config(path: Path | str | None) -> Config:
    """Read and validate ``path``; ``None`` or a missing default path gives the embedded defaults."""
    if path is None:
        return Config({})
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), "-", "", "file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(str(p), "-", "", f"cannot read: {err}") from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(p), "-", "", f"invalid TOML: {err}") from err
    return parse_config(data, str(p))


def render_docs() -> str:
    """Markdown reference of every registered option (``docs/configuration.md``)."""
    out = [
        "# Configuration reference",
        "",
        "The gateway reads one TOML file (default `/etc/storegw/gateway.toml`, option `--config`).",
        "Every section and option is optional; the defaults below apply. Unknown sections or keys,",
        "wrong types and out-of-range values stop the gateway at start-up with an error naming the",
        "file, section and key. `storegw check-config FILE` runs the same validation.",
        "",
        "Secrets (passwords, API keys) are never written in this file: options ending in `_file`",
        "name a file that holds the secret.",
        "",
        "This page is generated by `storegw config-doc` from the code.",
        "",
    ]
    for name in sorted(_SECTIONS):
        cls = _SECTIONS[name]
        out += [f"## [{name}]", "", (cls.__doc__ or "").strip(), "", "| option | type | default | meaning |", "|---|---|---|---|"]
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
            tname = getattr(hints[f.name], "__name__", str(hints[f.name]))
            bounds = []
            if "min" in f.metadata:
                bounds.append(f"min {f.metadata['min']}")
            if "max" in f.metadata:
                bounds.append(f"max {f.metadata['max']}")
            if "choices" in f.metadata:
                bounds.append("one of " + ", ".join(f"`{c}`" for c in f.metadata["choices"]))
            doc = f.metadata.get("doc", "")
            if bounds:
                doc += " (" + "; ".join(bounds) + ")"
            out.append(f"| `{f.name}` | {tname} | `{_toml_value(default)}` | {doc} |")
        out.append("")
    return "\n".join(out)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    return str(v)
