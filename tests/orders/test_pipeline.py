"""From accepted checkout to order: through the queue, once, whatever the queue does."""
from __future__ import annotations

import json


from tests.fakes import ADMIN, auth
from tests.shop import bus_down, call, checkout, deliver, eventbridge_body, product, put_in_basket, sweep

ANN = auth("ann")



def accepted_checkout(client, bus, quantity=1, price=1000):
    mug = product(client, stock=10, price=price)
    put_in_basket(client, ANN, mug["id"], quantity)
    accepted = checkout(client, ANN).json
    return accepted, bus.of_type("CheckoutRequested")[-1]


def test_a_checkout_message_becomes_a_pending_order(client, bus):
    accepted, event = accepted_checkout(client, bus, quantity=2, price=1500)
    assert deliver(client, [eventbridge_body(event)]) == {"batchItemFailures": []}
    order = call(client, "get", f"/orders/{accepted['orderId']}", headers=ANN).json
    assert order["status"] == "PENDING" and order["subtotal"] == 3000 and order["userId"] == "ann"
    assert order["shippingAddress"]["city"] == "Ghent" and order["items"][0]["quantity"] == 2
    created = bus.of_type("OrderCreated")
    assert len(created) == 1 and created[0].data["orderId"] == accepted["orderId"]
    assert created[0].correlationId == event.correlationId


def test_the_same_message_twice_makes_one_order(client, bus):
    accepted, event = accepted_checkout(client, bus)
    body = eventbridge_body(event)
    assert deliver(client, [body]) == {"batchItemFailures": []}
    assert deliver(client, [eventbridge_body(event)]) == {"batchItemFailures": []}  # a new EventBridge id
    orders = call(client, "get", "/orders", headers=ANN).json["items"]
    assert [o["id"] for o in orders] == [accepted["orderId"]]
    # Announced again with the same event id, so downstream consumers drop the repeat.
    assert len({e.id for e in bus.of_type("OrderCreated")}) == 1


def test_a_poison_message_fails_alone(client, bus):
    _, good = accepted_checkout(client, bus)
    bodies = ["not json", eventbridge_body(good), json.dumps({"detail": {"type": "CheckoutRequested"}})]
    result = deliver(client, bodies)
    assert result == {"batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-2"}]}
    assert len(call(client, "get", "/orders", headers=ANN).json["items"]) == 1


def test_a_forged_order_id_is_poison(client, bus):
    _, event = accepted_checkout(client, bus)
    forged = event.model_copy(update={"data": {**event.data, "orderId": "chosen-by-attacker"}})
    assert deliver(client, [eventbridge_body(forged)])["batchItemFailures"] == [{"itemIdentifier": "message-0"}]


def test_a_failed_announcement_retries_only_those_messages(client, bus, monkeypatch):
    from chalicelib.core.events import PublishError

    _, first = accepted_checkout(client, bus)
    _, second = accepted_checkout(client, bus)

    def bus_refuses_the_first(events):
        events = list(events)
        failed = [e for e in events if e.data["checkoutId"] == first.data["checkoutId"]]
        raise PublishError(failed)

    monkeypatch.setattr("chalicelib.orders.pipeline.publish", bus_refuses_the_first)
    result = deliver(client, [eventbridge_body(first), eventbridge_body(second)])
    assert result == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}


def test_a_batch_of_ten_costs_one_read_a_write_each_and_one_put_events(client, bus, monkeypatch):
    # The read: the batch's addresses from their checkout records (no event carries them). The write: one
    # transaction of the order, the checkout losing its address, and the check that the buyer was not erased.
    events = [accepted_checkout(client, bus)[1] for _ in range(10)]
    from chalicelib.core.aws import client as aws_client

    calls = []
    aws_client("dynamodb").meta.events.register("before-call.dynamodb.*",
                                                lambda model, **kw: calls.append(model.name))
    puts = []
    monkeypatch.setattr("chalicelib.orders.pipeline.publish", lambda evs: puts.append(list(evs)))
    assert deliver(client, [eventbridge_body(e) for e in events]) == {"batchItemFailures": []}
    assert calls == ["BatchGetItem"] + ["TransactWriteItems"] * 10
    assert len(puts) == 1 and len(puts[0]) == 10


def test_outbox_recovers_a_checkout_whose_event_was_not_published(client, bus, monkeypatch):
    from datetime import timedelta

    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    response = checkout(client, ANN)
    assert response.status_code == 202  # accepted all the same

    from chalicelib.core import outbox

    monkeypatch.setattr("chalicelib.core.outbox.publish", bus.publish)
    monkeypatch.setattr("chalicelib.housekeeping.service.OUTBOX_GRACE", timedelta(0))
    sweep(client)
    recovered = bus.of_type("CheckoutRequested")
    assert [e.data["checkoutId"] for e in recovered] == [response.json["checkoutId"]]
    assert outbox.unpublished(timedelta(0)) == []
    deliver(client, [eventbridge_body(recovered[0])])
    assert call(client, "get", f"/orders/{response.json['orderId']}", headers=ANN).status_code == 200


def test_sweeper_leaves_fresh_checkouts_to_their_writer(client, bus, monkeypatch):
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    checkout(client, ANN)
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus.publish)
    assert sweep(client)["republished"] == 0  # younger than the grace period
    assert bus.of_type("CheckoutRequested") == []


def test_orders_are_visible_to_owner_and_staff_only(client, bus):
    accepted, event = accepted_checkout(client, bus)
    deliver(client, [eventbridge_body(event)])
    path = f"/orders/{accepted['orderId']}"
    assert call(client, "get", path, headers=auth("mallory")).status_code == 404
    assert call(client, "get", path, headers=ADMIN).status_code == 200
    assert call(client, "get", path).status_code == 401
    assert call(client, "get", "/orders", headers=auth("mallory")).json["items"] == []
