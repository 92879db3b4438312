"""A small shop driver for tests: products, baskets and checkouts in a few words."""
from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta

from tests.fakes import ADMIN

JSON = {"Content-Type": "application/json"}
ADDRESS = {"name": "Ann Buyer", "line1": "1 Main St", "city": "Ghent", "postalCode": "9000", "country": "BE"}


@contextlib.contextmanager
def from_address(address: str):
    """Requests made inside come from `address` (identity.sourceIp, as API Gateway hands it to the app)."""
    from chalice.local import LambdaEventConverter

    before = LambdaEventConverter.LOCAL_SOURCE_IP
    LambdaEventConverter.LOCAL_SOURCE_IP = address
    try:
        yield
    finally:
        LambdaEventConverter.LOCAL_SOURCE_IP = before


def call(client, method, path, payload=None, headers=None):
    kwargs = {"headers": {**JSON, **(headers or {})}}
    if payload is not None:
        kwargs["body"] = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    response = getattr(client.http, method)(path, **kwargs)
    is_json = response.headers.get("Content-Type", "application/json").startswith("application/json")
    response.json = json.loads(response.body) if response.body and is_json else None
    return response


def product(client, *, stock=10, price=1000, currency="EUR", name=None, category="kitchen"):
    response = call(client, "post", "/products", {"name": name or f"Thing {uuid.uuid4().hex[:6]}",
                                                  "category": category, "price": price, "currency": currency,
                                                  "stock": stock}, ADMIN)
    assert response.status_code == 201, response.body
    return response.json


def put_in_basket(client, headers, product_id, quantity):
    response = call(client, "put", f"/basket/items/{product_id}", {"quantity": quantity}, headers)
    assert response.status_code == 200, response.body
    return response.json


# A method delivering to every country a test ships to, in every currency a test sells in.
STANDARD_SHIPPING = {"name": "Standard", "zones": ["BE", "DE", "FR", "GB", "NL", "US"], "minDays": 2, "maxDays": 5,
                     "rates": [{"currency": currency, "amount": 0}
                               for currency in ("EUR", "USD", "GBP", "JPY", "BHD", "IDR", "VND")]}


STANDARD_METHOD_ID = "standard-shipping"


def standard_shipping() -> str:
    """The id of the shop's standard method, stored on first use (one conditional put): free, so totals are the
    goods'. Made as staff make one (`POST /admin/shipping-methods`) in tests/tax; here, set up in one call."""
    from chalicelib.core import dynamo
    from chalicelib.shipping import keys
    from chalicelib.shipping.models import ShippingMethod, ShippingMethodCreate

    made = ShippingMethodCreate.model_validate(STANDARD_SHIPPING).model_dump()
    moment = "2026-12-01T00:00:00.000Z"
    method = ShippingMethod(id=STANDARD_METHOD_ID, **made, created_at=moment, updated_at=moment)
    dynamo.put_if_absent({"PK": keys.method_pk(method.id), "SK": keys.METHOD_SK, "type": "SHIPPINGMETHOD",
                          **method.model_dump(), **keys.listing_keys(method.id, moment)})
    return method.id


def user_of(headers) -> str:
    """The user a test's (unsigned) ID token names."""
    import base64

    payload = headers["Authorization"].removeprefix("Bearer ").split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def ship_basket(client, headers, address=None, method_id=None):
    """The caller's basket ships to `address` (ADDRESS) with `method_id` (the standard method): what a checkout
    needs. Answers are not checked (a suspended account is refused here as at the checkout)."""
    ready_to_ship(user_of(headers), address, method_id, client=client, headers=headers)


def ready_to_ship(user_id, address=None, method_id=None, *, client=None, headers=None):
    """The user's basket ships to `address` by `method_id`: set on the stored basket in one write (the routes that
    set them, and their rules, are tested in tests/tax). With no basket stored yet, through the routes."""
    from chalicelib.basket import keys
    from chalicelib.core import dynamo

    method_id = method_id or standard_shipping()
    shipped = dynamo.update(keys.user_pk(user_id), keys.BASKET_SK,
                            dynamo.Update().set_all({"shipping_address": address or ADDRESS,
                                                     "shipping_method_id": method_id}), "attribute_exists(PK)")
    if dynamo.applied(shipped) or client is None:
        return
    call(client, "put", "/basket/shipping-address", address or ADDRESS, headers)
    call(client, "put", "/basket/shipping-method", {"id": method_id}, headers)


def checkout(client, headers, key=None, payload=None, ship=True):
    """POST /basket/checkout, the basket first shipping to ADDRESS by the standard method (unless `ship` is False:
    the test set it)."""
    if ship:
        ship_basket(client, headers)
    return call(client, "post", "/basket/checkout", payload or {"shippingAddress": ADDRESS},
                {**headers, "Idempotency-Key": key or uuid.uuid4().hex})


