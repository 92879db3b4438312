"""Stripe as the payment provider, against a localstripe process this module starts (no network): intents made
through the API and confirmed with test cards at localstripe, its signed webhooks delivered to /webhooks/stripe,
refunds paid back and intents cancelled by the payment_provider function."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.payments.signature import sign
from tests.fakes import ADMIN, auth
from tests.shop import call, paying_through, placed_order, sqs_event
from tests.stripe_server import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, local_stripe  # noqa: F401 (fixture)

ANN = auth("ann")
BOB = auth("bob")
PAYMENTS_QUEUE = "shop-local-payments"


class Received:
    """Where localstripe sends its webhooks: a server on a loopback port keeping each body with its signature."""

    def __init__(self) -> None:
        self.events: list[tuple[bytes, str]] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.events.append((body, self.headers.get("Stripe-Signature") or ""))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, kind: str, intent_id: str, timeout: float = 10) -> tuple[bytes, str]:
        """The first event of `kind` about the intent (localstripe sends each a second after it happens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body, signature in list(self.events):
                event = json.loads(body)
                if event["type"] == kind and event["data"]["object"].get("id") == intent_id:
                    return body, signature
            time.sleep(0.1)
        sent = [json.loads(body)["type"] for body, _ in self.events]
        raise AssertionError(f"localstripe sent no {kind} for {intent_id}: {sent}")


@pytest.fixture(scope="module")
def received(local_stripe):  # noqa: F811
    hooks = Received()
    local_stripe.register_webhook(hooks.url, secret=WEBHOOK_SECRET)
    yield hooks
    hooks.server.shutdown()


@pytest.fixture
def stripe_stage(aws, local_stripe, received, monkeypatch):  # noqa: F811
    """The local stage paying through localstripe: its test keys in the stage's secret (as `make run` puts them),
    read by the functions under their own roles."""
    paying_through(local_stripe, monkeypatch)
    yield local_stripe
    from chalicelib.payments import stripe_adapter

    stripe_adapter.keys.cache_clear()


def stripe_api(local_stripe):  # noqa: F811
    import stripe

    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": local_stripe.url}).v1


def pay_with(local_stripe, intent_id, card="4242424242424242", method=None):  # noqa: F811
    """What Stripe.js does in the browser: a card attached to the intent, then the intent confirmed (localstripe
    confirms only an intent whose payment method is attached first)."""
    import stripe

    api = stripe_api(local_stripe)
    if method is None:
        method = api.payment_methods.create(params={"type": "card", "card": {
            "number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}).id
    api.payment_intents.update(intent_id, params={"payment_method": method})
    try:
        return api.payment_intents.confirm(intent_id).status
    except stripe.CardError as exc:
        return exc.code


def paid_by_card(client, local_stripe, order, intent):  # noqa: F811
    """The order's intent paid with a card at localstripe, and Stripe's success delivered to the webhook, made from
    the intent as localstripe holds it (localstripe sends its own a second later: the tests of that wait for it)."""
    answered = webhook(client, *card_success(local_stripe, order, intent))
    assert answered.json["orderStatus"] == "PAID", answered.body
    return answered


def card_success(local_stripe, order, intent) -> tuple[bytes, str]:  # noqa: F811
    """The intent paid with a card at localstripe; Stripe's success event for it, signed."""
    assert pay_with(local_stripe, intent["paymentIntentId"]) == "succeeded"
    paid = stripe_api(local_stripe).payment_intents.retrieve(intent["paymentIntentId"]).to_dict()
    return signed({"id": f"evt_paid_{order['id'][:12]}", "object": "event", "type": "payment_intent.succeeded",
                   "data": {"object": {**paid, "amount_received": paid["amount"]}}})


def webhook(client, body: bytes, signature: str):
    response = client.http.post("/webhooks/stripe", body=body, headers={"Content-Type": "application/json",
                                                                      "Stripe-Signature": signature})
    response.json = json.loads(response.body) if response.body else None
    return response


def signed(event: dict, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, str]:
    """An event signed as Stripe signs it (`t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">`)."""
    raw = json.dumps(event).encode()
    return raw, sign(secret, raw, at)


def start_payment(client, order, headers=ANN):
    return call(client, "post", f"/orders/{order['id']}/payment", headers=headers)


def order_of(client, order):
    shown = call(client, "get", f"/orders/{order['id']}", headers=ANN).json
    if shown.get("payment"):  # `lastError` only where an attempt was declined
        shown["payment"] = {name: value for name, value in shown["payment"].items() if value is not None}
    return shown


def provider_function(client, events):
    """The payment_provider function on the events as its queue delivers them (through the bus's rule)."""
    from tests.shop import eventbridge_body

    return client.lambda_.invoke("payment_provider", sqs_event(
        client, [eventbridge_body(event) for event in events], queue=PAYMENTS_QUEUE)).payload


def test_a_card_that_pays_marks_the_order_paid(client, bus, stripe_stage, received):
    order, _ = placed_order(client, ANN, price=4493)
    started = start_payment(client, order)
    assert started.status_code == 200, started.body
    intent = started.json
    assert intent["provider"] == "stripe" and intent["publishableKey"] == PUBLISHABLE_KEY
    assert (intent["amount"], intent["currency"]) == (order["total"], order["currency"])
    assert intent["clientSecret"].startswith(intent["paymentIntentId"])
    assert intent["status"] == "requires_payment_method"
    assert order_of(client, order)["payment"] == {"provider": "stripe", "status": "AWAITING_PAYMENT"}

    assert pay_with(stripe_stage, intent["paymentIntentId"]) == "succeeded"
    body, signature = received.next("payment_intent.succeeded", intent["paymentIntentId"])
    answered = webhook(client, body, signature)
    assert answered.status_code == 200, answered.body
    assert (answered.json["outcome"], answered.json["orderStatus"]) == ("APPLIED", "PAID")
    paid = order_of(client, order)
    assert paid["status"] == "PAID" and paid["capturedAmount"] == order["total"]
    assert paid["payment"] == {"provider": "stripe", "status": "SUCCEEDED"}
    assert "clientSecret" not in json.dumps(paid) and intent["clientSecret"] not in json.dumps(paid)

    again = webhook(client, body, signature)  # Stripe delivers at least once
    assert again.status_code == 200 and again.json["duplicate"] is True
    assert order_of(client, order)["payments"] == paid["payments"]


def test_one_intent_per_order_whoever_asks_and_however_often(client, bus, stripe_stage):
    order, _ = placed_order(client, ANN)
    first = start_payment(client, order).json
    assert start_payment(client, order).json["paymentIntentId"] == first["paymentIntentId"]
    assert start_payment(client, order, headers=BOB).status_code == 404  # another customer's order
    assert call(client, "post", "/orders/no-such-order/payment", headers=ANN).status_code == 404


def test_a_concurrent_request_gets_the_intent_that_won_and_the_other_is_cancelled(client, bus, stripe_stage, between):
    from chalicelib.orders.repository import OrderRepository

    order, _ = placed_order(client, ANN)
    theirs = {}

    def competitor():  # another tab asked at the same moment, and its write landed first
        theirs.update(start_payment(client, order).json)

    between(OrderRepository, "attach_intent", competitor)
    mine = start_payment(client, order)
    assert mine.status_code == 200, mine.body
    assert mine.json["paymentIntentId"] == theirs["paymentIntentId"]
    intents = stripe_api(stripe_stage).payment_intents.list(params={"limit": 100}).data
    ours = [made for made in intents if made.metadata.to_dict().get("orderId") == order["id"]]
    assert sorted(made.status for made in ours) == ["canceled", "requires_payment_method"]


def test_a_declined_card_leaves_the_order_awaiting_payment_then_another_card_pays(client, bus, stripe_stage,
                                                                                   received):
    order, _ = placed_order(client, ANN)
    intent = start_payment(client, order).json
    assert pay_with(stripe_stage, intent["paymentIntentId"], method="pm_card_chargeCustomerFail") == "card_declined"
    body, signature = received.next("payment_intent.payment_failed", intent["paymentIntentId"])
    assert webhook(client, body, signature).json["outcome"] == "APPLIED"
    declined = order_of(client, order)
    assert declined["status"] == "PENDING"
    assert declined["payment"]["status"] == "DECLINED" and "declined" in declined["payment"]["lastError"]
    assert start_payment(client, order).json["paymentIntentId"] == intent["paymentIntentId"]  # retry the same intent

    # localstripe cannot confirm an intent again after a declined charge: Stripe's success, signed as it signs.
    success = {"id": "evt_retry_ok", "type": "payment_intent.succeeded", "data": {"object": {
        "id": intent["paymentIntentId"], "object": "payment_intent", "amount": order["total"],
        "amount_received": order["total"], "currency": order["currency"].lower(), "status": "succeeded",
        "metadata": {"orderId": order["id"]}}}}
    assert webhook(client, *signed(success)).json["orderStatus"] == "PAID"
    assert order_of(client, order)["payment"] == {"provider": "stripe", "status": "SUCCEEDED"}


@pytest.mark.parametrize("header", ["", "t=1,v1=00", "nonsense"])
def test_a_forged_or_missing_signature_is_a_400(client, stripe_stage, header):
    body = json.dumps({"id": "evt_x", "type": "payment_intent.succeeded", "data": {"object": {}}}).encode()
    answered = webhook(client, body, header)
    assert answered.status_code == 400 and answered.json["error"]["code"] == "INVALID_SIGNATURE"


def test_a_stale_or_wrongly_keyed_signature_is_a_400(client, bus, stripe_stage):
    order, _ = placed_order(client, ANN)
    event = {"id": "evt_stale", "type": "payment_intent.succeeded", "data": {"object": {
        "id": "pi_x", "amount": order["total"], "currency": order["currency"].lower(),
        "metadata": {"orderId": order["id"]}}}}
    assert webhook(client, *signed(event, at=int(time.time()) - 301)).status_code == 400
    assert webhook(client, *signed(event, secret="whsec_someone_else")).status_code == 400
    assert order_of(client, order)["status"] == "PENDING"


def test_a_rolled_secret_still_verifies_while_stripe_signs_with_both(client, bus, stripe_stage):
    order, _ = placed_order(client, ANN)
    event = {"id": "evt_rolled", "type": "payment_intent.succeeded", "data": {"object": {
        "id": "pi_rolled", "amount": order["total"], "amount_received": order["total"],
        "currency": order["currency"].lower(), "metadata": {"orderId": order["id"]}}}}
    raw, ours = signed(event)
    _, old = signed(event, secret="whsec_the_old_one")
    both = f"{old},{ours.split(',', 1)[1]}"  # t=..,v1=<old>,v1=<current>
    assert webhook(client, raw, both).json["orderStatus"] == "PAID"


def test_a_partial_refund_is_paid_back_through_stripe(client, bus, stripe_stage, received):
    order, _ = placed_order(client, ANN, price=2500)
    intent = start_payment(client, order).json
    paid_by_card(client, stripe_stage, order, intent)

    asked = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"amount": 1000, "reason": "scratched"},
                 {**ADMIN, "Idempotency-Key": "refund-partial-1"})
    assert asked.status_code == 201 and asked.json["status"] == "REQUESTED"
    requested = bus.of_type("RefundRequested")[-1]
    assert provider_function(client, [requested]) == {"batchItemFailures": []}
    refunds = call(client, "get", f"/admin/orders/{order['id']}/refunds", headers=ADMIN).json["items"]
    assert [(r["amount"], r["status"]) for r in refunds] == [(1000, "SUCCEEDED")]
    refunded = order_of(client, order)
    assert refunded["refundedAmount"] == 1000 and refunded["status"] == "PAID"
    at_stripe = stripe_api(stripe_stage).refunds.list(params={"payment_intent": intent["paymentIntentId"]}).data
    assert [(r.amount, r.metadata.to_dict()["refundId"]) for r in at_stripe] == [(1000, asked.json["id"])]

    # The queue delivers again: settled already, Stripe is not asked twice.
    assert provider_function(client, [requested]) == {"batchItemFailures": []}
    assert len(stripe_api(stripe_stage).refunds.list(params={"payment_intent": intent["paymentIntentId"]}).data) == 1
    # Stripe's own word on it later changes nothing.
    refund_event = {"id": "evt_refund_later", "type": "refund.updated", "data": {"object": {
        "id": at_stripe[0].id, "object": "refund", "amount": 1000, "currency": order["currency"].lower(),
        "status": "succeeded", "metadata": {"refundId": asked.json["id"], "orderId": order["id"]}}}}
    assert webhook(client, *signed(refund_event)).json["outcome"] == "IGNORED"
    assert order_of(client, order)["refundedAmount"] == 1000


def test_a_refund_stripe_refuses_fails_and_is_refundable_again(client, bus, stripe_stage, received, monkeypatch):
    from chalicelib.core import metrics

    counted = []
    monkeypatch.setattr(metrics, "count", lambda name, value=1, **_: counted.append(name))
    order, _ = placed_order(client, ANN, price=2500)
    intent = start_payment(client, order).json
    paid_by_card(client, stripe_stage, order, intent)
    # The intent is gone at Stripe (another account's keys, a test-mode object deleted): Stripe refuses the refund.
    from chalicelib.core.dynamo import ddb, table_name

    ddb().update_item(TableName=table_name(), Key={"PK": {"S": f"ORDER#{order['id']}"}, "SK": {"S": "ORDER"}},
                      UpdateExpression="SET payment_intent.id = :gone", ExpressionAttributeValues={
                          ":gone": {"S": "pi_not_at_stripe"}})
    asked = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"amount": 500, "reason": "dent"},
                 {**ADMIN, "Idempotency-Key": "refund-refused-1"})
    assert provider_function(client, [bus.of_type("RefundRequested")[-1]]) == {"batchItemFailures": []}
    refunds = call(client, "get", f"/admin/orders/{order['id']}/refunds", headers=ADMIN).json["items"]
    assert [(r["id"], r["status"]) for r in refunds] == [(asked.json["id"], "FAILED")]
    assert "RefundsFailed" in counted
    again = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"reason": "dent, asked again"},
                 {**ADMIN, "Idempotency-Key": "refund-refused-2"})
    assert again.status_code == 201 and again.json["amount"] == order["total"]  # all of it is refundable again


