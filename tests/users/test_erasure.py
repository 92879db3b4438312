"""Erasure that leaves nothing: after DELETE /me and its consumer, no item, login or event holds the person.

Every function runs under its own IAM policy here (tests/stack.py): the request as api_handler, the
orders pipeline as create_orders, the erasure as erase_users, so their policies are proven sufficient.
"""
from __future__ import annotations

import json

import boto3
import pytest

from tests.fakes import ADMIN, auth
from tests.shop import (
    ERASURES_QUEUE,
    call,
    deliver,
    erased,
    eventbridge_body,
    pay,
    product,
    put_in_basket,
    ship_basket,
    sqs_event,
)

EMAIL = "zebulon.quux@example.com"
NAME = "Zebulon Quux"
PHONE = "+32470998877"
SAVED = {"name": "Zebulon Quux", "line1": "77 Erasure Lane", "line2": "Flat 9Z", "city": "Quuxville",
         "postalCode": "QX 4242", "country": "BE"}
INLINE = {"name": "Zed Q Recipient", "line1": "12 Forgotten Road", "city": "Nowhereton",
          "postalCode": "NW 1717", "country": "NL"}
# The customer's own words: a return's reason, which names them (staff read it).
OWN_WORDS = "Wrong size. Zebulon here, ring +32470998877 before collecting from the blue door"
# What no attribute of any item, and no event, may hold once the erasure is done; nor their id, but on the
# tombstone. (The country alone is kept on anonymised orders, as shipping_country, for the books: it names no one.)
PERSONAL = [EMAIL, NAME, PHONE, OWN_WORDS, *(v for a in (SAVED, INLINE) for k, v in a.items() if k != "country")]


def _table():
    return boto3.client("dynamodb", region_name="us-east-1")