def race_checkouts(buyers) -> list[str]:
    """Every buyer (a Caller with a filled basket) checks out at the same moment, each on a thread: an outcome a
    buyer, "bought" or the code of the Conflict that refused the checkout."""
    import threading

    from chalicelib.composition import Services
    from chalicelib.core.errors import Conflict, ServiceUnavailable
    from chalicelib.orders.models import CheckoutRequest

    request = CheckoutRequest.model_validate({"shippingAddress": ADDRESS})
    outcomes, start = [], threading.Barrier(len(buyers))

    for buyer in buyers:
        ready_to_ship(buyer.user_id)

    def buy(buyer):
        start.wait()
        try:
            Services().checkouts.checkout(buyer, f"key-{buyer.user_id}", request)
            outcomes.append("bought")
        except (Conflict, ServiceUnavailable) as refused:  # refused, or contended (503: sent again, it may buy)
            outcomes.append(refused.code)

    threads = [threading.Thread(target=buy, args=(b,)) for b in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def stock_of(client, item_id):
    """The stock of a variant, or of a product's one variant (its id is the product's)."""
    product_id = item_id.partition(".")[0]
    variants = call(client, "get", f"/products/{product_id}").json["variants"]
    return next(v["stock"] for v in variants if v["id"] == item_id or len(variants) == 1)


class Bus:
    """Captures what the app puts on the event bus (tests replay it into handlers)."""

    def __init__(self):
        self.events = []

    def publish(self, events):
        self.events.extend(events)

    def of_type(self, event_type):
        return [e for e in self.events if e.type == event_type]


PUBLISHERS = ("chalicelib.core.outbox.publish", "chalicelib.orders.pipeline.publish", "chalicelib.core.events.publish")


@contextlib.contextmanager
def published_through(bus: Bus | None = None):
    """Every event the app publishes is captured on a Bus and still put on the (emulated) event bus: PutEvents is
    made, counted and traced as in production. Yields the Bus."""
    from unittest import mock

    from chalicelib.core import events

    captured, publish = bus if bus is not None else Bus(), events.publish

    def through(batch):
        batch = list(batch)
        captured.publish(batch)
        publish(batch)

    with contextlib.ExitStack() as patches:
        for where in PUBLISHERS:
            patches.enter_context(mock.patch(where, through))
        yield captured


def bus_down(events):
    """A bus that refuses everything (stand-in for `publish` during an outage)."""
    from chalicelib.core.events import PublishError

    raise PublishError(list(events))


def eventbridge_body(event) -> str:
    """An SQS body as an EventBridge rule delivers it: the whole event, the envelope in `detail`."""
    return json.dumps({"version": "0", "id": uuid.uuid4().hex, "detail-type": event.type, "source": "shop",
                       "account": "123456789012", "time": event.occurredAt, "region": "us-east-1",
                       "resources": [], "detail": event.model_dump(mode="json")})


def sqs_event(client, bodies, queue="shop-local-orders"):
    """An SQS event for the handler; each record gets its own message id (the test client's share one)."""
    event = client.events.generate_sqs_event(message_bodies=list(bodies), queue_name=queue)
    for number, record in enumerate(event["Records"]):
        record["messageId"] = f"message-{number}"
    return event


def deliver(client, bodies):
    response = client.lambda_.invoke("create_orders", sqs_event(client, bodies))
    return response.payload


ERASURES_QUEUE = "shop-local-erasures"


def erased(client, user_id, bodies=None) -> list[dict]:
    """The erasure function run on `user_id`'s UserErased event as its queue delivers it (one message per
    invocation), then on every continuation it sent itself, until none is left. Returns each answer."""
    import boto3

    from chalicelib.core.events import envelope
    from chalicelib.users.events import UserErased

    pending = list(bodies or [eventbridge_body(envelope(UserErased(user_id=user_id), actor=user_id))])
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=ERASURES_QUEUE)["QueueUrl"]
    answers = []
    while pending:
        answers.append(client.lambda_.invoke("erase_users", sqs_event(client, [pending.pop(0)],
                                                                      queue=ERASURES_QUEUE)).payload)
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            pending.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return answers


WEBHOOK_SECRET = "local-webhook-secret"  # the documented local default


def pay(client, order, kind="payment.succeeded", event_id=None, **overrides):
    """The payment provider's signed webhook call for `order` (its total unless overridden)."""
    from chalicelib.payments.signature import sign

    amount = order["total"] if "total" in order else order["subtotal"]
    body = {"id": event_id or f"evt_{uuid.uuid4().hex[:12]}", "type": kind, "orderId": order["id"],
            "amount": amount, "currency": order["currency"], **overrides}
    raw = json.dumps(body).encode()
    response = client.http.post("/webhooks/payments", body=raw, headers={
        "Content-Type": "application/json", "X-Signature": sign(WEBHOOK_SECRET, raw)})
    response.json = json.loads(response.body) if response.body else None
    return response