def test_stripe_unreachable_leaves_the_refund_for_the_queue_to_retry(client, bus, stripe_stage, received,
                                                                     monkeypatch):
    order, _ = placed_order(client, ANN, price=2500)
    intent = start_payment(client, order).json
    paid_by_card(client, stripe_stage, order, intent)
    call(client, "post", f"/admin/orders/{order['id']}/refunds", {"reason": "late"},
         {**ADMIN, "Idempotency-Key": "refund-retry-1"})
    requested = bus.of_type("RefundRequested")[-1]
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")  # nothing listens there
    from chalicelib.core.settings import reset_settings

    reset_settings()
    assert provider_function(client, [requested]) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert call(client, "get", f"/admin/orders/{order['id']}/refunds", headers=ADMIN).json["items"][0]["status"] \
        == "REQUESTED"
    monkeypatch.setenv("STRIPE_API_BASE", stripe_stage.url)
    reset_settings()
    assert provider_function(client, [requested]) == {"batchItemFailures": []}
    assert order_of(client, order)["refundedAmount"] == order["total"]


def test_an_order_cancelled_or_expired_unpaid_cancels_its_intent(client, bus, stripe_stage, monkeypatch):
    cancelled, _ = placed_order(client, ANN)
    expired, _ = placed_order(client, ANN)
    intents = {order["id"]: start_payment(client, order).json["paymentIntentId"] for order in (cancelled, expired)}
    assert call(client, "post", f"/orders/{cancelled['id']}/cancel", headers=ANN).status_code == 200
    monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: "9999-01-01T00:00:00.000Z")
    from tests.shop import sweep

    sweep(client)
    gone = [event for event in bus.of_type("OrderCancelled")]
    assert {event.data["orderId"] for event in gone} >= set(intents)
    assert provider_function(client, gone) == {"batchItemFailures": []}
    for order_id, intent_id in intents.items():
        assert stripe_api(stripe_stage).payment_intents.retrieve(intent_id).status == "canceled"
        shown = order_of(client, {"id": order_id})
        assert shown["status"] == "CANCELLED" and shown["payment"]["status"] == "CANCELLED"
    assert start_payment(client, cancelled).json["error"]["code"] == "ORDER_NOT_PAYABLE"


