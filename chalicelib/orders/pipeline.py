"""The orders queue consumer: CheckoutRequested messages in, orders and OrderCreated events out."""
from __future__ import annotations

from typing import Any, Iterable

from chalicelib.core import metrics
from chalicelib.core.events import InvalidEvent, PublishError, publish
from chalicelib.core.logs import get_logger
from chalicelib.core.messages import PoisonMessage, batch_response, consume, envelope_of
from chalicelib.orders.models import StoredOrder
from chalicelib.orders.service import OrderService


def create_orders(records: Iterable[dict[str, Any]], orders: OrderService) -> dict[str, list]:
    """Handle one SQS batch. Returns the partial-batch response naming only the failed messages.

    A duplicate delivery (same checkout) finds its order already there and counts as done;
    OrderCreated goes out for it again with the same event id, which consumers drop.
    """
    records = list(records)
    addresses = orders.shipping_addresses_of(_checkout_ids(records))  # one read for the batch

    def create(event):
        order, created, announcement = orders.create_from_checkout(event, addresses)
        _counted(order, created)
        return announcement

    failures, announcements = consume(records, create, "orders.pipeline")
    if announcements:
        try:
            publish(announcements.values())  # one PutEvents call for a batch of ten
        except PublishError as exc:
            # Retrying these messages re-finds their orders and republishes the events.
            unsent = {event.id for event in exc.failed}
            failures += [mid for mid, event in announcements.items() if event.id in unsent]
    return batch_response(failures)


def create_ahead_of_the_queue(order_id: str, orders: OrderService) -> StoredOrder | None:
    """The order of a checkout whose CheckoutRequested the queue has not delivered yet, created now as the
    queue would (a payment arrived first); None when no checkout names it. Whichever of this and the
    queue comes first creates the order, the other finds it; OrderCreated has the same id either way.
    Made here, the order's write keeps its OrderCreated in the outbox: published after the commit, or by
    the sweeper if the bus refuses it now (the queue's later delivery announces it again, the same event)."""
    found = orders.checkout_in_flight(order_id)
    if found is None:
        return None
    order, created, _announcement = orders.create_from_checkout(*found, kept=True)
    _counted(order, created)
    return order


def _counted(order: StoredOrder, created: bool) -> None:
    get_logger("orders.pipeline").info(
        "order created" if created else "duplicate checkout delivery suppressed",
        extra={"orderId": order.id, "checkoutId": order.checkout_id, "duplicate": not created})
    metrics.count("OrdersCreated" if created else "DuplicatesSuppressed")


def _checkout_ids(records: list[dict[str, Any]]) -> list[str]:
    """The checkouts a batch names; a message that does not parse is left to `consume` to refuse."""
    ids = []
    for record in records:
        try:
            event = envelope_of(record["body"])
            if event.type == "CheckoutRequested":
                ids.append(event.parsed().checkout_id)
        except (PoisonMessage, InvalidEvent, KeyError, AttributeError):
            pass  # consume refuses it and says why
    return ids
