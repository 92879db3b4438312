"""Key design of checkouts and orders (see docs/access-patterns.md); payments' keys are in payments/keys.py."""
from __future__ import annotations

import uuid

ORDER_SK = "ORDER"
CHECKOUT_SK = "CHECKOUT"  # also, in an order's partition, the pointer to the checkout it comes from
CHECKOUT_POINTER_DAYS = 30  # the queue has long delivered the checkout by then (TTL takes the pointer)
PAYMENT_DUE = "PAYMENTDUE"
REFUND_DUE = "REFUNDDUE"  # GSI3: orders flagged refundDue, by when they were flagged
ALLOWANCE_SK = "UNPAID"
# Every id the shop derives (checkouts, orders, returns, refunds, events) comes from this one namespace; ids
# derived from different sources still never meet: each derivation starts with its own tag, and a caller's
# text (an Idempotency-Key) only ever comes last, so no key can spell another source's id.
ID_NAMESPACE = uuid.UUID("5b0d7c1e-3f7e-4a55-9a43-6f1f0c6f9e21")


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def checkout_pk(checkout_id: str) -> str:
    return f"CHECKOUT#{checkout_id}"


def checkout_pointer_key(order_id: str) -> tuple[str, str]:
    """The checkout an order is to come from, in the order's partition: a payment that arrives before the
    queue made the order finds the checkout from the order id (the order id cannot be turned back)."""
    return order_pk(order_id), CHECKOUT_SK


def allowance_pk(user_id: str) -> str:
    """What a customer holds unpaid (orders awaiting payment, units they reserve): one item per customer."""
    return f"UNPAID#{user_id}"


def user_orders_partition(user_id: str) -> str:
    return f"USERORDERS#{user_id}"


def user_checkouts_partition(user_id: str) -> str:
    """GSI1 of checkout records: every checkout of a customer, its order made yet or not (erasure finds them)."""
    return f"USERCHECKOUTS#{user_id}"


def status_partition(status: str) -> str:
    return f"ORDERSTATUS#{status}"


def checkout_id_for(user_id: str, idempotency_key: str) -> str:
    """The same user and key always name the same checkout: retries find the first attempt."""
    return uuid.uuid5(ID_NAMESPACE, f"checkout:{user_id}:{idempotency_key}").hex


def order_id_for(checkout_id: str) -> str:
    """The order of a checkout has a fixed id, so a redelivered message cannot make a second one."""
    return uuid.uuid5(ID_NAMESPACE, f"order:{checkout_id}").hex


def return_id_for(order_id: str, idempotency_key: str) -> str:
    """The same order and key always name the same return: a retry finds the first request."""
    return uuid.uuid5(ID_NAMESPACE, f"return:{order_id}:{idempotency_key}").hex


def restocked_attribute(line_key: str) -> str:
    """The order's counter of a line's units put back on the shelf (a refund's restock, a received return)."""
    return f"restocked#{line_key}"


def returning_attribute(line_key: str) -> str:
    """The order's counter of a line's units in returns requested or received (not rejected)."""
    return f"returning#{line_key}"


def event_id_for(kind: str, subject_id: str) -> str:
    """Deterministic event ids let consumers drop an event published twice."""
    return uuid.uuid5(ID_NAMESPACE, f"event:{kind}:{subject_id}").hex


def index_keys(user_id: str | None, status: str, created_at: str, order_id: str,
               payment_due_at: str | None) -> dict[str, str | None]:
    sort_key = f"{created_at}#{order_id}"
    keys: dict[str, str | None] = {"GSI2PK": status_partition(status), "GSI2SK": sort_key}
    if user_id:
        keys.update(GSI1PK=user_orders_partition(user_id), GSI1SK=sort_key)
    # Only orders awaiting payment sit in the deadline index the sweeper reads.
    if status == "PENDING" and payment_due_at:
        keys.update(GSI3PK=PAYMENT_DUE, GSI3SK=f"{payment_due_at}#{order_id}")
    return keys
