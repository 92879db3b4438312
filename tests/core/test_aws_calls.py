"""Every operation makes the AWS calls its access pattern needs (docs/access-patterns.md), no more:
the same operations and minimums as `make bench` (tools/bench.py MINIMUM)."""
from __future__ import annotations

import uuid

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import (
    ADDRESS,
    call,
    checkout,
    eventbridge_body,
    pay,
    placed_order,
    product,
    put_in_basket,
    ship_basket,
    sqs_event,
)
from tools.bench import MINIMUM

ANN = auth("calls-ann")


@pytest.fixture
def calls(client):
    from chalicelib.core.aws import client as aws_client

    made: list[str] = []
    for service in ("dynamodb", "events", "cognito-idp"):
        aws_client(service).meta.events.register(f"before-call.{service}.*",
                                                 lambda model, **kw: made.append(model.name))
    return made


def measured(calls, label, expected, operation):
    calls.clear()
    response = operation()
    assert calls == expected, label
    assert len(calls) == MINIMUM[label], label
    return response


def test_each_operation_makes_the_calls_its_access_pattern_needs(client, calls, published):
    mug = product(client, stock=1000, price=100)
    measured(calls, "GET /products/{id}", ["GetItem", "BatchGetItem"],  # its item, then its sale records
             lambda: call(client, "get", f"/products/{mug['id']}"))
    measured(calls, "GET /orders (account not cached)", ["GetItem", "Query"],
             lambda: call(client, "get", "/orders", headers=ANN))
    measured(calls, "PUT /basket/items/{id}", ["GetItem", "BatchGetItem", "TransactWriteItems"],
             lambda: put_in_basket(client, ANN, mug["id"], 1))
    measured(calls, "GET /basket", ["GetItem", "BatchGetItem"], lambda: call(client, "get", "/basket", headers=ANN))
    call(client, "get", "/basket", headers=ADMIN)  # the admin's account status, remembered
    measured(calls, "PUT /admin/tax-rates/{zone}/{tax_class}", ["GetItem", "TransactWriteItems", "PutEvents",
                                                                 "UpdateItem"],
             lambda: call(client, "put", "/admin/tax-rates/BE/standard", {"ratePercent": 21}, ADMIN))
    measured(calls, "GET /admin/tax-rates", ["Query"], lambda: call(client, "get", "/admin/tax-rates", headers=ADMIN))
    method = measured(calls, "POST /admin/shipping-methods", ["TransactWriteItems", "PutEvents", "UpdateItem"],
                      lambda: call(client, "post", "/admin/shipping-methods",
                                   {"name": "Calls", "zones": ["BE"], "rates": [{"currency": "EUR", "amount": 0}]},
                                   ADMIN)).json
    measured(calls, "PATCH /admin/shipping-methods/{id}", ["GetItem", "TransactWriteItems", "PutEvents", "UpdateItem"],
             lambda: call(client, "patch", f"/admin/shipping-methods/{method['id']}", {"minDays": 1}, ADMIN))
    # where the basket ships: the rates of its zones and its method are read with its products, no call more
    measured(calls, "PUT /basket/shipping-address", ["Query", "GetItem", "BatchGetItem", "TransactWriteItems"],
             lambda: call(client, "put", "/basket/shipping-address", ADDRESS, ANN))
    # the methods' list as this container read it for the address (core/read_cache.py)
    measured(calls, "GET /basket/shipping-methods", ["GetItem", "BatchGetItem"],
             lambda: call(client, "get", "/basket/shipping-methods", headers=ANN))
    measured(calls, "PUT /basket/shipping-method", ["GetItem", "BatchGetItem", "TransactWriteItems"],
             lambda: call(client, "put", "/basket/shipping-method", {"id": method["id"]}, ANN))
    accepted = measured(calls, "POST /basket/checkout",
                        ["GetItem", "BatchGetItem", "TransactWriteItems", "PutEvents", "UpdateItem"],
                        lambda: checkout(client, ANN, ship=False)).json
    requested = [published.of_type("CheckoutRequested")[-1]]
    for _ in range(9):
        put_in_basket(client, ANN, mug["id"], 1)
        checkout(client, ANN, key=uuid.uuid4().hex)
        requested.append(published.of_type("CheckoutRequested")[-1])
    answer = measured(calls, "create_orders (10 messages)",
                      ["BatchGetItem"] + ["TransactWriteItems"] * 10 + ["PutEvents"],
                      lambda: client.lambda_.invoke("create_orders", sqs_event(
                          client, [eventbridge_body(e) for e in requested])).payload)
    assert answer == {"batchItemFailures": []}
    measured(calls, "GET /orders", ["Query"], lambda: call(client, "get", "/orders", headers=ANN))
    order = call(client, "get", f"/orders/{accepted['orderId']}", headers=ANN).json
    paid = measured(calls, "POST /webhooks/payments", ["GetItem", "TransactWriteItems", "PutEvents",
                                                       "TransactWriteItems"], lambda: pay(client, order))
    assert paid.status_code == 200 and paid.json["orderStatus"] == "PAID"
    # the order with its shipment of everything; its two events (ShipmentCreated, OrderStatusChanged) published,
    # their marks cleared in one transaction
    shipped = measured(calls, "POST /admin/orders/{id}/status",
                       ["GetItem", "TransactWriteItems", "PutEvents", "TransactWriteItems"],
                       lambda: call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "SHIPPED"},
                                    ADMIN))
    assert shipped.status_code == 200, shipped.body
    refund = measured(calls, "POST /admin/orders/{id}/refunds",
                      ["GetItem", "TransactWriteItems", "PutEvents", "UpdateItem"],
                      lambda: call(client, "post", f"/admin/orders/{order['id']}/refunds",
                                   {"amount": 10, "reason": "calls"}, {**ADMIN, "Idempotency-Key": uuid.uuid4().hex}))
    assert refund.status_code == 201, refund.body
    confirmed = measured(calls, "POST /webhooks/payments (refund.succeeded)",
                         ["BatchGetItem", "TransactWriteItems", "PutEvents", "UpdateItem"],
                         lambda: pay(client, order, "refund.succeeded", refundId=refund.json["id"], amount=10))
    assert confirmed.status_code == 200 and confirmed.json["outcome"] == "APPLIED", confirmed.body
    arrived = measured(calls, "POST /admin/orders/{id}/shipments/{shipment_id}/delivered",
                       ["GetItem", "TransactWriteItems", "PutEvents", "TransactWriteItems"],
                       lambda: call(client, "post", f"/admin/orders/{order['id']}/shipments/"
                                                    f"{shipped.json['shipments'][0]['id']}/delivered", headers=ADMIN))
    assert arrived.status_code == 200, arrived.body
    second = call(client, "get", f"/orders/{requested[1].data['orderId']}", headers=ANN).json
    assert pay(client, second).json["orderStatus"] == "PAID"
    parcel = measured(calls, "POST /admin/orders/{id}/shipments",
                      ["GetItem", "TransactWriteItems", "PutEvents", "TransactWriteItems"],
                      lambda: call(client, "post", f"/admin/orders/{second['id']}/shipments",
                                   {"carrier": "DHL", "trackingNumber": "JD0146"},
                                   {**ADMIN, "Idempotency-Key": uuid.uuid4().hex}))
    assert parcel.status_code == 201, parcel.body
    returned = measured(calls, "POST /orders/{id}/returns", ["GetItem", "TransactWriteItems", "PutEvents",
                                                             "UpdateItem"],
                        lambda: call(client, "post", f"/orders/{order['id']}/returns",
                                     {"lines": [{"productId": mug["id"], "quantity": 1}], "reason": "calls"},
                                     {**ANN, "Idempotency-Key": uuid.uuid4().hex}))
    assert returned.status_code == 201, returned.body
    call(client, "post", "/admin/promotions", {"code": "CALLS10", "percentOff": 10, "oncePerCustomer": True}, ADMIN)
    put_in_basket(client, ANN, mug["id"], 1)
    applied = measured(calls, "PUT /basket/promotion", ["GetItem", "BatchGetItem", "TransactWriteItems"],
                       lambda: call(client, "put", "/basket/promotion", {"code": "CALLS10"}, ANN))
    assert applied.status_code == 200 and applied.json["discount"] == 10, applied.body
    ship_basket(client, ANN, method_id=method["id"])
    redeemed = measured(calls, "POST /basket/checkout (with a promotion)",
                        ["GetItem", "BatchGetItem", "TransactWriteItems", "PutEvents", "UpdateItem"],
                        lambda: checkout(client, ANN, ship=False))
    assert redeemed.status_code == 202, redeemed.body


def test_a_repeated_payment_answers_from_the_ledger_and_changes_nothing(client, calls):
    order, _ = placed_order(client, ANN, price=100)
    assert pay(client, order, event_id="evt-twice").json["duplicate"] is False
    calls.clear()
    again = pay(client, order, event_id="evt-twice")
    assert again.status_code == 200 and again.json["duplicate"] is True and again.json["orderStatus"] == "PAID"
    # the order, the write the ledger's condition refuses, the ledger record it answers from
    assert calls == ["GetItem", "TransactWriteItems", "GetItem"]


def test_the_address_of_a_message_the_batch_read_left_out_is_read_on_its_own(client, monkeypatch):
    from chalicelib.orders.repository import CheckoutRepository

    monkeypatch.setattr(CheckoutRepository, "shipping_addresses", lambda self, ids: {})
    order, _ = placed_order(client, ANN, price=100)
    assert order["shippingAddress"]["line1"] == ADDRESS["line1"]