def test_a_payment_after_the_order_expired_is_recorded_and_owed_back(client, bus, stripe_stage):
    order, _ = placed_order(client, ANN)
    intent = start_payment(client, order).json
    call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN)
    late = {"id": "evt_late", "type": "payment_intent.succeeded", "data": {"object": {
        "id": intent["paymentIntentId"], "amount": order["total"], "amount_received": order["total"],
        "currency": order["currency"].lower(), "metadata": {"orderId": order["id"]}}}}
    answered = webhook(client, *signed(late)).json
    assert (answered["outcome"], answered["refundDue"]) == ("REFUND_DUE", True)


def test_a_dispute_marks_the_order_and_raises_the_alarm_metric(client, bus, stripe_stage, received, monkeypatch):
    from chalicelib.core import metrics

    counted = []
    monkeypatch.setattr(metrics, "count", lambda name, value=1, **_: counted.append(name))
    order, _ = placed_order(client, ANN)
    intent = start_payment(client, order).json
    paid_by_card(client, stripe_stage, order, intent)
    dispute = {"id": "evt_dispute", "type": "charge.dispute.created", "data": {"object": {
        "id": "dp_1", "object": "dispute", "amount": order["total"], "currency": order["currency"].lower(),
        "payment_intent": intent["paymentIntentId"], "reason": "fraudulent"}}}
    assert webhook(client, *signed(dispute)).json["outcome"] == "APPLIED"
    shown = order_of(client, order)
    assert shown["disputed"] is True and shown["status"] == "PAID"
    assert "PaymentsDisputed" in counted
    assert webhook(client, *signed(dispute)).json["duplicate"] is True


