"""Command registry of the MQTT interface: (target, action) -> validated, role-checked handler.

Targets are ``"gateway"`` for ``gateway/cmd/{action}`` and a device id for
``gateway/device/{dev}/cmd/{action}``; a handler registered for target ``"*"`` serves every
device that has no handler of its own (the device manager uses this and raises
:class:`~gateway.errors.NotFound` for unknown devices).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import Forbidden, GatewayError, NotFound, ValidationFailed

GATEWAY_TARGET = "gateway"
ANY_DEVICE = "*"


class UnknownCommand(NotFound):
    """No handler for this device/action pair."""

    type, title = "unknown-command", "Unknown command"


@dataclass
class CommandContext:
    """What a handler learns about the request besides its arguments."""

    client_id: str
    role: str
    target: str
    action: str
    request_id: str
    progress: Callable[[dict[str, Any]], Awaitable[None]]
    """Send a ``progress`` reply to the requester (e.g. terminal status lines)."""


Handler = Callable[[dict[str, Any], CommandContext], Awaitable[dict[str, Any]]]

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "object": (dict,),
    "list": (list,),
    "number": (int, float),
}


@dataclass(frozen=True)
class Param:
    """One argument of a command. ``kind`` is str, int, bool, number, object or list.

    Bounds: ``min``/``max`` for numbers, ``max_len`` for strings and lists, ``choices`` for
    enumerations. Money arguments are ``int`` cents.
    """

    name: str
    kind: str = "str"
    required: bool = True
    min: int | None = None
    max: int | None = None
    max_len: int | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _TYPES:
            raise ValueError(f"unknown param kind {self.kind!r}")

    def check(self, value: Any) -> str | None:  # Any: a JSON value of any type
        """A message describing what is wrong with ``value``, or None when it is valid."""
        # bool is an int subclass in Python; JSON true must not pass as the number 1.
        if not isinstance(value, _TYPES[self.kind]) or (self.kind != "bool" and isinstance(value, bool)):
            return f"must be of type {self.kind}"
        value = self._typed(value)
        if self.min is not None and value < self.min:
            return f"must be >= {self.min}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max}"
        if self.max_len is not None and len(value) > self.max_len:
            return f"must have at most {self.max_len} items/characters"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {list(self.choices)}"
        return None

    @staticmethod
    def _typed(value: Any) -> Any:
        """The value once its JSON type is checked (keeps the comparisons below untyped)."""
        return value


def validate(params: Iterable[Param], args: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Check ``args`` against ``params``; raise :class:`ValidationFailed` listing every bad field.

    With ``strict`` an argument that no param declares is an error too.
    """
    fields: dict[str, str] = {}
    known = {p.name: p for p in params}
    for p in known.values():
        if p.name not in args:
            if p.required:
                fields[p.name] = "is required"
            continue
        problem = p.check(args[p.name])
        if problem:
            fields[p.name] = problem
    if strict:
        for name in args:
            if name not in known:
                fields[name] = "is not an argument of this command"
    if fields:
        detail = "; ".join(f"{k} {v}" for k, v in sorted(fields.items()))
        raise ValidationFailed(f"invalid arguments: {detail}", fields=fields)
    return dict(args)


@dataclass(frozen=True)
class Command:
    """A registered command: handler plus what the edge needs to call it safely."""

    target: str
    action: str
    handler: Handler
    params: tuple[Param, ...] = ()
    roles: frozenset[str] | None = None
    persist: bool = False
    long_running: bool = False
    description: str = ""
    # The handler is idempotent by itself (the ledger stores its result with the effect, keyed by
    # the request id), so an attempt interrupted by a crash is simply run again.
    self_idempotent: bool = False

    def describe(self) -> dict[str, Any]:
        """JSON description of the command (for device ``info`` and docs)."""
        return {
            "action": self.action,
            "description": self.description,
            "roles": sorted(self.roles) if self.roles is not None else None,
            "long_running": self.long_running,
            "params": [
                {k: v for k, v in p.__dict__.items() if v is not None and v != ""} for p in self.params
            ],
        }


@dataclass
class CommandRegistry:
    """All commands the MQTT edge accepts."""

    _commands: dict[tuple[str, str], Command] = field(default_factory=dict)

    def register(
        self,
        target: str,
        action: str,
        handler: Handler,
        *,
        params: Iterable[Param] = (),
        roles: Collection[str] | None = None,
        persist: bool = False,
        long_running: bool = False,
        description: str = "",
        self_idempotent: bool = False,
    ) -> Command:
        """Add a command; replaces an earlier one for the same (target, action).

        ``roles``: roles allowed to call it (None = every client role). ``persist``: remember
        outcomes in the durable idempotency store (money, print, drawer). ``long_running``: the
        requester gets an ``accepted`` reply before the handler runs. ``self_idempotent``: the
        handler makes retries safe itself (ledger idempotency), so an interrupted attempt is rerun.
        """
        cmd = Command(
            target,
            action,
            handler,
            tuple(params),
            frozenset(roles) if roles is not None else None,
            persist,
            long_running,
            description,
            self_idempotent,
        )
        self._commands[(target, action)] = cmd
        return cmd

    def unregister(self, target: str, action: str) -> None:
        """Remove a command (no error if absent)."""
        self._commands.pop((target, action), None)

    def lookup(self, target: str, action: str) -> Command:
        """The command for (target, action); device targets fall back to ``"*"``."""
        cmd = self._commands.get((target, action))
        if cmd is None and target != GATEWAY_TARGET:
            cmd = self._commands.get((ANY_DEVICE, action))
        if cmd is None:
            where = "gateway" if target == GATEWAY_TARGET else f"device {target!r}"
            raise UnknownCommand(f"{where} has no command {action!r}", target=target, action=action)
        return cmd

    def authorize(self, cmd: Command, role: str | None) -> None:
        """Raise :class:`Forbidden` when ``role`` may not call ``cmd``."""
        if role is None:
            raise Forbidden("unknown client")
        if cmd.roles is not None and role not in cmd.roles:
            raise Forbidden(f"role {role!r} may not call {cmd.action!r}", role=role)

    def for_target(self, target: str) -> list[Command]:
        """Commands registered for exactly this target, sorted by action."""
        return sorted((c for (t, _), c in self._commands.items() if t == target), key=lambda c: c.action)

    def __len__(self) -> int:
        return len(self._commands)


def error_body(err: BaseException) -> dict[str, Any]:
    """The ``error`` object of a reply: stable ``code``, human ``detail``, extra fields."""
    if isinstance(err, GatewayError):
        body: dict[str, Any] = {"code": err.type, "detail": err.detail}
        body.update({k: v for k, v in err.extra.items() if k not in body})
        return body
    return {"code": "internal-error", "detail": "the command failed unexpectedly"}