def scan_everything() -> list[dict]:
    """Every item of the table (test code runs as the emulator's operator: this Scan is not the app's)."""
    items, start = [], None
    while True:
        page = _table().scan(TableName="shop-local", **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def holding_personal_data(items: list[dict], user_id: str | None = None) -> list[tuple[str, str, str]]:
    """(PK, SK, the personal value found) for every item with any attribute or key, at any depth, holding one
    (with `user_id`, their id too)."""
    found = []
    for item in items:
        text = json.dumps(item).lower()
        found += [(item["PK"]["S"], item["SK"]["S"], value) for value in PERSONAL if value.lower() in text]
        if user_id and _named(item, user_id):
            found.append((item["PK"]["S"], item["SK"]["S"], user_id))
    return found


def _named(value, user_id: str) -> bool:
    return user_id in json.dumps(value)


def _cognito():
    return boto3.client("cognito-idp", region_name="us-east-1")


def _pool_id(aws):
    return aws["user_pool_id"]


def _checkout(client, headers, bus, payload, key):
    ship_basket(client, headers)
    response = call(client, "post", "/basket/checkout", payload, {**headers, "Idempotency-Key": key})
    assert response.status_code == 202, response.body
    return response.json, next(e for e in bus.of_type("CheckoutRequested") if e.data["checkoutId"] ==
                               response.json["checkoutId"])


def _notify(client, event):
    result = client.lambda_.invoke("notify", sqs_event(client, [eventbridge_body(event)],
                                                       queue="shop-local-notify")).payload
    assert result == {"batchItemFailures": []}


def _audit(client, events):
    result = client.lambda_.invoke("record_audit", sqs_event(client, [eventbridge_body(e) for e in events],
                                                             queue="shop-local-audit")).payload
    assert result == {"batchItemFailures": []}


@pytest.fixture
def shopper(client, aws):
    """A registered customer with a name, a phone and a saved address (the login lives in the local pool)."""
    response = call(client, "post", "/auth/register", {"email": EMAIL, "password": "Str0ngpass", "name": NAME})
    assert response.status_code == 201, response.body
    user_id = response.json["userId"]
    headers = auth(user_id, email=EMAIL, name=NAME)
    assert call(client, "patch", "/me", {"phone": PHONE}, headers).status_code == 200
    address = call(client, "post", "/me/addresses", SAVED, headers)
    assert address.status_code == 201, address.body
    return user_id, headers, address.json["id"]


def _advance(client, order_id, *statuses):
    for status in statuses:
        moved = call(client, "post", f"/admin/orders/{order_id}/status", {"status": status}, ADMIN)
        assert moved.status_code == 200, moved.body


def test_after_erasure_no_item_in_any_partition_and_no_later_event_names_the_person(client, aws, bus, shopper):
    """Not their email, name, phone or addresses, not their own words (a return's reason), and not their id:
    profile partition, checkouts (the order's link included), orders, returns, refunds, audit records, events."""
    user_id, headers, address_id = shopper
    mug, pot = product(client, stock=20), product(client, stock=6)  # two of the pot leave it low (LowStock)
    created = call(client, "post", "/admin/promotions", {"code": "ZQ10", "percentOff": 10, "oncePerCustomer": True},
                   ADMIN)
    assert created.status_code == 201, created.body
    # One checkout becomes an order (to the saved address, with a once-per-customer code): paid, delivered,
    # partly returned with the customer's own words, received by staff (restocked, refunded).
    put_in_basket(client, headers, mug["id"], 2)
    assert call(client, "put", "/basket/promotion", {"code": "ZQ10"}, headers).status_code == 200
    first, requested = _checkout(client, headers, bus, {"addressId": address_id}, "erasure-key-0001")
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    _notify(client, bus.of_type("OrderCreated")[-1])
    order = call(client, "get", f"/orders/{first['orderId']}", headers=headers).json
    assert pay(client, order).json["outcome"] == "APPLIED"
    _advance(client, order["id"], "SHIPPED", "DELIVERED")
    asked = call(client, "post", f"/orders/{order['id']}/returns",
                 {"lines": [{"productId": mug["id"], "quantity": 1}], "reason": OWN_WORDS},
                 {**headers, "Idempotency-Key": "erasure-return-0001"})
    assert asked.status_code == 201, asked.body
    assert call(client, "post", f"/admin/returns/{asked.json['id']}/receive", headers=ADMIN).status_code == 200
    # A second one, to an inline address, is still queued when the customer leaves.
    put_in_basket(client, headers, pot["id"], 2)
    second, queued = _checkout(client, headers, bus, {"shippingAddress": INLINE}, "erasure-key-0002")
    assert bus.of_type("LowStock")
    put_in_basket(client, headers, mug["id"], 1)  # and the basket is not empty
    _audit(client, bus.events)  # the audit trail has recorded all of it, naming the customer
    everything = scan_everything()
    assert holding_personal_data(everything, user_id)  # the scan finds the person while they are a customer
    assert {item["PK"]["S"].split("#")[0] for item in everything if _named(item, user_id)} >= {
        "USER", "UNPAID", "CHECKOUT", "ORDER", "RETURN", "AUDITEVENT"}

    published_before = len(bus.events)
    response = call(client, "delete", "/me", headers=headers)
    assert response.status_code == 202 and response.json["status"] == "ERASING"
    assert call(client, "post", "/auth/login", {"email": EMAIL, "password": "Str0ngpass"}).status_code == 401
    (announced,) = bus.of_type("UserErased")
    assert all(answer == {"batchItemFailures": []} for answer in
               erased(client, user_id, [eventbridge_body(announced)]))
    # The queued checkout becomes an order after the erasure ran: it is made anonymised.
    assert deliver(client, [eventbridge_body(queued)]) == {"batchItemFailures": []}
    _notify(client, bus.of_type("OrderCreated")[-1])
    _audit(client, bus.events[published_before:])  # recorded late: the erasure event, the anonymised order

    items = scan_everything()
    assert len(items) > 10
    tombstone = [(item["PK"]["S"], item["SK"]["S"]) for item in items if _named(item, user_id)]
    assert tombstone == [(f"USER#{user_id}", "PROFILE")]  # the erasure's record: its key, no data
    assert holding_personal_data(items, user_id) == [(f"USER#{user_id}", "PROFILE", user_id)]
    # The orders stay for the books: ids, money and items, without the person; so do the return and the refund.
    for accepted, line in ((first, mug), (second, pot)):
        kept = call(client, "get", f"/orders/{accepted['orderId']}", headers=ADMIN).json
        assert (kept["userId"], kept["shippingAddress"], kept["items"][0]["productId"]) == ("erased", None, line["id"])
    returned = call(client, "get", f"/orders/{first['orderId']}/returns", headers=ADMIN).json["items"]
    assert [(r["status"], r["reason"]) for r in returned] == [("RECEIVED", None)]
    refunds = call(client, "get", f"/admin/orders/{first['orderId']}/refunds", headers=ADMIN).json["items"]
    assert len(refunds) == 1 and refunds[0]["amount"] > 0
    audited = call(client, "get", f"/admin/audit?entityType=USER&entityId={user_id}", headers=ADMIN).json
    assert audited["items"] == []
    assert call(client, "get", "/basket", headers=headers).status_code == 401  # the account is gone
    with pytest.raises(_cognito().exceptions.UserNotFoundException):
        _cognito().admin_get_user(UserPoolId=_pool_id(aws), Username=user_id)
    # No event carries personal data or the customer's words; none published since names them but the erasure.
    published = json.dumps([event.model_dump(mode="json") for event in bus.events]).lower()
    assert [value for value in PERSONAL + [OWN_WORDS] if value.lower() in published] == []
    later = [e for e in bus.events[published_before:] if _named(e.model_dump(mode="json"), user_id)]
    assert [e.type for e in later] == ["UserErased"]
    # The bus's archive replayed (every event, the person's id in many): nothing of theirs is written again.
    for event in bus.events:
        if event.type in ("OrderCreated", "OrderStatusChanged"):
            _notify(client, event)
    _audit(client, bus.events)
    assert holding_personal_data(scan_everything(), user_id) == [(f"USER#{user_id}", "PROFILE", user_id)]


def test_a_checkout_queued_before_the_erasure_and_delivered_during_it_is_anonymised(client, aws, bus, shopper,
                                                                                    monkeypatch):
    """The order's write checks the buyer was not erased: a race with the erasure cannot leave an address."""
    _, headers, address_id = shopper
    put_in_basket(client, headers, product(client)["id"], 1)
    accepted, requested = _checkout(client, headers, bus, {"addressId": address_id}, "erasure-key-0003")
    from chalicelib.users.repository import UserRepository

    real = UserRepository.not_erased

    def erased_just_before_the_write(wanted):  # the tombstone lands between the read and the write
        from chalicelib.core.events import envelope
        from chalicelib.users.events import UserErased

        UserRepository().erase_profile(wanted, "2026-11-23T00:00:00.000Z", [envelope(UserErased(user_id=wanted))])
        return real(wanted)

    monkeypatch.setattr(UserRepository, "not_erased", staticmethod(erased_just_before_the_write))
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    kept = call(client, "get", f"/orders/{accepted['orderId']}", headers=ADMIN).json
    assert (kept["userId"], kept["shippingAddress"]) == ("erased", None)
    assert [found for found in holding_personal_data(scan_everything()) if found[0].startswith("CHECKOUT#")] == []


def test_an_order_takes_the_address_off_its_checkout_record_in_the_same_write(client, bus, shopper):
    _, headers, _ = shopper
    put_in_basket(client, headers, product(client)["id"], 1)
    accepted, requested = _checkout(client, headers, bus, {"shippingAddress": INLINE}, "erasure-key-0004")
    assert "shippingAddress" not in requested.data  # the bus never carries it
    record = _table().get_item(TableName="shop-local",
                               Key={"PK": {"S": f"CHECKOUT#{accepted['checkoutId']}"}, "SK": {"S": "CHECKOUT"}})
    assert record["Item"]["shipping_address"]["M"]["line1"] == {"S": INLINE["line1"]}
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    record = _table().get_item(TableName="shop-local",
                               Key={"PK": {"S": f"CHECKOUT#{accepted['checkoutId']}"}, "SK": {"S": "CHECKOUT"}})
    assert "shipping_address" not in record["Item"]
    order = call(client, "get", f"/orders/{accepted['orderId']}", headers=headers).json
    assert order["shippingAddress"]["line1"] == INLINE["line1"]
    # A redelivery finds the order (and no address left to take): one order, its address intact.
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    assert call(client, "get", f"/orders/{accepted['orderId']}", headers=headers).json == order


def _many_orders(user_id: str, count: int) -> list[str]:
    """`count` orders of the user, each with its checkout record holding an address (written directly)."""
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.core.dynamo import to_item
    from chalicelib.orders import keys
    from chalicelib.orders.models import OrderLine, StoredOrder
    from chalicelib.orders.repository import OrderRepository

    ids = []
    for number in range(count):
        checkout_id = f"bulk-checkout-{number:04d}"
        order_id = keys.order_id_for(checkout_id)
        moment = f"2026-11-{1 + number % 20:02d}T10:00:{number % 60:02d}.000Z"
        OrderRepository(ProductRepository()).create(StoredOrder(
            id=order_id, user_id=user_id, status="DELIVERED", subtotal=500, currency="EUR",
            items=[OrderLine(product_id="p", name="Thing", unit_price=500, quantity=1, line_total=500)],
            shipping_address=SAVED, checkout_id=checkout_id, created_at=moment, updated_at=moment))
        _table().put_item(TableName="shop-local", Item=to_item({
            "PK": keys.checkout_pk(checkout_id), "SK": keys.CHECKOUT_SK, "type": "CHECKOUT",
            "checkout_id": checkout_id, "order_id": order_id, "user_id": user_id, "shipping_address": SAVED}))
        ids.append(order_id)
    return ids


def test_a_customer_with_many_orders_is_erased_over_several_invocations_that_resume(client, aws, bus, shopper,
                                                                                 monkeypatch):
    user_id, headers, _ = shopper
    orders = _many_orders(user_id, 100)
    assert call(client, "delete", "/me", headers=headers).status_code == 202
    invocations = []

    def little_time(remaining_ms):  # each invocation may start about 30 items, then must continue later
        invocations.append(0)
        left = [30]

        def has_time():
            left[0] -= 1
            return left[0] > 0
        return has_time

    monkeypatch.setattr("chalicelib.users.erasure.time_budget", little_time)
    answers = erased(client, user_id)
    assert len(answers) >= 4 and all(answer == {"batchItemFailures": []} for answer in answers)
    assert holding_personal_data(scan_everything()) == []
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.orders.repository import OrderRepository

    assert {OrderRepository(ProductRepository()).get(order_id).user_id for order_id in orders} == {"erased"}
    tombstone = _table().get_item(TableName="shop-local", Key={"PK": {"S": f"USER#{user_id}"}, "SK": {"S": "PROFILE"}})
    assert "erasure_completed_at" in tombstone["Item"]


def test_the_same_erasure_delivered_twice_changes_state_once(client, aws, bus, shopper):
    user_id, headers, _ = shopper
    _many_orders(user_id, 3)
    assert call(client, "delete", "/me", headers=headers).status_code == 202
    (announced,) = bus.of_type("UserErased")
    body = eventbridge_body(announced)
    assert all(answer == {"batchItemFailures": []} for answer in erased(client, user_id, [body]))
    after_first = sorted(scan_everything(), key=lambda item: (item["PK"]["S"], item["SK"]["S"]))
    assert erased(client, user_id, [body]) == [{"batchItemFailures": []}]
    assert sorted(scan_everything(), key=lambda item: (item["PK"]["S"], item["SK"]["S"])) == after_first
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=ERASURES_QUEUE)["QueueUrl"]
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []  # nothing left to continue


