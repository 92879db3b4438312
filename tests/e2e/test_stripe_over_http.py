"""Paying with a card over HTTP against `make run` as it starts by default (Stripe, on the local Stripe): the
intent made through the API, the card confirmed at localstripe as Stripe.js would, localstripe's own signed
webhook paying the order, a refund paid back by the payment_provider function's process, an unpaid order's intent
cancelled when its customer cancels."""
from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request

import pytest

from local.stripe import PUBLISHABLE_KEY, SECRET_KEY
from tests.e2e.test_local_stack import ADMIN, CUSTOMER, Api, _checked_out, _eventually, free_port
from tests.stack import local_run


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    stripe_port = free_port()
    log = tmp_path_factory.mktemp("stripe-stack") / "make-run.log"
    with local_run(log, PAYMENT_PROVIDER="stripe", LOCAL_STRIPE_PORT=str(stripe_port), LOCAL_THROTTLING="off",
                   LOCAL_ADMIN_EMAIL=ADMIN[0], LOCAL_ADMIN_PASSWORD=ADMIN[1], LOCAL_CUSTOMER_EMAIL=CUSTOMER[0],
                   LOCAL_CUSTOMER_PASSWORD=CUSTOMER[1]) as base:
        yield Api(base), f"http://127.0.0.1:{stripe_port}", log


def at_stripe(base: str, method: str, path: str, fields: dict | None = None) -> dict:
    """Stripe's API as curl calls it: form fields, the secret key as the basic-auth user."""
    data = urllib.parse.urlencode(fields or {}).encode() if method == "POST" else None
    request = urllib.request.Request(f"{base}/v1/{path}", data=data, method=method, headers={
        "Authorization": "Basic " + base64.b64encode(f"{SECRET_KEY}:".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return json.loads(refused.read())


def test_a_card_pays_the_order_and_a_refund_is_paid_back_through_stripe(shop):
    api, stripe, log = shop
    _eventually(lambda: (200, None) if f"Stripe (local) .... {stripe}" in log.read_text() else (404, "no banner"))
    shopper, _, accepted = _checked_out(api, "card", "Card-paid mug", quantity=2, price=1250)
    order_id = accepted["orderId"]
    status, intent = api.call("POST", f"/orders/{order_id}/payment", headers=shopper)
    assert status == 200, intent
    total = api.call("GET", f"/orders/{order_id}", headers=shopper)[1]["total"]
    assert intent["publishableKey"] == PUBLISHABLE_KEY and (intent["amount"], intent["currency"]) == (total, "EUR")

    card = at_stripe(stripe, "POST", "payment_methods", {"type": "card", "card[number]": "4242424242424242",
                                                         "card[exp_month]": "12", "card[exp_year]": "2030",
                                                         "card[cvc]": "123"})
    at_stripe(stripe, "POST", f"payment_intents/{intent['paymentIntentId']}", {"payment_method": card["id"]})
    assert at_stripe(stripe, "POST", f"payment_intents/{intent['paymentIntentId']}/confirm")["status"] == "succeeded"

    def paid():  # localstripe's signed webhook reaches the API a second later
        status, order = api.call("GET", f"/orders/{order_id}", headers=shopper)
        return (200, order) if order.get("status") == "PAID" else (404, order)

    order = _eventually(paid)
    assert order["payment"]["status"] == "SUCCEEDED" and order["capturedAmount"] == total

    status, refund = api.call("POST", f"/admin/orders/{order_id}/refunds", {"amount": 500, "reason": "chipped"},
                              {**api.staff(), "Idempotency-Key": f"e2e-stripe-{order_id}"})
    assert status == 201 and refund["status"] == "REQUESTED", refund

    def refunded():  # the payment_provider process pays it back through localstripe
        status, body = api.call("GET", f"/admin/orders/{order_id}/refunds", headers=api.staff())
        statuses = [item["status"] for item in body["items"]] if status == 200 else []
        return (200, body) if statuses == ["SUCCEEDED"] else (404, body)

    _eventually(refunded)
    assert api.call("GET", f"/orders/{order_id}", headers=shopper)[1]["refundedAmount"] == 500
    at_stripe_refunds = at_stripe(stripe, "GET", f"refunds?payment_intent={intent['paymentIntentId']}")["data"]
    assert [(r["amount"], r["metadata"]["refundId"]) for r in at_stripe_refunds] == [(500, refund["id"])]


def test_cancelling_an_unpaid_order_cancels_its_intent_at_stripe(shop):
    api, stripe, _ = shop
    shopper, _, accepted = _checked_out(api, "cancel", "Cancelled mug", quantity=1, price=900)
    status, intent = api.call("POST", f"/orders/{accepted['orderId']}/payment", headers=shopper)
    assert status == 200, intent
    assert api.call("POST", f"/orders/{accepted['orderId']}/cancel", headers=shopper)[0] == 200

    def cancelled():
        found = at_stripe(stripe, "GET", f"payment_intents/{intent['paymentIntentId']}")
        return (200, found) if found.get("status") == "canceled" else (404, found)

    _eventually(cancelled)


def test_no_function_was_refused_by_iam(shop):
    _, _, log = shop
    assert "[iam] AccessDenied" not in log.read_text()
