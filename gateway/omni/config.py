"""The ``[omni]`` config section: availability buffers, deadlines and the offline rules of the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import opt, section


@section
@dataclass(frozen=True)
class OmniConfig:
    """Omnichannel rules: what the store may do alone while HQ is unreachable, and how often it reports."""

    SECTION: ClassVar[str] = "omni"
    enabled: bool = opt(True, "Run the omnichannel services (stock, orders, reservations, vouchers, loyalty, customers).")
    online_buffer_milli: int = opt(0, "Default safety buffer of the online channel per product in thousandths (product and group buffers override it).", min=0, max=10**9)
    till_stock_check: str = opt("enforce", "At the till, refuse a sale of a stock-tracked product whose unreserved stock would go below zero ('enforce') or only log it ('warn').", choices=["enforce", "warn"])
    atp_snapshot_interval_s: int = opt(900, "Seconds between full available-to-promise snapshots journaled for HQ (0 = off).", min=0, max=86400)
    expiry_check_interval_s: int = opt(30, "Seconds between checks for expired reservations and uncollected orders.", min=1, max=3600)
    pickup_grace_s: int = opt(0, "Seconds after an order's pickup deadline before its goods return to stock.", min=0, max=30 * 86400)
    default_pickup_days: int = opt(7, "Pickup deadline in days when HQ sends none.", min=1, max=90)
    voucher_offline_limit_cents: int = opt(5000, "Largest amount one voucher may lose at this store while HQ is unreachable (sum of unconfirmed redemptions).", min=0, max=10**8)
    loyalty_offline_redeem_points: int = opt(500, "Largest number of points one customer may redeem at this store while HQ is unreachable (sum of unconfirmed redemptions).", min=0, max=10**9)
    loyalty_points_per_euro: int = opt(1, "Points earned per full euro of a sale's total.", min=0, max=1000)
    loyalty_point_value_cents: int = opt(1, "Value of one point in cents when redeemed.", min=0, max=10000)
    online_returns_offline: str = opt("local", "Returns of online orders while HQ is unreachable: 'refuse', 'local' (only orders known at this store, e.g. collected here) or 'voucher' (any order, refunded to a voucher only).", choices=["refuse", "local", "voucher"])
    hq_timeout_s: float = opt(3.0, "Seconds to wait for an HQ reply before treating HQ as unreachable.", min=0.1, max=60)
