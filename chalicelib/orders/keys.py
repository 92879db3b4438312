"""Key design of checkouts and orders (see docs/access-patterns.md); payments' keys are in payments/keys.py."""
from __future__ import annotations

from chalicelib.core.ids import derived_id, tagged
from chalicelib.core.shards import sharded

ORDER_SK = "ORDER"
CHECKOUT_SK = "CHECKOUT"  # also, in an order's partition, the pointer to the checkout it comes from
CHECKOUT_POINTER_DAYS = 30  # the queue has long delivered the checkout by then (TTL takes the pointer)
PAYMENT_DUE = "PAYMENTDUE"
REFUND_DUE = "REFUNDDUE"  # GSI3: orders flagged refundDue, by when they were flagged
# Shards of the index partitions every order shares and the order path writes (chalicelib/core/shards.py): an
# order enters and leaves its status's partition and the payment deadlines' once each, a unit per KB of the order
# each way (about 4 an order, `make capacity`), so at 10,000 orders a second each takes 40,000 index writes a
# second; 64 shards of 1,000 leave room. Orders owing a refund are few.
STATUS_SHARDS = 64
PAYMENT_DUE_SHARDS = 64
REFUND_DUE_SHARDS = 4
ALLOWANCE_SK = "UNPAID"

order_pk = tagged("ORDER")
checkout_pk = tagged("CHECKOUT")
allowance_pk = tagged("UNPAID")  # what a customer holds unpaid (orders awaiting payment, their units): one item each
user_orders_partition = tagged("USERORDERS")  # GSI1 of orders: a customer's, newest first
# GSI1 of checkout records: every checkout of a customer, its order made yet or not (erasure finds them)
user_checkouts_partition = tagged("USERCHECKOUTS")
status_partition = tagged("ORDERSTATUS")  # GSI2 of orders: one status's, for staff (sharded: status_shard)
restocked_attribute = tagged("restocked")  # an order's count of a line's units back on the shelf (refund, return)
returning_attribute = tagged("returning")  # an order's count of a line's units in returns not rejected
shipped_attribute = tagged("shipped")  # an order's count of a line's units handed to carriers


def checkout_pointer_key(order_id: str) -> tuple[str, str]:
    """The checkout an order is to come from, in the order's partition: a payment that arrives before the
    queue made the order finds the checkout from the order id (the order id cannot be turned back)."""
    return order_pk(order_id), CHECKOUT_SK


def checkout_id_for(user_id: str, idempotency_key: str) -> str:
    """The same user and key always name the same checkout: retries find the first attempt."""
    return derived_id("checkout", user_id, idempotency_key)


def order_id_for(checkout_id: str) -> str:
    """The order of a checkout has a fixed id, so a redelivered message cannot make a second one."""
    return derived_id("order", checkout_id)


def shipment_id_for(order_id: str, idempotency_key: str) -> str:
    """The same order and request key always name the same shipment: a retry finds the first attempt."""
    return derived_id("shipment", order_id, idempotency_key)


def event_id_for(kind: str, subject_id: str) -> str:
    """Deterministic event ids let consumers drop an event published twice."""
    return derived_id("event", kind, subject_id)


def status_shard(status: str, order_id: str) -> str:
    """The GSI2 partition of an order in `status`: its status's, in the order's shard."""
    return sharded(status_partition(status), order_id, STATUS_SHARDS)


def payment_due_shard(order_id: str) -> str:
    return sharded(PAYMENT_DUE, order_id, PAYMENT_DUE_SHARDS)


def refund_due_shard(order_id: str) -> str:
    return sharded(REFUND_DUE, order_id, REFUND_DUE_SHARDS)


def index_keys(user_id: str | None, status: str, created_at: str, order_id: str,
               payment_due_at: str | None) -> dict[str, str | None]:
    sort_key = f"{created_at}#{order_id}"
    keys: dict[str, str | None] = {"GSI2PK": status_shard(status, order_id), "GSI2SK": sort_key}
    if user_id:
        keys.update(GSI1PK=user_orders_partition(user_id), GSI1SK=sort_key)
    # Only orders awaiting payment sit in the deadline index the sweeper reads.
    if status == "PENDING" and payment_due_at:
        keys.update(GSI3PK=payment_due_shard(order_id), GSI3SK=f"{payment_due_at}#{order_id}")
    return keys
