"""Routes of payments: the provider's signed webhook, and what staff must look at."""
from __future__ import annotations

from chalicelib.composition import services
from chalicelib.core.http import body, caller, current_request, doc, header, page, query, respond
from chalicelib.core.models import PageQuery
from chalicelib.core.routing import Routes
from chalicelib.orders.models import IdempotencyKey
from chalicelib.payments.models import LedgerEntry, PaymentAck, PaymentEvent, Refund, RefundRequest, StartedPayment

routes = Routes(__name__)


@routes.route("/webhooks/payments", methods=["POST"])
@doc("Payment provider webhook (HMAC signed): every verified event is recorded and acknowledged", "signature",
     body=PaymentEvent, returns=PaymentAck, errors=(503,))
def payment_webhook():
    from chalicelib.payments.webhook import verified_event

    event = verified_event(current_request().raw_body or b"", header("X-Signature"))
    return respond(services().payments.record(event.received()))


@routes.route("/webhooks/stripe", methods=["POST"])
@doc("Stripe's webhook (`Stripe-Signature`): every verified event is recorded once and acknowledged; a payment "
     "intent's success pays its order, a declined attempt is noted on it, refunds settle, a dispute marks it",
     "signature", returns=PaymentAck, errors=(503,), signed_by="stripeSignature")
def stripe_webhook():
    from chalicelib.payments.webhook import stripe_events

    events = stripe_events(current_request().raw_body or b"", header("Stripe-Signature"))
    acknowledged = [services().payments.record(event) for event in events]
    return respond(acknowledged[0])


@routes.route("/orders/{order_id}/payment", methods=["POST"])
@doc("Pay for my order awaiting payment: the provider's payment intent for its total (the same one on every "
     "call), to confirm in the browser with the provider's script and the publishable key", "user",
     returns=StartedPayment, errors=(404, 409, 503))
def pay_order(order_id):
    return respond(services().intents.start(caller(), order_id))


@routes.route("/admin/payments/review", methods=["GET"])
@doc("Provider events needing a person: unknown orders, amounts or currencies not the order's", "admin",
     query=PageQuery, returns=LedgerEntry, paged=True)
def admin_payments_for_review():
    return page(services().payments.for_review(query(PageQuery)))


@routes.route("/admin/orders/{order_id}/refunds", methods=["POST"])
@doc("Refund money captured for an order (all still refundable unless `amount` says less), optionally "
     "restocking units that came back; the provider confirms it by webhook", "admin",
     body=RefundRequest, returns=Refund, status=201, errors=(404, 409),
     headers=(("Idempotency-Key", True, "8-128 letters, digits or -_:.; the same key and body answer the same refund",
               IdempotencyKey),))
def admin_refund_order(order_id):
    from chalicelib.orders.routes import idempotency_key

    request = body(RefundRequest)
    return respond(services().refunds.request(caller(), order_id, idempotency_key(), request), status=201)


@routes.route("/admin/orders/{order_id}/refunds", methods=["GET"])
@doc("Every refund of an order (the order itself lists its first 20)", "admin", query=PageQuery, returns=Refund, paged=True,
     errors=(404,))
def admin_order_refunds(order_id):
    return page(services().refunds.list_for_order(order_id, query(PageQuery)))
