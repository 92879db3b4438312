"""Paying for an order: the customer asks for the provider's payment intent, once per order and amount, and pays it
in the browser with the provider's own script; the provider's signed webhook then tells the shop."""
from __future__ import annotations

from chalicelib.core import metrics
from chalicelib.core.auth import Caller
from chalicelib.core.errors import Conflict, still_changing
from chalicelib.core.ids import iso
from chalicelib.core.logs import get_logger
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.settings import settings
from chalicelib.orders.models import PaymentState, StoredIntent, StoredOrder, order_not_found
from chalicelib.orders.repository import OrderChanged
from chalicelib.orders.service import OrderService
from chalicelib.payments.models import StartedPayment
from chalicelib.payments.provider import (
    Intent,
    NotConfigured,
    NotExpressible,
    PaymentProvider,
    ProviderRefused,
    ProviderUnavailable,
    unavailable,
)

_ATTEMPTS = 5


class IntentService:
    def __init__(self, orders: OrderService, provider: PaymentProvider):
        self.orders = orders
        self.provider = provider

    def start(self, who: Caller, order_id: str) -> StartedPayment:
        """The order's payment intent: made on the first call, the same one on every later or concurrent call (the
        order keeps one, written only where it has none). Only an order awaiting payment may be paid."""
        self._publishable_key()  # before anything is asked of the provider
        first = self._own_order(who, order_id)

        def write(order: StoredOrder | None) -> StartedPayment:
            if order is None or order.user_id != who.user_id:
                raise order_not_found(order_id)
            if order.status != "PENDING":
                raise Conflict(f"An order that is {order.status} is not awaiting payment.", code="ORDER_NOT_PAYABLE")
            if order.intent is not None and (order.intent.amount, order.intent.currency) == (order.total,
                                                                                           order.currency):
                now = self._call(lambda: self.provider.retrieve_intent(order.intent.id))
                if now.status != "canceled":  # cancelled at the provider (its dashboard): replaced by a new one
                    return self._answer(order.intent, now)
            made = self._call(lambda: self.provider.create_intent(order.id, order.total, order.currency))
            intent = StoredIntent(id=made.id, client_secret=made.client_secret, amount=made.amount,
                                  currency=made.currency, provider=self.provider.name, created_at=iso())
            try:
                awaiting = PaymentState(provider=self.provider.name, status="AWAITING_PAYMENT")
                self.orders.orders.attach_intent(order, intent, awaiting, intent.created_at)
            except OrderChanged as lost:
                kept = lost.current.intent if lost.current is not None else None
                if kept is None or kept.id != made.id:  # another call's intent won: ours is never paid
                    self._cancel_quietly(made.id)
                raise
            metrics.count("PaymentIntentsCreated")
            return self._answer(intent, made)

        return read_then_write(lambda: self.orders.find(order_id), write, lost=OrderChanged, seen=first,
                               seen_in=lambda lost: lost.current, attempts=_ATTEMPTS,
                               gave_up=still_changing("The order"))

    def _own_order(self, who: Caller, order_id: str) -> StoredOrder:
        order = self.orders.find(order_id)
        if order is None:  # accepted by the checkout, not yet made by the queue: made now, as the queue would
            from chalicelib.orders.pipeline import create_ahead_of_the_queue

            order = create_ahead_of_the_queue(order_id, self.orders)
        # Another customer's order is indistinguishable from one that does not exist.
        if order is None or order.user_id != who.user_id:
            raise order_not_found(order_id)
        return order

    def _publishable_key(self) -> str:
        if self.provider.name != "stripe":
            return ""
        publishable = settings().stripe_publishable_key
        if not publishable.startswith("pk_"):
            raise unavailable(NotConfigured("STRIPE_PUBLISHABLE_KEY is not set"))
        return publishable

    def _answer(self, intent: StoredIntent, now: Intent) -> StartedPayment:
        return StartedPayment(provider=self.provider.name, payment_intent_id=intent.id,
                              client_secret=intent.client_secret, publishable_key=self._publishable_key(),
                              amount=intent.amount, currency=intent.currency, status=now.status)

    @staticmethod
    def _call(call):  # type: ignore[no-untyped-def]
        try:
            return call()
        except NotExpressible as exc:
            raise Conflict(f"The payment provider cannot take this amount: {exc}.",
                           code="AMOUNT_NOT_PAYABLE") from None
        except (ProviderUnavailable, NotConfigured) as exc:
            raise unavailable(exc) from None
        except ProviderRefused as exc:
            get_logger("payments").error("the provider refused a payment intent", extra={"why": str(exc)})
            raise unavailable(ProviderUnavailable(str(exc))) from None

    def _cancel_quietly(self, intent_id: str) -> None:
        try:
            self.provider.cancel_intent(intent_id)
        except Exception as exc:  # never paid: the customer is given the other one; Stripe expires it anyway
            get_logger("payments").warning("a losing payment intent could not be cancelled",
                                           extra={"intentId": intent_id, "why": str(exc)})