def test_an_event_that_is_not_an_erasure_fails_only_its_message(client):
    from chalicelib.core.events import envelope
    from chalicelib.users.events import UserRegistered

    event = envelope(UserRegistered(user_id="someone"))
    answer = client.lambda_.invoke("erase_users", sqs_event(client, [eventbridge_body(event)], queue=ERASURES_QUEUE))
    assert answer.payload == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}


def test_a_checkouts_event_published_between_the_erasures_read_and_write_still_leaves_nothing_of_the_buyer(
        client, aws, bus, shopper, monkeypatch):
    """The erasure rewrites an event still kept on the checkout record only as it read it: published meanwhile
    (the mark cleared), the record is read again and rid of the buyer all the same."""
    import chalicelib.orders.repository as orders_repository
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.core.outbox import mark_published
    from chalicelib.orders import keys
    from chalicelib.orders.repository import CheckoutRepository

    user_id, headers, address_id = shopper
    put_in_basket(client, headers, product(client)["id"], 1)
    ship_basket(client, headers)
    monkeypatch.setattr("chalicelib.core.outbox.publish", lambda events: (_ for _ in ()).throw(RuntimeError()))
    accepted = call(client, "post", "/basket/checkout", {"addressId": address_id},
                    {**headers, "Idempotency-Key": "erasure-key-0005"}).json  # the bus is down: the event is kept
    pk = keys.checkout_pk(accepted["checkoutId"])
    real, competed = orders_repository.rewrite_kept_event, []

    def published_meanwhile(item, *args):
        if not competed:
            competed.append(mark_published(pk, keys.CHECKOUT_SK))  # the sweeper publishes it now
        return real(item, *args)

    monkeypatch.setattr(orders_repository, "rewrite_kept_event", published_meanwhile)
    assert CheckoutRepository(ProductRepository()).forget_buyer(accepted["checkoutId"], user_id) is True
    record = _table().get_item(TableName="shop-local", Key={"PK": {"S": pk}, "SK": {"S": "CHECKOUT"}})["Item"]
    assert competed and "outbox_event" not in record and not _named(record, user_id)
    assert "shipping_address" not in record and record["user_id"] == {"S": "erased"}


