"""Key design of shipping methods (see docs/access-patterns.md): one item per method, listed through GSI2."""
from __future__ import annotations

from chalicelib.core.ids import tagged

method_pk = tagged("SHIPPINGMETHOD")
METHOD_SK = "METHOD"
ALL_METHODS = "SHIPPINGMETHODS"  # GSI2 partition: every method, oldest first


def method_key(method_id: str) -> tuple[str, str]:
    return method_pk(method_id), METHOD_SK


def listing_keys(method_id: str, created_at: str) -> dict[str, str]:
    return {"GSI2PK": ALL_METHODS, "GSI2SK": f"{created_at}#{method_id}"}
