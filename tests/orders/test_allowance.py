"""The unpaid allowance: one customer holds at most MAX_UNPAID_ORDERS orders awaiting payment and
MAX_UNPAID_UNITS units reserved by them, counted inside the checkout transaction and given back in
the transaction that takes an order out of PENDING (paid, cancelled, failed or expired)."""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import (
    ADDRESS,
    call,
    checkout,
    deliver,
    eventbridge_body,
    pay,
    product,
    put_in_basket,
    ready_to_ship,
    stock_of,
    sweep,
)

ANN = auth("ann")


@pytest.fixture
def small_allowance(monkeypatch):
    from chalicelib.core.settings import reset_settings

    monkeypatch.setenv("MAX_UNPAID_ORDERS", "2")
    monkeypatch.setenv("MAX_UNPAID_UNITS", "10")
    reset_settings()
    yield
    reset_settings()


def allowance_of(user_id):
    from chalicelib.core.dynamo import ddb, from_item, key, table_name

    item = ddb().get_item(TableName=table_name(), Key=key(f"UNPAID#{user_id}", "UNPAID")).get("Item")
    stored = from_item(item) if item else {}
    return int(stored.get("unpaid_orders", 0)), int(stored.get("unpaid_units", 0))


def bought(client, bus, headers, product_id, quantity=1):
    """Basket, checkout and the order made by the consumer: the accepted checkout's order."""
    put_in_basket(client, headers, product_id, quantity)
    accepted = checkout(client, headers)
    assert accepted.status_code == 202, accepted.body
    assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    return call(client, "get", f"/orders/{accepted.json['orderId']}", headers=headers).json


def test_a_customer_at_the_limit_is_refused_and_nothing_is_reserved(client, bus, small_allowance):
    thing = product(client, stock=20)["id"]
    bought(client, bus, ANN, thing, 2)
    bought(client, bus, ANN, thing, 3)
    assert allowance_of("ann") == (2, 5)

    put_in_basket(client, ANN, thing, 1)
    refused = checkout(client, ANN)
    assert refused.status_code == 409
    error = refused.json["error"]
    assert error["code"] == "TOO_MANY_UNPAID_ORDERS"
    assert error["details"][0]["heldOrders"] == 2 and error["details"][0]["maxOrders"] == 2
    # Nothing of the refused checkout happened: stock, basket and allowance as they were.
    assert stock_of(client, thing) == 15
    assert call(client, "get", "/basket", headers=ANN).json["items"][0]["quantity"] == 1
    assert allowance_of("ann") == (2, 5)
    assert len(bus.of_type("CheckoutRequested")) == 2


def test_paying_cancelling_or_expiring_gives_the_allowance_back(client, bus, small_allowance, monkeypatch):
    thing = product(client, stock=20)["id"]
    first = bought(client, bus, ANN, thing)
    second = bought(client, bus, ANN, thing)

    assert pay(client, first).status_code == 200
    assert allowance_of("ann") == (1, 1)
    third = bought(client, bus, ANN, thing)

    assert call(client, "post", f"/orders/{second['id']}/cancel", headers=ANN).status_code == 200
    assert allowance_of("ann") == (1, 1)
    bought(client, bus, ANN, thing)

    monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: "9999-01-01T00:00:00.000Z")
    sweep(client)
    assert call(client, "get", f"/orders/{third['id']}", headers=ANN).json["status"] == "CANCELLED"
    assert allowance_of("ann") == (0, 0)


def test_a_payment_failure_gives_the_allowance_back_once(client, bus, small_allowance):
    thing = product(client, stock=20)["id"]
    order = bought(client, bus, ANN, thing, 4)
    for _ in range(2):  # the provider repeats itself with new event ids; the order moves once
        assert pay(client, order, "payment.failed").status_code == 200
    assert allowance_of("ann") == (0, 0)


