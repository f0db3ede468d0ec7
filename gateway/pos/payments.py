"""Payment-method registry: cash is built in; card terminals and vouchers plug in here.

A method charges or refunds an amount in cents and returns the details to record on the receipt
(terminal receipt number, trace, card name). ``ref`` is a stable reference of the sale attempt
(the idempotency key or cart id) so a method can recover an interrupted payment after a crash.
"""

from __future__ import annotations

from typing import Any, Protocol

from gateway.errors import BadRequest


class PaymentMethod(Protocol):
    """One way to pay."""

    name: str
    is_cash: bool
    dsfinvk_type: str

    async def charge(self, amount: int, ref: str) -> dict[str, Any]:
        """Take ``amount`` cents; raise a GatewayError when declined or unavailable."""

    async def refund(self, amount: int, ref: str, original: dict[str, Any] | None) -> dict[str, Any]:
        """Give back ``amount`` cents (positive); ``original`` is the recorded payment being refunded."""


class CashMethod:
    """Cash in the drawer: always available, change given by the sale."""

    name = "cash"
    is_cash = True
    dsfinvk_type = "Bar"

    async def charge(self, amount: int, ref: str) -> dict[str, Any]:
        """Nothing to do: the cashier takes the money."""
        return {}

    async def refund(self, amount: int, ref: str, original: dict[str, Any] | None) -> dict[str, Any]:
        """Nothing to do: the cashier pays out."""
        return {}


class PaymentRegistry:
    """Known payment methods by name."""

    def __init__(self) -> None:
        self._methods: dict[str, PaymentMethod] = {}
        self.register(CashMethod())

    def register(self, method: PaymentMethod) -> None:
        """Add or replace a method."""
        self._methods[method.name] = method

    def get(self, name: str) -> PaymentMethod:
        """A method by name; BadRequest for an unknown one."""
        m = self._methods.get(name)
        if m is None:
            raise BadRequest(f"unknown payment method {name!r} (known: {', '.join(sorted(self._methods))})", field="method")
        return m

    @property
    def cash_names(self) -> set[str]:
        """Names of cash methods (change is only given from these)."""
        return {n for n, m in self._methods.items() if m.is_cash}

    def names(self) -> list[str]:
        """All method names."""
        return sorted(self._methods)