def stripe_keys_in_the_stages_secret() -> None:
    """The local Stripe's keys in the stage's secret, as the local stack puts them: the functions read them under
    their own roles."""
    import boto3

    from local.stripe import SECRET_KEY, WEBHOOK_SECRET

    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId="shop/local/stripe",
        SecretString=json.dumps({"secretKey": SECRET_KEY, "webhookSecret": WEBHOOK_SECRET}))


def paying_through(local_stripe, monkeypatch) -> None:
    """The stage pays through `local_stripe` (tests/stripe_server.py), with its keys in the stage's secret."""
    from chalicelib.core.settings import reset_settings
    from chalicelib.payments import stripe_adapter

    stripe_keys_in_the_stages_secret()
    monkeypatch.setenv("STRIPE_API_BASE", local_stripe.url)
    reset_settings()
    stripe_adapter.keys.cache_clear()


STRIPE_WEBHOOK_SECRET = "whsec_local_shop"  # the local stack's (local/stripe.py), signing events as Stripe does


def stripe_intent_event(order, kind="payment_intent.succeeded", event_id=None, amount=None, currency=None,
                        error="Your card was declined.") -> dict:
    """Stripe's event about the payment intent of `order` (its total unless `amount` says otherwise)."""
    amount = order["total"] if amount is None else amount
    intent = {"id": f"pi_{order['id'][:20]}", "object": "payment_intent", "amount": amount,
              "currency": (currency or order["currency"]).lower(), "metadata": {"orderId": order["id"]},
              "status": "succeeded" if kind == "payment_intent.succeeded" else "requires_payment_method"}
    if kind == "payment_intent.succeeded":
        intent["amount_received"] = amount
    else:
        intent["last_payment_error"] = {"code": "card_declined", "message": error}
    return {"id": event_id or f"evt_{uuid.uuid4().hex[:16]}", "object": "event", "type": kind,
            "data": {"object": intent}}


def stripe_refund_event(order_id, refund_id, amount, currency, status="succeeded", event_id=None) -> dict:
    return {"id": event_id or f"evt_{uuid.uuid4().hex[:16]}", "object": "event", "type": "refund.updated",
            "data": {"object": {"id": f"re_{refund_id[:20]}", "object": "refund", "amount": amount,
                                "currency": currency.lower(), "status": status,
                                "metadata": {"refundId": refund_id, "orderId": order_id}}}}


def stripe_webhook(client, event: dict, *, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None,
                   header: str | None = None):
    """Stripe's webhook call: `event` signed with the endpoint's secret (`Stripe-Signature`)."""
    from chalicelib.payments.signature import sign

    raw = json.dumps(event).encode()
    response = client.http.post("/webhooks/stripe", body=raw, headers={
        "Content-Type": "application/json",
        "Stripe-Signature": header if header is not None else sign(secret, raw, timestamp)})
    response.json = json.loads(response.body) if response.body else None
    return response


def sweep(client) -> dict:
    """One scheduled run of the housekeeping function, as EventBridge's schedule invokes it."""
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    return client.lambda_.invoke("housekeeping", event).payload


def kept():
    """Events kept in the outbox, not yet on the bus."""
    from chalicelib.core import outbox

    return [event for _, _, event in outbox.unpublished(timedelta(0))]


def swept(client, bus, monkeypatch):
    """The bus is back and the sweeper's grace period has passed: one sweep publishes what was kept."""
    from chalicelib.core.ids import set_clock

    monkeypatch.setattr("chalicelib.core.outbox.publish", bus.publish)
    set_clock(lambda: datetime.now(UTC) + timedelta(minutes=2))
    try:
        first, second = sweep(client)["republished"], sweep(client)["republished"]
    finally:
        set_clock(None)
    assert second == 0  # published once: nothing left for a second sweep
    assert kept() == []
    return first


def placed_order(client, headers, *, quantity=1, price=1000, stock=10, product_id=None, bus=None, promotion=None):
    """A product bought (with a promotion code, if given) and its order created through the real consumer.
    Returns (order, product id)."""
    from unittest import mock

    bus = bus if bus is not None else Bus()
    if product_id is None:
        product_id = product(client, stock=stock, price=price)["id"]
    put_in_basket(client, headers, product_id, quantity)
    if promotion:
        applied = call(client, "put", "/basket/promotion", {"code": promotion}, headers)
        assert applied.status_code == 200, applied.body
    with mock.patch("chalicelib.core.outbox.publish", bus.publish), \
            mock.patch("chalicelib.orders.pipeline.publish", bus.publish):
        accepted = checkout(client, headers).json
        assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    order = call(client, "get", f"/orders/{accepted['orderId']}", headers=headers).json
    return order, product_id