def test_units_are_bounded_per_order_and_across_unpaid_orders(client, bus, small_allowance):
    thing = product(client, stock=50)["id"]
    put_in_basket(client, ANN, thing, 11)
    alone = checkout(client, ANN)
    assert alone.status_code == 409 and alone.json["error"]["code"] == "TOO_MANY_UNITS"

    put_in_basket(client, ANN, thing, 7)
    checkout(client, ANN)
    put_in_basket(client, ANN, thing, 4)
    together = checkout(client, ANN)
    assert together.status_code == 409 and together.json["error"]["code"] == "TOO_MANY_UNITS"
    assert together.json["error"]["details"][0]["heldUnits"] == 7
    put_in_basket(client, ANN, thing, 3)
    assert checkout(client, ANN).status_code == 202
    assert allowance_of("ann") == (2, 10)
    assert stock_of(client, thing) == 40


def test_retrying_an_accepted_checkout_at_the_limit_answers_its_first_result(client, bus, small_allowance):
    thing = product(client, stock=20)["id"]
    bought(client, bus, ANN, thing)
    put_in_basket(client, ANN, thing, 1)
    key = uuid.uuid4().hex
    first = checkout(client, ANN, key=key)
    assert first.status_code == 202
    # At the limit now; the same key and body is a retry, not a third order.
    put_in_basket(client, ANN, thing, 1)
    again = checkout(client, ANN, key=key)
    assert again.status_code == 202 and again.json == first.json
    assert allowance_of("ann") == (2, 2)


def test_one_customers_allowance_is_not_anothers(client, bus, small_allowance):
    thing = product(client, stock=20)["id"]
    bought(client, bus, ANN, thing)
    bought(client, bus, ANN, thing)
    bob = auth("bob")
    bought(client, bus, bob, thing)
    assert allowance_of("bob") == (1, 1)


def test_orders_from_before_the_allowance_give_nothing_back(client, bus, small_allowance):
    """Orders of checkouts accepted before the allowance existed hold none: leaving PENDING must not
    push their buyer's count below what they really hold."""
    from chalicelib.core.dynamo import ddb, key, table_name

    thing = product(client, stock=20)["id"]
    old = bought(client, bus, ANN, thing)
    ddb().update_item(TableName=table_name(), Key=key(f"ORDER#{old['id']}", "ORDER"),
                      UpdateExpression="REMOVE holds_allowance")
    ddb().update_item(TableName=table_name(), Key=key("UNPAID#ann", "UNPAID"),
                      UpdateExpression="SET unpaid_orders = :zero, unpaid_units = :zero",
                      ExpressionAttributeValues={":zero": {"N": "0"}})
    assert pay(client, old).status_code == 200
    assert allowance_of("ann") == (0, 0)


def test_staff_moving_an_order_out_of_pending_gives_it_back(client, bus, small_allowance):
    thing = product(client, stock=20)["id"]
    order = bought(client, bus, ANN, thing, 2)
    moved = call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "PAID"}, ADMIN)
    assert moved.status_code == 200
    shipped = call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "SHIPPED"}, ADMIN)
    assert shipped.status_code == 200
    assert allowance_of("ann") == (0, 0)


# --- races ------------------------------------------------------------------------------------

def test_a_slot_freed_between_the_checkouts_reads_and_its_write_is_used(client, bus, small_allowance,
                                                                        monkeypatch):
    """The checkout judges nothing about the allowance from a read: the transaction's condition does,
    so a payment landing after the checkout read the basket and the products still counts."""
    from chalicelib.orders.repository import CheckoutRepository

    thing = product(client, stock=20)["id"]
    first = bought(client, bus, ANN, thing)
    bought(client, bus, ANN, thing)
    put_in_basket(client, ANN, thing, 1)
    original = CheckoutRepository.commit

    def paid_just_before(self, **kwargs):
        assert pay(client, first).status_code == 200
        return original(self, **kwargs)

    monkeypatch.setattr(CheckoutRepository, "commit", paid_just_before)
    assert checkout(client, ANN).status_code == 202
    assert allowance_of("ann") == (2, 2)