def test_other_event_types_are_recorded_and_ignored(client, stripe_stage):
    event = {"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1", "object": "customer"}}}
    first = webhook(client, *signed(event))
    assert first.status_code == 200 and first.json["outcome"] == "IGNORED"
    assert webhook(client, *signed(event)).json["duplicate"] is True


def test_an_order_not_awaiting_payment_cannot_be_paid(client, bus, stripe_stage, received):
    order, _ = placed_order(client, ANN)
    intent = start_payment(client, order).json
    paid_by_card(client, stripe_stage, order, intent)
    again = start_payment(client, order)
    assert again.status_code == 409 and again.json["error"]["code"] == "ORDER_NOT_PAYABLE"


def test_no_keys_on_a_deployed_stage_is_refused_not_a_fallback(monkeypatch):
    from chalicelib.core.settings import reset_settings
    from chalicelib.payments import stripe_adapter
    from chalicelib.payments.provider import NotConfigured

    plain = {"STAGE": "dev", "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    for name, value in plain.items():
        monkeypatch.setenv(name, value)  # plain keys: for the local and test stages only
    reset_settings()
    stripe_adapter.keys.cache_clear()
    with pytest.raises(NotConfigured, match="names no STRIPE_SECRET"):
        stripe_adapter.keys()
    assert stripe_adapter.keys.cache_info().currsize == 0  # refused, not remembered: a secret named later is read


def test_no_publishable_key_is_a_503_before_stripe_is_asked(client, bus, stripe_stage, monkeypatch):
    order, _ = placed_order(client, ANN)
    from chalicelib.core.settings import settings

    unset = settings().model_copy(update={"stripe_publishable_key": ""})
    monkeypatch.setattr("chalicelib.payments.intents.settings", lambda: unset)
    answered = start_payment(client, order)
    assert answered.status_code == 503 and answered.json["error"]["code"] == "PAYMENTS_NOT_CONFIGURED"
    assert order_of(client, order).get("payment") is None


def test_the_keys_come_from_the_stages_secret(client, monkeypatch):
    import boto3

    from chalicelib.core.settings import reset_settings
    from chalicelib.payments import stripe_adapter

    secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="shop/test/stripe", SecretString=json.dumps({"secretKey": "sk_test_from_secret",
                                                           "webhookSecret": "whsec_from_secret"}))["ARN"]
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("STRIPE_SECRET", secret)
    reset_settings()
    stripe_adapter.keys.cache_clear()
    assert stripe_adapter.keys() == stripe_adapter.StripeKeys("sk_test_from_secret", "whsec_from_secret")
    stripe_adapter.keys.cache_clear()


