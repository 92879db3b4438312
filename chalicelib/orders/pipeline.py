"""The orders queue consumer: CheckoutRequested messages in, orders and OrderCreated events out."""
from __future__ import annotations

from typing import Any, Iterable

from chalicelib.core import metrics
from chalicelib.core.events import PublishError, publish
from chalicelib.core.logs import get_logger
from chalicelib.core.messages import batch_response, consume
from chalicelib.orders.service import OrderService, order_service


def create_orders(records: Iterable[dict[str, Any]], orders: OrderService | None = None) -> dict[str, list]:
    """Handle one SQS batch. Returns the partial-batch response naming only the failed messages.

    A duplicate delivery (same checkout) finds its order already there and counts as done;
    OrderCreated goes out for it again with the same event id, which consumers drop.
    """
    orders = orders or order_service()
    log = get_logger("orders.pipeline")

    def create(event):
        order, created, announcement = orders.create_from_checkout(event)
        log.info("order created" if created else "duplicate checkout delivery suppressed",
                 extra={"orderId": order.id, "checkoutId": order.checkout_id, "duplicate": not created})
        metrics.count("OrdersCreated" if created else "DuplicatesSuppressed")
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