def test_the_last_slot_taken_between_the_checkouts_reads_and_its_write_refuses_it(client, bus, small_allowance,
                                                                                  monkeypatch):
    """Another device of the same customer takes the last slot after this checkout priced its basket:
    the transaction refuses this one whole (the basket, the stock and the count stay as they are)."""
    from chalicelib.core.dynamo import ddb, key, table_name
    from chalicelib.orders.repository import CheckoutRepository

    thing = product(client, stock=20)["id"]
    bought(client, bus, ANN, thing)
    put_in_basket(client, ANN, thing, 1)
    original = CheckoutRepository.commit

    def other_device_first(self, **kwargs):
        # What the other device's accepted checkout wrote to the allowance (its basket is another story).
        ddb().update_item(TableName=table_name(), Key=key("UNPAID#ann", "UNPAID"),
                          UpdateExpression="ADD unpaid_orders :one, unpaid_units :one",
                          ExpressionAttributeValues={":one": {"N": "1"}})
        return original(self, **kwargs)

    monkeypatch.setattr(CheckoutRepository, "commit", other_device_first)
    refused = checkout(client, ANN)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "TOO_MANY_UNPAID_ORDERS"
    assert stock_of(client, thing) == 19
    assert allowance_of("ann") == (2, 2)


def test_concurrent_payments_cancellations_and_a_checkout_keep_the_count_exact(aws, small_allowance,
                                                                               atomic_dynamodb):
    """Everything that moves the allowance at once, for real threads: the count ends equal to the
    orders still PENDING, whoever won."""
    from chalicelib.catalogue.models import ProductCreate
    from chalicelib.composition import Services
    from chalicelib.core.auth import Caller
    from chalicelib.core.errors import AppError
    from chalicelib.core.events import Envelope
    from chalicelib.orders.models import CheckoutRequest
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.orders.repository import OrderRepository

    ann = Caller(user_id="ann")
    thing = Services().catalogue.create(ProductCreate(name="Racy", category="race", price=500, currency="EUR",
                                                      stock=50), actor="admin")
    request = CheckoutRequest.model_validate({"shippingAddress": ADDRESS})
    captured: list[Envelope] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chalicelib.core.outbox.publish", captured.extend)
        orders = []
        for _ in range(2):
            Services().baskets.set_quantity("ann", thing.id, 2)
            ready_to_ship("ann")
            accepted = Services().checkouts.checkout(ann, uuid.uuid4().hex, request)
            event = next(e for e in captured if e.type == "CheckoutRequested" and e.data["orderId"] == accepted.order_id)
            orders.append(Services().orders.create_from_checkout(event)[0])
        Services().baskets.set_quantity("ann", thing.id, 1)
        ready_to_ship("ann")

        start, outcomes = threading.Barrier(3), []

        def attempt(name, action):
            start.wait()
            try:
                action()
                outcomes.append(name)
            except AppError as exc:
                outcomes.append(f"{name} refused: {exc.code}")

        threads = [
            threading.Thread(target=attempt, args=("cancel", lambda: Services().orders.cancel_own(ann, orders[0].id))),
            threading.Thread(target=attempt, args=("fail", lambda: Services().orders.set_status(
                Caller(user_id="admin-1", groups=frozenset({"admin"})), orders[1].id,
                _status("PAYMENT_FAILED")))),
            threading.Thread(target=attempt, args=("checkout", lambda: Services().checkouts.checkout(
                ann, uuid.uuid4().hex, request))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    stored = OrderRepository(ProductRepository())
    pending_orders = [o for o in (stored.get(o.id) for o in orders) if o.status == "PENDING"]
    accepted_now = 1 if "checkout" in outcomes else 0  # its order is not made yet: it still holds a slot
    held = (len(pending_orders) + accepted_now,
            sum(o.units for o in pending_orders) + accepted_now)
    assert allowance_of("ann") == held, outcomes


def _status(status):
    from chalicelib.orders.models import StatusChange

    return StatusChange(status=status)