def test_stripes_paths_make_the_aws_and_stripe_calls_they_need(client, published, stripe_stage, received,
                                                               monkeypatch):
    """The same rows and minimums as `make bench` (tools/bench.py MINIMUM and STRIPE_MINIMUM)."""
    from stripe import _http_client

    from chalicelib.core import aws as core_aws
    from tools.bench import MINIMUM, STRIPE_MINIMUM

    aws: list[str] = []
    traced = core_aws.trace_calls

    def counting(events):  # every client made from now on, under whichever function's role
        traced(events)
        events.register("before-call.*.*", lambda model, **kw: aws.append(model.name))

    monkeypatch.setattr(core_aws, "trace_calls", counting)
    core_aws.reset_clients()
    to_stripe: list[str] = []
    sent = _http_client.HTTPClient.request_with_retries

    def counted(self, method, url, *args, **kwargs):
        to_stripe.append(method)
        return sent(self, method, url, *args, **kwargs)

    def measured(label, run):
        aws.clear()
        to_stripe.clear()
        from unittest import mock

        with mock.patch.object(_http_client.HTTPClient, "request_with_retries", counted):
            answer = run()
        assert (len(aws), len(to_stripe)) == (MINIMUM[label], STRIPE_MINIMUM[label]), (label, aws, to_stripe)
        return answer

    paid, _ = placed_order(client, ANN, price=2500)
    cancelled, _ = placed_order(client, ANN)
    start_payment(client, cancelled)  # the account's status and Stripe's keys: read once per container
    intent = measured("POST /orders/{id}/payment", lambda: start_payment(client, paid).json)
    measured("POST /orders/{id}/payment (again)", lambda: start_payment(client, paid))
    succeeded = card_success(stripe_stage, paid, intent)
    measured("POST /webhooks/stripe (payment_intent.succeeded)", lambda: webhook(client, *succeeded))
    call(client, "post", f"/admin/orders/{paid['id']}/refunds", {"amount": 10, "reason": "bench"},
         {**ADMIN, "Idempotency-Key": "calls-refund"})
    call(client, "post", f"/orders/{cancelled['id']}/cancel", headers=ANN)
    measured("payment_provider: RefundRequested",
             lambda: provider_function(client, published.of_type("RefundRequested")))
    measured("payment_provider: OrderCancelled", lambda: provider_function(client, published.of_type("OrderCancelled")))


