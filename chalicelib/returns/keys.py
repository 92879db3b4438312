"""Key design of returns (see docs/access-patterns.md)."""
from __future__ import annotations

RETURN_SK = "RETURN"


def return_pk(return_id: str) -> str:
    return f"RETURN#{return_id}"


def order_returns_partition(order_id: str) -> str:
    """GSI1: an order's returns, oldest first."""
    return f"ORDERRETURNS#{order_id}"


def status_partition(status: str) -> str:
    """GSI2: returns with one status, for staff."""
    return f"RETURNSTATUS#{status}"
