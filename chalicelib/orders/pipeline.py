"""The orders queue consumer: CheckoutRequested messages in, orders and OrderCreated events out."""
from __future__ import annotations

from typing import Any, Iterable

from chalicelib.core.events import PublishError, publish
from chalicelib.core.logs import correlation_id_var, get_logger
from chalicelib.core.messages import PoisonMessage, envelope_of
from chalicelib.orders.service import InvalidCheckoutEvent, OrderService, order_service


def create_orders(records: Iterable[dict[str, Any]], orders: OrderService | None = None) -> dict[str, list]:
    """Handle one SQS batch. Returns the partial-batch response naming only the failed messages.

    A duplicate delivery (same checkout) finds its order already there and counts as done;
    OrderCreated goes out for it again with the same event id, which consumers drop.
    """
    orders = orders or order_service()
    log = get_logger("orders.pipeline")
    failures: list[str] = []
    announcements: dict[str, Any] = {}  # message id -> OrderCreated
    for record in records:
        message_id = record["messageId"]
        try:
            event = envelope_of(record["body"])
            token = correlation_id_var.set(event.correlationId)
            try:
                order, created, announcement = orders.create_from_checkout(event)
                log.info("order created" if created else "duplicate checkout delivery suppressed",
                         extra={"orderId": order.id, "checkoutId": order.checkout_id, "duplicate": not created})
            finally:
                correlation_id_var.reset(token)
            announcements[message_id] = announcement
        except (PoisonMessage, InvalidCheckoutEvent) as exc:
            log.error("poison message", extra={"messageId": message_id, "why": str(exc)})
            failures.append(message_id)
        except Exception:
            log.exception("order creation failed; the message will be retried", extra={"messageId": message_id})
            failures.append(message_id)
    if announcements:
        try:
            publish(announcements.values())
        except PublishError as exc:
            # Retrying these messages re-finds their orders and republishes the events.
            unsent = {event.id for event in exc.failed}
            failures += [mid for mid, event in announcements.items() if event.id in unsent]
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failures]}
