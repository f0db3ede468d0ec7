"""Money, VAT and time formatting shared by the fiscal modules (integer cents in, text out)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.errors import ValidationFailed
from gateway.pos.money import split_gross


class FiscalDataError(ValidationFailed):
    """Fiscal input that cannot be turned into a valid processData, receipt or export."""

    type, title = "fiscal-data-invalid", "Invalid fiscal data"


def _split(cents: int) -> tuple[str, int, int]:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return sign, whole, frac


def dot_amount(cents: int) -> str:
    """``1234`` -> ``"12.34"``: processData and QR amounts (dot, 2 decimals, no grouping)."""
    sign, whole, frac = _split(cents)
    return f"{sign}{whole}.{frac:02d}"


def comma_amount(cents: int, places: int = 2) -> str:
    """``1234`` -> ``"12,34"`` (or ``"12,34000"`` for 5 places): DSFinV-K and DATEV numbers."""
    if places < 2:
        raise ValueError("cents need at least 2 decimal places")
    sign, whole, frac = _split(cents)
    return f"{sign}{whole},{frac:02d}{'0' * (places - 2)}"


def thousandths(value: int) -> str:
    """``1500`` (thousandths) -> ``"1,500"``: DSFinV-K MENGE/FAKTOR with 3 decimals."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 1000)
    return f"{sign}{whole},{frac:03d}"





def vat_split(gross: int, rate_bp: int) -> tuple[int, int]:
    """Split a gross amount in cents at ``rate_bp`` basis points (1900 = 19 %) into (net, vat): the till's rule."""
    return split_gross(gross, rate_bp)


def qr_time(moment: datetime) -> str:
    """UTC ``YYYY-MM-DDThh:mm:ss.fffZ`` as the QR code and TSE_TA_START/ENDE require (fact sheet §1.5)."""
    if moment.tzinfo is None:
        raise FiscalDataError("TSE times must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def local_iso(moment: datetime) -> str:
    """RFC 3339 date-time with offset and seconds, e.g. ``2026-12-04T21:00:00+01:00``."""
    if moment.tzinfo is None:
        raise FiscalDataError("times in fiscal records must be timezone-aware")
    return moment.isoformat(timespec="seconds")