def test_stripes_charge_refunded_settles_a_refund_before_the_function_runs_and_it_is_not_paid_twice(
        client, bus, stripe_stage, received):
    order, _ = placed_order(client, ANN, price=2500)
    intent = start_payment(client, order).json
    paid_by_card(client, stripe_stage, order, intent)
    asked = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"amount": 700, "reason": "first"},
                 {**ADMIN, "Idempotency-Key": "refund-charge-1"}).json
    charge = {"id": "evt_charge_refunded", "type": "charge.refunded", "data": {"object": {
        "id": "ch_1", "object": "charge", "amount": order["total"], "amount_refunded": 700,
        "currency": order["currency"].lower(), "payment_intent": intent["paymentIntentId"],
        "refunds": {"object": "list", "data": [
            {"id": "re_1", "object": "refund", "amount": 700, "currency": order["currency"].lower(),
             "status": "succeeded", "metadata": {"refundId": asked["id"], "orderId": order["id"]}},
            {"id": "re_dashboard", "object": "refund", "amount": 100, "currency": order["currency"].lower(),
             "status": "succeeded", "metadata": {}}]}}}}
    assert webhook(client, *signed(charge)).status_code == 200
    assert order_of(client, order)["refundedAmount"] == 700
    assert provider_function(client, bus.of_type("RefundRequested")) == {"batchItemFailures": []}
    assert stripe_api(stripe_stage).refunds.list(params={"payment_intent": intent["paymentIntentId"]}).data == []
    from chalicelib.payments.repository import PaymentLedger

    # The refund made in Stripe's dashboard names no refund of the shop's: left for a person.
    assert PaymentLedger().get("stripe:evt_charge_refunded:re_dashboard").outcome == "REVIEW"


