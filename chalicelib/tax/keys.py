"""Key design of tax rates (see docs/access-patterns.md): one item per zone, a rate per tax class in it, so
that a basket's destination (its region and its country) is read by key with its products."""
from __future__ import annotations

from chalicelib.core.ids import tagged

zone_pk = tagged("TAXZONE")
RATES_SK = "RATES"
ALL_ZONES = "TAXZONES"  # GSI2 partition: every zone holding rates, by zone


def zone_key(zone: str) -> tuple[str, str]:
    return zone_pk(zone), RATES_SK


def rate_attribute(tax_class: str) -> str:
    """The attribute of a zone's item holding its rate for `tax_class`."""
    return f"rate#{tax_class}"


def class_of(attribute: str) -> str | None:
    """The tax class a zone item's attribute holds the rate of (None: not a rate)."""
    return attribute.removeprefix("rate#") if attribute.startswith("rate#") else None


def listing_keys(zone: str) -> dict[str, str]:
    return {"GSI2PK": ALL_ZONES, "GSI2SK": zone}
