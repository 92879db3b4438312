"""Key design of returns (see docs/access-patterns.md)."""
from __future__ import annotations

from chalicelib.core.ids import derived_id, tagged

RETURN_SK = "RETURN"

return_pk = tagged("RETURN")
order_returns_partition = tagged("ORDERRETURNS")  # GSI1: an order's returns, oldest first
status_partition = tagged("RETURNSTATUS")  # GSI2: returns with one status, for staff


def return_id_for(order_id: str, idempotency_key: str) -> str:
    """The same order and key always name the same return: a retry finds the first request."""
    return derived_id("return", order_id, idempotency_key)
