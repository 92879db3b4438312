"""Money and order state under interleavings: a competitor writes between a reader and its conditional write.

`between(...)` runs the competitor right before the first conditional write of the method it
wraps, after that writer has read and judged; everything else runs as the functions run it
(HTTP as the API, sweeps as the housekeeping function, each under its own IAM policy).
"""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.fakes import ADMIN, auth
from tests.shop import (
    call,
    checkout,
    deliver,
    eventbridge_body,
    pay,
    placed_order,
    product,
    put_in_basket,
    ship_basket,
    stock_of,
    sweep,
)

ANN = auth("ann")
OVERDUE = "9999-01-01T00:00:00.000Z"


def order_of(client, order):
    return call(client, "get", f"/orders/{order['id']}", headers=ADMIN).json


def make_overdue(monkeypatch):
    monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: OVERDUE)


# --- the sweeper and payments ---------------------------------------------------------------

def test_payment_landing_between_sweeper_read_and_write_keeps_order_paid(client, bus, monkeypatch, between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = placed_order(client, ANN, quantity=2, stock=5)
    make_overdue(monkeypatch)
    paid = {}
    between(OrderRepository, "save", lambda: paid.update(response=pay(client, order)))
    report = sweep(client)
    assert paid["response"].json["outcome"] == "APPLIED"
    assert report["cancelledUnpaid"] == 0 and report["failures"] == 0
    kept = order_of(client, order)
    assert (kept["status"], kept["refundDue"]) == ("PAID", False)
    assert stock_of(client, product_id) == 3  # still reserved for the paid order


def test_sweeper_expiring_between_payment_read_and_write_records_money_to_give_back(client, bus, monkeypatch,
                                                                                    between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = placed_order(client, ANN, quantity=2, stock=5)

    def sweeper_first():
        with monkeypatch.context() as late:
            make_overdue(late)
            assert sweep(client)["cancelledUnpaid"] == 1

    between(OrderRepository, "save", sweeper_first)
    response = pay(client, order)
    assert response.status_code == 200
    assert (response.json["outcome"], response.json["orderStatus"], response.json["refundDue"]) == (
        "REFUND_DUE", "CANCELLED", True)
    assert order_of(client, order)["refundDue"] is True
    assert stock_of(client, product_id) == 5  # returned once, by the expiry


# --- customers, staff and payments ----------------------------------------------------------

def test_customer_cancel_losing_to_a_payment_cancels_the_paid_order_and_flags_the_refund(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = placed_order(client, ANN, quantity=1, stock=4)
    between(OrderRepository, "save", lambda: pay(client, order))
    response = call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN)
    assert response.status_code == 200
    assert (response.json["status"], response.json["refundDue"]) == ("CANCELLED", True)
    assert stock_of(client, product_id) == 4


def test_payment_losing_to_a_customer_cancel_is_recorded_as_money_to_give_back(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = placed_order(client, ANN, quantity=1, stock=4)
    between(OrderRepository, "save",
            lambda: call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN))
    response = pay(client, order)
    assert response.status_code == 200 and response.json["outcome"] == "REFUND_DUE"
    assert (order_of(client, order)["status"], order_of(client, order)["refundDue"]) == ("CANCELLED", True)
    assert stock_of(client, product_id) == 4


def test_two_staff_acting_on_the_same_order_one_is_told_to_reload(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, _ = placed_order(client, ANN)
    assert pay(client, order).json["orderStatus"] == "PAID"
    shipped = {}
    between(OrderRepository, "save", lambda: shipped.update(response=call(
        client, "post", f"/admin/orders/{order['id']}/status", {"status": "SHIPPED"}, ADMIN)))
    response = call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "CANCELLED"}, ADMIN)
    assert shipped["response"].status_code == 200
    assert response.status_code == 409 and response.json["error"]["code"] == "VERSION_CONFLICT"
    assert order_of(client, order)["status"] == "SHIPPED"


def test_a_failure_landing_before_a_success_is_written_leaves_the_success_to_give_back(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = placed_order(client, ANN, quantity=1, stock=2)
    between(OrderRepository, "save", lambda: pay(client, order, "payment.failed"))
    success = pay(client, order)
    assert (success.status_code, success.json["outcome"]) == (200, "REFUND_DUE")
    final = order_of(client, order)
    assert (final["status"], final["refundDue"]) == ("PAYMENT_FAILED", True)
    assert stock_of(client, product_id) == 2


def test_a_success_landing_before_a_failure_is_written_leaves_the_order_paid(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = placed_order(client, ANN, quantity=1, stock=2)
    between(OrderRepository, "save", lambda: pay(client, order))
    failure = pay(client, order, "payment.failed")
    assert (failure.status_code, failure.json["outcome"], failure.json["orderStatus"]) == (200, "IGNORED", "PAID")
    final = order_of(client, order)
    assert (final["status"], final["refundDue"]) == ("PAID", False)
    assert stock_of(client, product_id) == 1


def test_the_same_provider_event_delivered_twice_at_once_is_recorded_once(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, _ = placed_order(client, ANN)
    first = {}
    between(OrderRepository, "save", lambda: first.update(response=pay(client, order, event_id="evt_twice")))
    second = pay(client, order, event_id="evt_twice")
    assert first["response"].json["duplicate"] is False
    assert second.status_code == 200 and second.json["duplicate"] is True and second.json["outcome"] == "APPLIED"
    assert [p["id"] for p in order_of(client, order)["payments"]] == ["evt_twice"]
    assert len(bus.of_type("PaymentRecorded")) == 1


# --- the order pipeline ---------------------------------------------------------------------

def test_a_redelivered_message_racing_the_first_delivery_makes_one_order(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    checkout(client, ANN)
    body = eventbridge_body(bus.of_type("CheckoutRequested")[-1])
    redelivered = {}
    between(OrderRepository, "create", lambda: redelivered.update(result=deliver(client, [body])))
    assert deliver(client, [body]) == {"batchItemFailures": []}
    assert redelivered["result"] == {"batchItemFailures": []}
    orders = call(client, "get", "/orders", headers=ANN).json["items"]
    assert len(orders) == 1
    assert len({e.id for e in bus.of_type("OrderCreated")}) == 1


# --- a payment ahead of its order -----------------------------------------------------------

def checked_out_not_delivered(client, bus, quantity=2, stock=5):
    """A checkout accepted and its CheckoutRequested still queued. Returns (what the provider is paid for,
    the queued event, the product id)."""
    mug = product(client, stock=stock)
    put_in_basket(client, ANN, mug["id"], quantity)
    accepted = checkout(client, ANN).json
    requested = bus.of_type("CheckoutRequested")[-1]
    assert requested.data["orderId"] == accepted["orderId"]
    return ({"id": accepted["orderId"], "total": requested.data["total"], "currency": requested.data["currency"]},
            requested, mug["id"])


def test_a_payment_arriving_before_its_order_is_created_pays_the_order(client, bus):
    from chalicelib.orders import keys

    paid_for, requested, product_id = checked_out_not_delivered(client, bus)
    response = pay(client, paid_for)
    assert response.status_code == 200
    assert (response.json["outcome"], response.json["orderStatus"], response.json["refundDue"]) == (
        "APPLIED", "PAID", False)
    order = order_of(client, paid_for)
    assert (order["status"], order["capturedAmount"], order["refundDue"]) == ("PAID", 2000, False)
    assert order["createdAt"] == requested.data["createdAt"] and order["shippingAddress"]["city"] == "Ghent"
    announced = keys.event_id_for("OrderCreated", paid_for["id"])
    assert [e.id for e in bus.of_type("OrderCreated")] == [announced]
    # The queue delivers the checkout afterwards: it finds the order and announces it again, same id.
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    assert [o["id"] for o in call(client, "get", "/orders", headers=ANN).json["items"]] == [paid_for["id"]]
    assert {e.id for e in bus.of_type("OrderCreated")} == {announced}
    assert order_of(client, paid_for)["status"] == "PAID"
    assert stock_of(client, product_id) == 3


def test_a_payment_and_the_queue_creating_the_same_order_at_once_make_one_order(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    paid_for, requested, _ = checked_out_not_delivered(client, bus)
    between(OrderRepository, "create", lambda: deliver(client, [eventbridge_body(requested)]))
    response = pay(client, paid_for)
    assert (response.json["outcome"], response.json["orderStatus"]) == ("APPLIED", "PAID")
    assert [o["status"] for o in call(client, "get", "/orders", headers=ANN).json["items"]] == ["PAID"]
    assert len({e.id for e in bus.of_type("OrderCreated")}) == 1


def test_a_failed_payment_arriving_before_its_order_fails_it_and_the_stock_comes_back_once(client, bus):
    paid_for, requested, product_id = checked_out_not_delivered(client, bus, quantity=2, stock=5)
    response = pay(client, paid_for, "payment.failed")
    assert (response.json["outcome"], response.json["orderStatus"]) == ("APPLIED", "PAYMENT_FAILED")
    assert stock_of(client, product_id) == 5
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    assert order_of(client, paid_for)["status"] == "PAYMENT_FAILED"
    assert stock_of(client, product_id) == 5


def test_the_order_a_payment_makes_announces_itself_through_the_outbox_even_when_the_bus_refuses_it(
        client, bus, monkeypatch):
    """Its OrderCreated was published once, best effort, and otherwise left to the queue's delivery of the
    checkout (which may go to the dead-letter queue): now the order's own write keeps it, as every event."""
    from datetime import UTC, datetime, timedelta

    from chalicelib.core.ids import set_clock
    from chalicelib.core.outbox import unpublished
    from chalicelib.orders import keys
    from tests.shop import bus_down

    paid_for, requested, _ = checked_out_not_delivered(client, bus)
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    assert pay(client, paid_for).json["outcome"] == "APPLIED"
    assert bus.of_type("OrderCreated") == []
    kept = [event for _, _, event in unpublished(timedelta(0)) if event.type == "OrderCreated"]
    assert [e.id for e in kept] == [keys.event_id_for("OrderCreated", paid_for["id"])]
    assert kept[0].correlationId == requested.correlationId and kept[0].data["status"] == "PENDING"
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus.publish)
    set_clock(lambda: datetime.now(UTC) + timedelta(minutes=2))  # past the sweeper's grace period
    try:
        sweep(client)
    finally:
        set_clock(None)
    assert [e.id for e in bus.of_type("OrderCreated")] == [kept[0].id]  # no queue delivery needed
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    assert {e.id for e in bus.of_type("OrderCreated")} == {kept[0].id}  # the queue's is the same event


def test_a_payment_for_a_checkout_made_before_pointers_is_left_for_review(client, bus):
    """A checkout accepted before its order's partition pointed to it: its early payment waits for review."""
    from chalicelib.core.dynamo import ddb, key, table_name
    from chalicelib.orders import keys

    paid_for, requested, _ = checked_out_not_delivered(client, bus)
    ddb().delete_item(TableName=table_name(), Key=key(*keys.checkout_pointer_key(paid_for["id"])))
    response = pay(client, paid_for)
    assert (response.json["outcome"], response.json["orderStatus"]) == ("REVIEW", None)
    assert call(client, "get", f"/orders/{paid_for['id']}", headers=ANN).status_code == 404
    assert deliver(client, [eventbridge_body(requested)]) == {"batchItemFailures": []}
    assert order_of(client, paid_for)["status"] == "PENDING"


# --- checkout -------------------------------------------------------------------------------

def test_a_basket_changed_between_checkout_read_and_commit_reserves_nothing(client, bus, between):
    from chalicelib.orders.repository import CheckoutRepository

    mug, pot = product(client, stock=5), product(client, stock=5)
    put_in_basket(client, ANN, mug["id"], 1)
    between(CheckoutRepository, "commit", lambda: put_in_basket(client, ANN, pot["id"], 2))
    response = checkout(client, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "BASKET_CHANGED"
    assert (stock_of(client, mug["id"]), stock_of(client, pot["id"])) == (5, 5)


@pytest.mark.parametrize("change,issue", [({"prices": [{"currency": "USD", "amount": 1000}]}, "currency_changed"),
                                          ({"prices": [{"currency": "EUR", "amount": 1234}]}, "price_changed")])
def test_a_product_repriced_between_checkout_read_and_commit_is_named_and_nothing_reserved(client, bus, between,
                                                                                         change, issue):
    from chalicelib.orders.repository import CheckoutRepository

    mug, pot = product(client, stock=5), product(client, stock=5)
    put_in_basket(client, ANN, mug["id"], 1)
    put_in_basket(client, ANN, pot["id"], 1)
    variant = pot["variants"][0]
    path = f"/products/{pot['id']}/variants/{variant['id']}"
    between(CheckoutRepository, "commit", lambda: call(client, "patch", path, {**change, "version": variant["version"]},
                                                       ADMIN))
    response = checkout(client, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "ITEMS_CHANGED"
    assert [(d["productId"], d["issue"]) for d in response.json["error"]["details"]] == [(pot["id"], issue)]
    assert (stock_of(client, mug["id"]), stock_of(client, pot["id"])) == (5, 5)
    assert call(client, "get", "/basket", headers=ANN).json["items"]  # the basket is kept to review


def test_a_full_basket_with_a_once_per_customer_code_checks_out_in_one_transaction(client, bus, monkeypatch):
    """The most items a checkout writes (every line, the record, the basket, the allowance, the code's count and
    marker, the order's pointer, the buyer's account check) stay within the 100 a transaction takes."""
    from chalicelib.basket.models import MAX_LINES
    from chalicelib.core import dynamo
    from chalicelib.core.settings import reset_settings

    monkeypatch.setenv("MAX_UNPAID_UNITS", str(MAX_LINES))
    reset_settings()
    created = call(client, "post", "/admin/promotions", {"code": "FULL10", "percentOff": 10, "maxRedemptions": 5,
                                                        "oncePerCustomer": True}, ADMIN)
    assert created.status_code == 201, created.body
    for _ in range(MAX_LINES):
        put_in_basket(client, ANN, product(client, stock=1)["id"], 1)
    assert call(client, "put", "/basket/promotion", {"code": "FULL10"}, ANN).status_code == 200
    sizes, real = [], dynamo.ddb
    table = real()

    class Counting(ContendedTable):
        def transact_write_items(self, **request):
            sizes.append(len(request["TransactItems"]))
            return super().transact_write_items(**request)

    ship_basket(client, ANN)

    monkeypatch.setattr(dynamo, "ddb", lambda: Counting(table, 0))
    response = checkout(client, ANN, ship=False)
    monkeypatch.setattr(dynamo, "ddb", real)
    assert response.status_code == 202, response.body
    assert sizes[0] == MAX_LINES + 7 <= 100


def test_a_currency_changed_while_in_the_basket_never_mixes_into_one_subtotal(client, bus):
    mug, pot = product(client, price=1000), product(client, price=2000)
    put_in_basket(client, ANN, mug["id"], 1)
    put_in_basket(client, ANN, pot["id"], 1)
    variant = pot["variants"][0]
    repriced = call(client, "patch", f"/products/{pot['id']}/variants/{variant['id']}",
                    {"prices": [{"currency": "USD", "amount": 2000}], "version": variant["version"]}, ADMIN)
    assert repriced.status_code == 200, repriced.body
    basket = call(client, "get", "/basket", headers=ANN).json
    assert (basket["subtotal"], basket["currency"]) == (1000, "EUR")
    assert [line["available"] for line in basket["items"]] == [True, False]
    response = checkout(client, ANN)
    assert response.status_code == 409
    assert [(d["productId"], d["issue"]) for d in response.json["error"]["details"]] == [
        (pot["id"], "currency_changed")]
    assert stock_of(client, mug["id"]) == 10


def cancelled(reason):
    """A transaction DynamoDB cancelled with `reason` on its first item (the others fine)."""
    def error(request):
        reasons = [{"Code": reason, "Message": reason}] + [{"Code": "None"}] * (len(request["TransactItems"]) - 1)
        return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                            "CancellationReasons": reasons}, "TransactWriteItems")
    return error


def refused(code):
    """A transaction call DynamoDB refused as a whole with `code` (throttling: nothing was written)."""
    return lambda request: ClientError({"Error": {"Code": code, "Message": code}}, "TransactWriteItems")


class ContendedTable:
    """DynamoDB as seen while other transactions hold the same items (or capacity runs short): the first
    `conflicts` transactions `touching` (default: any) fail with `error` (default: cancelled with
    TransactionConflict), as DynamoDB fails them."""

    def __init__(self, real, conflicts: int, error=None, touching=None):
        self.real, self.left, self.touching = real, conflicts, touching
        self.error = error or cancelled("TransactionConflict")

    def transact_write_items(self, **request):
        keys = [next(iter(item.values()))["Key"]["PK"]["S"] for item in request["TransactItems"]
                if "Key" in next(iter(item.values()))]
        if self.left > 0 and (self.touching is None or self.touching in keys):
            self.left -= 1
            raise self.error(request)
        return self.real.transact_write_items(**request)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.parametrize("conflicts,status", [(2, 202), (10, 503)])
def test_transaction_conflicts_are_retried_before_the_shopper_hears_of_them(client, bus, monkeypatch, conflicts,
                                                                            status):
    from chalicelib.core import dynamo

    mug = product(client, stock=3)
    put_in_basket(client, ANN, mug["id"], 1)
    real = dynamo.ddb
    table = ContendedTable(real(), conflicts)
    ship_basket(client, ANN)
    monkeypatch.setattr(dynamo, "ddb", lambda: table)
    response = checkout(client, ANN, ship=False)
    monkeypatch.setattr(dynamo, "ddb", real)
    assert response.status_code == status, response.body
    if status == 503:  # nothing wrong with the basket: the same request may be sent again, after Retry-After
        assert response.json["error"]["code"] == "CHECKOUT_CONFLICT" and response.headers["Retry-After"] == "1"
        assert stock_of(client, mug["id"]) == 3
    else:
        assert stock_of(client, mug["id"]) == 2


THROTTLED = {"ThrottlingException": refused("ThrottlingException"),
             "ProvisionedThroughputExceededException": refused("ProvisionedThroughputExceededException"),
             "ThrottlingError": cancelled("ThrottlingError")}


@pytest.mark.parametrize("throttled", sorted(THROTTLED))
@pytest.mark.parametrize("times,status", [(3, 202), (4, 503)])
def test_throttled_checkouts_are_retried_before_the_shopper_hears_of_them(client, bus, monkeypatch, throttled,
                                                                          times, status):
    from chalicelib.core import dynamo

    mug = product(client, stock=3)
    put_in_basket(client, ANN, mug["id"], 1)
    real = dynamo.ddb
    table = ContendedTable(real(), times, THROTTLED[throttled])
    ship_basket(client, ANN)
    monkeypatch.setattr(dynamo, "ddb", lambda: table)
    response = checkout(client, ANN, ship=False)
    monkeypatch.setattr(dynamo, "ddb", real)
    assert response.status_code == status, response.body
    assert table.left == 0  # every attempt was made (TRANSACTION_ATTEMPTS: 4)
    if status == 503:
        assert response.json["error"]["code"] == "CHECKOUT_CONFLICT" and response.headers["Retry-After"] == "1"
    assert stock_of(client, mug["id"]) == (3 if status == 503 else 2)


# --- the sweep as a whole -------------------------------------------------------------------

def test_an_expiry_that_keeps_colliding_is_a_failure_the_sweep_goes_on_and_the_next_sweep_expires_it(
        client, bus, monkeypatch):
    from chalicelib.core import dynamo

    first, mug = placed_order(client, ANN, quantity=1, stock=5)
    second, _ = placed_order(client, ANN, quantity=2, product_id=mug)
    third, _ = placed_order(client, ANN, quantity=1, product_id=mug)
    assert stock_of(client, mug) == 1
    make_overdue(monkeypatch)
    real = dynamo.ddb
    table = ContendedTable(real(), 10, touching=f"ORDER#{second['id']}")  # beyond every retry
    monkeypatch.setattr(dynamo, "ddb", lambda: table)
    report = sweep(client)
    monkeypatch.setattr(dynamo, "ddb", real)
    assert (report["cancelledUnpaid"], report["failures"]) == (2, 1)
    assert [order_of(client, o)["status"] for o in (first, second, third)] == ["CANCELLED", "PENDING", "CANCELLED"]
    assert stock_of(client, mug) == 3  # the colliding order still holds its two
    report = sweep(client)
    assert (report["cancelledUnpaid"], report["failures"]) == (1, 0)
    assert order_of(client, second)["status"] == "CANCELLED"
    assert stock_of(client, mug) == 5  # each order's units back once


# --- shipments ------------------------------------------------------------------------------

def ship(client, order, quantity=None, variant_id=None, key=None):
    lines = {"lines": [{"variantId": variant_id, "quantity": quantity}]} if quantity else {}
    return call(client, "post", f"/admin/orders/{order['id']}/shipments",
                {**lines, "carrier": "DHL", "trackingNumber": "JD0146"},
                {**ADMIN, "Idempotency-Key": key or "parcel-of-everything"})


def paid(client, quantity):
    order, product_id = placed_order(client, ANN, quantity=quantity, stock=5)
    assert pay(client, order).json["orderStatus"] == "PAID"
    return order, product_id


def test_two_shipments_of_the_last_units_at_once_exactly_one_wins(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = paid(client, 2)
    assert ship(client, order, 1, product_id, key="first-parcel").status_code == 201
    competitor = {}
    between(OrderRepository, "save", lambda: competitor.update(
        response=ship(client, order, 1, product_id, key="rival-parcel")))
    response = ship(client, order, 1, product_id, key="late-parcel")
    assert competitor["response"].status_code == 201
    assert response.status_code == 409 and response.json["error"]["code"] == "ORDER_NOT_SHIPPABLE", response.body
    final = order_of(client, order)
    assert final["status"] == "SHIPPED" and [s["lines"][0]["quantity"] for s in final["shipments"]] == [1, 1]


def test_the_write_itself_refuses_more_units_shipped_than_bought(client, bus):
    """The shipped counters are bounded by the write's condition, not only by the order as read."""
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.core import dynamo
    from chalicelib.core.lines import Line, Lines
    from chalicelib.orders import keys
    from chalicelib.orders.repository import OrderChanged, OrderRepository

    order, product_id = paid(client, 2)
    orders = OrderRepository(ProductRepository())
    stale = orders.get(order["id"])
    # Counted shipped behind the reader's back (same version): only the counters' bound can refuse now.
    dynamo.ddb().update_item(TableName=dynamo.table_name(), Key=dynamo.key(keys.order_pk(order["id"]), keys.ORDER_SK),
                             **dynamo.Update().add(keys.shipped_attribute(product_id), 1).request())
    change = stale.ship("s-stale", Lines([Line(product_id, 2)]), "2026-12-07T12:00:00.000Z", actor="admin-1")
    with pytest.raises(OrderChanged):
        orders.save(change)
    assert orders.get(order["id"]).shipments == []


def test_the_same_shipment_key_sent_twice_at_once_makes_one_shipment(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = paid(client, 3)
    competitor = {}
    between(OrderRepository, "save", lambda: competitor.update(
        response=ship(client, order, 1, product_id, key="same-parcel")))
    response = ship(client, order, 1, product_id, key="same-parcel")
    assert response.status_code == competitor["response"].status_code == 201
    assert response.json == competitor["response"].json
    assert len(order_of(client, order)["shipments"]) == 1


def test_a_customer_cancel_losing_to_a_shipment_is_refused_and_nothing_comes_back(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, product_id = paid(client, 2)
    between(OrderRepository, "save", lambda: ship(client, order, 1, product_id, key="beats-the-cancel"))
    response = call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "ILLEGAL_TRANSITION", response.body
    assert order_of(client, order)["status"] == "PARTIALLY_SHIPPED"
    assert stock_of(client, product_id) == 3  # both units still the order's


def test_a_shipment_delivered_twice_at_once_is_delivered_once(client, bus, between):
    from chalicelib.orders.repository import OrderRepository

    order, _ = paid(client, 1)
    made = ship(client, order, key="only-parcel").json
    path = f"/admin/orders/{order['id']}/shipments/{made['id']}/delivered"
    competitor = {}
    between(OrderRepository, "save", lambda: competitor.update(response=call(client, "post", path, headers=ADMIN)))
    response = call(client, "post", path, headers=ADMIN)
    assert competitor["response"].status_code == 200
    assert response.status_code == 409 and response.json["error"]["code"] == "SHIPMENT_ALREADY_DELIVERED"
    delivered = [e for e in bus.of_type("ShipmentDelivered")]
    assert len(delivered) == 1 and order_of(client, order)["status"] == "DELIVERED"
