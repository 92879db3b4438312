"""Routes of payments: the provider's signed webhook, and what staff must look at."""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.core.http import cognito, current_request, doc, header, page, query, respond
from chalicelib.core.models import PageQuery
from chalicelib.payments.models import LedgerEntry, PaymentAck, PaymentEvent

if TYPE_CHECKING:
    from chalicelib.payments.service import PaymentService

routes = Blueprint(__name__)


def payments() -> PaymentService:
    from chalicelib.payments.service import payment_service

    return payment_service()


@routes.route("/webhooks/payments", methods=["POST"])
@doc("Payment provider webhook (HMAC signed): every verified event is recorded and acknowledged", "signature",
     body=PaymentEvent, returns=PaymentAck, errors=(503,))
def payment_webhook():
    from chalicelib.payments.webhook import verified_event

    event = verified_event(current_request().raw_body or b"", header("X-Signature"))
    return respond(payments().record(event))


@routes.route("/admin/payments/review", methods=["GET"], authorizer=cognito)
@doc("Provider events needing a person: unknown orders, amounts or currencies not the order's", "admin",
     query=PageQuery, returns=LedgerEntry, paged=True)
def admin_payments_for_review():
    return page(payments().for_review(query(PageQuery)))