def test_a_refund_of_an_order_the_generic_provider_paid_waits_for_its_webhook(client, bus, stripe_stage):
    from tests.shop import pay

    order, _ = placed_order(client, ANN)
    assert pay(client, order).json["orderStatus"] == "PAID"
    call(client, "post", f"/admin/orders/{order['id']}/refunds", {"reason": "generic"},
         {**ADMIN, "Idempotency-Key": "refund-generic-1"})
    assert provider_function(client, bus.of_type("RefundRequested")) == {"batchItemFailures": []}
    refunds = call(client, "get", f"/admin/orders/{order['id']}/refunds", headers=ADMIN).json["items"]
    assert [r["status"] for r in refunds] == ["REQUESTED"]


def test_the_generic_provider_takes_payments_outside_the_api(client, bus, monkeypatch):
    from chalicelib.composition import Services
    from chalicelib.core.auth import Caller
    from chalicelib.core.errors import Conflict
    from chalicelib.core.settings import reset_settings
    from chalicelib.payments import provider

    order, _ = placed_order(client, ANN)
    monkeypatch.setenv("PAYMENT_PROVIDER", "generic")
    reset_settings()
    assert isinstance(provider.configured(), provider.GenericProvider)
    root = Services()
    with pytest.raises(Conflict) as refused:
        root.intents.start(Caller(user_id="ann"), order["id"])
    assert refused.value.code == "PAYMENT_PROVIDER_EXTERNAL"


def test_an_intent_cancelled_at_stripe_while_the_order_awaits_payment_is_replaced(client, bus, stripe_stage):
    order, _ = placed_order(client, ANN)
    first = start_payment(client, order).json
    stripe_api(stripe_stage).payment_intents.cancel(first["paymentIntentId"])  # in Stripe's dashboard
    second = start_payment(client, order).json
    assert second["paymentIntentId"] != first["paymentIntentId"]
    assert second["status"] == "requires_payment_method"
    assert start_payment(client, order).json["paymentIntentId"] == second["paymentIntentId"]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"id": "evt_1", "type": "x"}',
                                  b'{"id": "evt 1", "type": "x", "data": {"object": {}}}'])
def test_a_signed_body_that_is_not_a_stripe_event_is_a_400_and_recorded_nowhere(client, stripe_stage, body):
    answered = webhook(client, body, sign(WEBHOOK_SECRET, body))
    assert answered.status_code == 400 and answered.json["error"]["code"] == "INVALID_EVENT"