def _refunded_with_its_event_kept(client, bus, shopper, monkeypatch, checkout_key, refund_key):
    """The shopper's paid order and a refund of it whose event the outbox still keeps (publishing fails)."""
    user_id, headers, _ = shopper
    put_in_basket(client, headers, product(client)["id"], 1)
    accepted, requested = _checkout(client, headers, bus, {"shippingAddress": INLINE}, f"erasure-key-{checkout_key}")
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    order = call(client, "get", f"/orders/{accepted['orderId']}", headers=headers).json
    assert pay(client, order).json["outcome"] == "APPLIED"
    monkeypatch.setattr("chalicelib.core.outbox.publish", lambda events: (_ for _ in ()).throw(RuntimeError()))
    refund = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"reason": "damaged"},
                  {**ADMIN, "Idempotency-Key": refund_key})
    assert refund.status_code == 201, refund.body
    return user_id, order


def test_a_refund_whose_event_is_still_kept_is_rid_of_the_customer_and_its_event_too(client, aws, bus, shopper,
                                                                                     monkeypatch):
    from chalicelib.payments.repository import RefundRepository

    user_id, order = _refunded_with_its_event_kept(client, bus, shopper, monkeypatch, "0006", "erasure-refund-1")
    RefundRepository().forget_customer(order["id"], user_id)
    kept = [item for item in scan_everything() if item["SK"]["S"].startswith("REFUND#")]
    assert len(kept) == 1 and "outbox_event" in kept[0] and not _named(kept[0], user_id)
    assert json.loads(kept[0]["outbox_event"]["S"])["data"]["userId"] == "erased"


def test_a_refunds_event_published_between_the_erasures_read_and_write_still_leaves_nothing_of_the_customer(
        client, aws, bus, shopper, monkeypatch):
    import chalicelib.payments.repository as payments_repository
    from chalicelib.core.outbox import mark_published
    from chalicelib.payments.repository import RefundRepository

    user_id, order = _refunded_with_its_event_kept(client, bus, shopper, monkeypatch, "0007", "erasure-refund-2")
    (refund,) = [item for item in scan_everything() if item["SK"]["S"].startswith("REFUND#")]
    real, competed = payments_repository.rewrite_kept_event, []

    def published_meanwhile(item, *args):
        if not competed:
            competed.append(mark_published(refund["PK"]["S"], refund["SK"]["S"]))
        return real(item, *args)

    monkeypatch.setattr(payments_repository, "rewrite_kept_event", published_meanwhile)
    RefundRepository().forget_customer(order["id"], user_id)
    (kept,) = [item for item in scan_everything() if item["SK"]["S"].startswith("REFUND#")]
    assert competed and "outbox_event" not in kept and not _named(kept, user_id)
