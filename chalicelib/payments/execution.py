"""The payment_provider function: what the shop decided, done at the provider.

- `RefundRequested` (staff's refund, a received return's): the refund is paid back through the provider, once per
  refund id; a final answer settles it at once (through the ledger, as a webhook would), a pending one waits for
  the provider's webhook, a refusal marks it FAILED (metric and alarm, its amount refundable again). Unreachable
  or throttled, the provider is asked again by the queue (the message comes back after its visibility timeout,
  five times, then waits in the dead-letter queue for a redrive); never settled twice, whatever arrives first.
- `OrderCancelled` (by the customer, by staff, or expired unpaid): its payment intent is cancelled, so the card
  can no longer be charged; a payment that succeeded meanwhile is recorded and flagged `refundDue` by the webhook.

A refund the generic provider is asked for is confirmed by its webhook: nothing is done here.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.core import metrics
from chalicelib.core.events import Envelope
from chalicelib.core.logs import get_logger
from chalicelib.orders.repository import OrderRepository
from chalicelib.payments import keys as payment_keys
from chalicelib.payments.models import ProviderEvent
from chalicelib.payments.provider import PaymentProvider, ProviderRefused, RefundOutcome
from chalicelib.payments.refunds import RefundService

# Within this age a request to pay a refund back is protected by its idempotency key at the provider (Stripe keeps
# keys for 24 hours); an older one (a redrive from the dead-letter queue) first looks for the refund it made.
KEY_TRUSTED_FOR = timedelta(hours=12)


class ProviderWork:
    def __init__(self, orders: OrderRepository, refunds: RefundService, provider: PaymentProvider):
        self.orders = orders
        self.refunds = refunds
        self.provider = provider

    def handle(self, event: Envelope) -> str:
        """What was done, for the logs. Raises ProviderUnavailable (retried by the queue)."""
        data = event.parsed()
        if event.type == "RefundRequested":
            return self.pay_back(data.order_id, data.refund_id, older_than_key=_age(event) > KEY_TRUSTED_FOR)
        if event.type == "OrderCancelled":
            return self.cancel_intent(data.order_id)
        return "ignored"

    def pay_back(self, order_id: str, refund_id: str, *, older_than_key: bool = False) -> str:
        order, item = self.orders.get_many(order_id, payment_keys.refund_sk(refund_id))
        if order is None or item is None:
            get_logger("payments").error("a refund asked for is not found", extra={"orderId": order_id,
                                                                                  "refundId": refund_id})
            return "unknown"
        if item.get("status") != "REQUESTED":
            return "settled already"
        intent = order.intent
        if intent is None or intent.provider != self.provider.name or self.provider.name == "generic" or \
                (order.payment and order.payment.provider != self.provider.name):
            return "confirmed by the provider's webhook"  # paid outside the API: its provider confirms the refund
        amount, currency = int(item["amount"]), item["currency"]
        try:
            outcome = self.provider.refund(intent.id, refund_id, order_id, amount, currency, look_first=older_than_key)
        except ProviderRefused as exc:
            get_logger("payments").error("the provider refused a refund", extra={"orderId": order_id,
                                                                                "refundId": refund_id, "why": str(exc)})
            outcome = RefundOutcome(f"refused-{refund_id}", "failed", str(exc)[:200])
        metrics.count("RefundsSentToProvider")
        if outcome.status == "pending":
            return "pending at the provider"
        self.refunds.record(ProviderEvent(
            id=f"{self.provider.name}:{outcome.provider_refund_id}:{outcome.status}",
            type="refund.succeeded" if outcome.status == "succeeded" else "refund.failed", order_id=order_id,
            refund_id=refund_id, amount=amount, currency=currency, provider=self.provider.name,
            provider_type=f"refund.{outcome.status}", error=outcome.reason), seen=(order, item))
        return outcome.status

    def cancel_intent(self, order_id: str) -> str:
        order = self.orders.get(order_id)
        if order is None or order.intent is None or order.intent.provider != self.provider.name:
            return "no intent"
        if order.status not in ("CANCELLED", "PAYMENT_FAILED") or order.captured_amount > 0:
            return "paid"
        try:
            self.provider.cancel_intent(order.intent.id)
        except ProviderRefused as exc:  # gone or finished meanwhile (a late success is flagged by its webhook)
            get_logger("payments").warning("a payment intent could not be cancelled",
                                           extra={"orderId": order_id, "why": str(exc)})
            return "not cancellable"
        metrics.count("PaymentIntentsCancelled")
        return "cancelled"


def _age(event: Envelope) -> timedelta:
    try:
        occurred = datetime.fromisoformat(event.occurredAt.replace("Z", "+00:00"))
    except ValueError:
        return timedelta(0)
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - occurred
