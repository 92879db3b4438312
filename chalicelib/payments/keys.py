"""Key design of the payment ledger and of refunds (see docs/access-patterns.md)."""
from __future__ import annotations

from chalicelib.core.ids import derived_id, tagged
from chalicelib.orders.keys import order_pk

REFUND_SK_PREFIX = "REFUND#"  # a refund lives in its order's partition


payment_event_pk = tagged("PAYMENTEVENT")


def refund_sk(refund_id: str) -> str:
    return f"{REFUND_SK_PREFIX}{refund_id}"


def refund_key(order_id: str, refund_id: str) -> tuple[str, str]:
    return order_pk(order_id), refund_sk(refund_id)


def refund_id_for(order_id: str, idempotency_key: str) -> str:
    """The same order and key always name the same refund: a retry finds the first request."""
    return derived_id("refund", order_id, idempotency_key)


def return_refund_id_for(return_id: str) -> str:
    """The refund a received return asks for: one per return, in a namespace no staff refund key reaches."""
    return derived_id("return-refund", return_id)
