"""Applying a verified payment event to its order."""
from __future__ import annotations

import functools

from chalicelib.core import metrics
from chalicelib.core.aws import client
from chalicelib.core.errors import Unauthorized
from chalicelib.core.http import parse_body
from chalicelib.core.logs import get_logger
from chalicelib.core.settings import settings
from chalicelib.orders.service import OrderService
from chalicelib.payments import signature
from chalicelib.payments.models import PaymentAck, PaymentEvent

_OUTCOME = {"payment.succeeded": "PAID", "payment.failed": "PAYMENT_FAILED"}


@functools.lru_cache(maxsize=1)
def webhook_secret() -> str:
    """The shared secret: from SSM (SecureString) where configured, else the stage's setting.

    Cached per container: one SSM call per cold start, none per request.
    """
    parameter = settings().payment_webhook_secret_parameter
    if parameter:
        result = client("ssm").get_parameter(Name=parameter, WithDecryption=True)
        return result["Parameter"]["Value"]
    return settings().payment_webhook_secret


class PaymentService:
    def __init__(self, orders: OrderService | None = None):
        self.orders = orders or OrderService()

    def receive(self, raw_body: bytes, signature_header: str | None) -> PaymentAck:
        try:
            signature.verify(webhook_secret(), signature_header, raw_body)
        except signature.SignatureError as exc:
            get_logger("payments").warning("webhook refused", extra={"why": str(exc)})
            raise Unauthorized("The webhook signature is invalid.", code="INVALID_SIGNATURE") from None
        event = parse_body(raw_body, PaymentEvent)
        order, changed = self.orders.apply_payment(event.order_id, _OUTCOME[event.type], event.id,
                                                   event.amount, event.currency)
        metrics.count("DuplicatesSuppressed" if not changed else
                      ("PaymentsSucceeded" if event.type == "payment.succeeded" else "PaymentsFailed"))
        return PaymentAck(duplicate=not changed, order_id=order.id, order_status=order.status)


@functools.lru_cache(maxsize=1)
def payment_service() -> PaymentService:
    return PaymentService()
