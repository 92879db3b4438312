"""Returns: customers send back delivered units within the window, never more than they bought; staff receive
them (restocked once, their value refunded) or reject them, once."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import call, pay, placed_order, stock_of

ANN, BOB = auth("ann"), auth("bob")
pytestmark = pytest.mark.usefixtures("bus")  # every event the app publishes is captured


def order_of(client, order):
    return call(client, "get", f"/orders/{order['id']}", headers=ADMIN).json


def move(client, order, *statuses):
    for status in statuses:
        response = call(client, "post", f"/admin/orders/{order['id']}/status", {"status": status}, ADMIN)
        assert response.status_code == 200, response.body


def delivered(client, **kwargs):
    order, product_id = placed_order(client, ANN, **kwargs)
    assert pay(client, order).json["outcome"] == "APPLIED"
    move(client, order, "SHIPPED", "DELIVERED")
    return order_of(client, order), product_id


def ask(client, order, lines, headers=ANN, reason="does not fit"):
    return call(client, "post", f"/orders/{order['id']}/returns", {"lines": lines, "reason": reason}, headers)


def receive(client, ret):
    return call(client, "post", f"/admin/returns/{ret['id']}/receive", headers=ADMIN)


# --- asking ---------------------------------------------------------------------------------------

def test_a_delivered_order_can_be_returned_and_the_return_is_listed(client):
    order, product_id = delivered(client, quantity=2)
    assert order["deliveredAt"] is not None
    response = ask(client, order, [{"productId": product_id, "quantity": 1}])
    assert response.status_code == 201, response.body
    ret = response.json
    assert (ret["orderId"], ret["status"], ret["lines"]) == (order["id"], "REQUESTED",
                                                             [{"productId": product_id, "quantity": 1}])
    assert {"id", "orderId", "lines", "status", "createdAt"} <= set(ret)
    mine = call(client, "get", f"/orders/{order['id']}/returns", headers=ANN)
    assert mine.status_code == 200 and [r["id"] for r in mine.json["items"]] == [ret["id"]]
    queue = call(client, "get", "/admin/returns?status=REQUESTED", headers=ADMIN).json
    assert [r["id"] for r in queue["items"]] == [ret["id"]] and queue["nextCursor"] is None


def test_an_order_not_delivered_cannot_be_returned(client):
    order, product_id = placed_order(client, ANN)
    response = ask(client, order, [{"productId": product_id, "quantity": 1}])
    assert response.status_code == 409 and response.json["error"]["code"] == "ORDER_NOT_DELIVERED"


def test_returns_close_after_the_window(client):
    from chalicelib.core import ids

    order, product_id = delivered(client)
    later = datetime.now(timezone.utc) + timedelta(days=31)
    ids.set_clock(lambda: later)
    try:
        response = ask(client, order, [{"productId": product_id, "quantity": 1}])
    finally:
        ids.set_clock(None)
    assert response.status_code == 409 and response.json["error"]["code"] == "RETURN_WINDOW_CLOSED"


def test_another_customers_order_is_not_found(client):
    order, product_id = delivered(client)
    assert ask(client, order, [{"productId": product_id, "quantity": 1}], headers=BOB).status_code == 404
    assert call(client, "get", f"/orders/{order['id']}/returns", headers=BOB).status_code == 404
    assert ask(client, {"id": "no-such-order"}, [{"productId": product_id, "quantity": 1}]).status_code == 404


def test_no_more_units_are_returned_than_were_bought(client):
    order, product_id = delivered(client, quantity=3)
    assert ask(client, order, [{"productId": product_id, "quantity": 2}]).status_code == 201
    over = ask(client, order, [{"productId": product_id, "quantity": 2}])
    assert over.status_code == 409 and over.json["error"]["code"] == "RETURN_EXCEEDS_ORDER"
    assert over.json["error"]["details"][0]["available"] == 1
    assert ask(client, order, [{"productId": product_id, "quantity": 1}]).status_code == 201
    unknown = ask(client, order, [{"productId": "not-bought", "quantity": 1}])
    assert unknown.status_code == 422 and unknown.json["error"]["details"][0]["issue"] == "not_in_order"


@pytest.mark.parametrize("payload,field", [
    ({"lines": [], "reason": "x"}, "lines"),
    ({"lines": [{"productId": "p", "quantity": 0}], "reason": "x"}, "lines.0.quantity"),
    ({"lines": [{"productId": "p", "quantity": 1}]}, "reason"),
    ({"lines": [{"productId": "p", "quantity": 1}], "reason": "x", "extra": True}, "extra"),
    ({"lines": [{"productId": "p", "quantity": 1, "price": 1}], "reason": "x"}, "lines.0.price"),
    ({"lines": [{"productId": "p", "quantity": 1}, {"productId": "p", "quantity": 1}], "reason": "x"}, "lines"),
])
def test_return_bodies_are_strict(client, payload, field):
    order, _ = delivered(client)
    response = call(client, "post", f"/orders/{order['id']}/returns", payload, ANN)
    assert response.status_code == 422, response.body
    assert any(d["field"].startswith(field) or d["field"] == "body" for d in response.json["error"]["details"])


# --- staff --------------------------------------------------------------------------------------

def test_receiving_restocks_once_and_refunds_the_lines_value(client, bus):
    order, product_id = delivered(client, quantity=3, price=1000, stock=5)
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    assert stock_of(client, product_id) == 2
    received = receive(client, ret)
    assert received.status_code == 200, received.body
    assert received.json["status"] == "RECEIVED" and received.json["refundId"]
    assert stock_of(client, product_id) == 4
    requested = bus.of_type("RefundRequested")[-1]
    assert (requested.data["amount"], requested.data["returnId"]) == (2000, ret["id"])
    shown = order_of(client, order)
    assert [(r["id"], r["amount"]) for r in shown["refunds"]] == [(received.json["refundId"], 2000)]
    again = receive(client, ret)
    assert again.status_code == 409 and again.json["error"]["code"] == "RETURN_ALREADY_DECIDED"
    assert stock_of(client, product_id) == 4
    rejected = call(client, "post", f"/admin/returns/{ret['id']}/reject", {"reason": "late"}, ADMIN)
    assert rejected.status_code == 409
    assert [r["id"] for r in call(client, "get", "/admin/returns?status=RECEIVED", headers=ADMIN).json["items"]] == [
        ret["id"]]


def test_a_discounted_orders_return_refunds_its_share_of_the_discount_rounded_down():
    from chalicelib.orders.models import Order, OrderLine
    from chalicelib.returns.service import refund_value

    lines = [OrderLine(product_id="a", name="A", unit_price=333, quantity=3, line_total=999),
             OrderLine(product_id="b", name="B", unit_price=1001, quantity=1, line_total=1001)]
    fields = dict(id="o", user_id="u", status="DELIVERED", items=lines, subtotal=2000, currency="EUR",
                  checkout_id="c", created_at="2026-11-23T00:00:00.000Z", updated_at="2026-11-23T00:00:00.000Z")
    discounted = Order(**fields, discount=300, total=1700)
    assert refund_value(discounted, {"a": 1}) == 283  # 333 x 1700 / 2000 = 283.05
    assert refund_value(discounted, {"a": 3, "b": 1}) == 1700  # everything: what was paid
    assert refund_value(Order(**fields, discount=0, total=2000), {"a": 2, "b": 1}) == 1667


def test_rejecting_frees_the_units_for_another_return(client):
    order, product_id = delivered(client, quantity=1)
    ret = ask(client, order, [{"productId": product_id, "quantity": 1}]).json
    assert ask(client, order, [{"productId": product_id, "quantity": 1}]).status_code == 409
    rejected = call(client, "post", f"/admin/returns/{ret['id']}/reject", {"reason": "worn"}, ADMIN)
    assert rejected.status_code == 200 and rejected.json["status"] == "REJECTED"
    assert rejected.json["rejectionReason"] == "worn"
    assert receive(client, ret).status_code == 409
    assert ask(client, order, [{"productId": product_id, "quantity": 1}]).status_code == 201


def test_unknown_returns_answer_404_and_customers_may_not_decide(client):
    assert call(client, "post", "/admin/returns/nope/receive", headers=ADMIN).status_code == 404
    assert call(client, "post", "/admin/returns/nope/reject", {"reason": "x"}, ADMIN).status_code == 404
    assert call(client, "post", "/admin/returns/nope/receive", headers=ANN).status_code == 403
    assert call(client, "get", "/admin/returns", headers=ANN).status_code == 403
    bad = call(client, "get", "/admin/returns?status=LOST", headers=ADMIN)
    assert bad.status_code == 400


# --- races --------------------------------------------------------------------------------------

def test_two_returns_at_once_beyond_what_was_bought_one_wins(client, monkeypatch):
    """The competitor's return is written between this request's read of the order and its write."""
    from chalicelib.orders.repository import OrderRepository

    order, product_id = delivered(client, quantity=2)
    lines = [{"productId": product_id, "quantity": 2}]
    original, state = OrderRepository.return_reservation, {}

    def competitor_first(self, *args, **kwargs):
        if not state:
            state["running"] = True
            state["response"] = ask(client, order, lines)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OrderRepository, "return_reservation", competitor_first)
    second = ask(client, order, lines)
    assert state["response"].status_code == 201
    assert second.status_code == 409 and second.json["error"]["code"] == "RETURN_EXCEEDS_ORDER"


def test_receiving_twice_at_once_restocks_once(client, between, bus):
    from chalicelib.payments.repository import RefundRepository

    order, product_id = delivered(client, quantity=2, stock=4)
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    first = {}
    between(RefundRepository, "commit", lambda: first.update(response=receive(client, ret)))
    second = receive(client, ret)
    assert sorted([first["response"].status_code, second.status_code]) == [200, 409]
    assert stock_of(client, product_id) == 4
    assert len(bus.of_type("RefundRequested")) == 1


def test_a_return_rejected_while_it_is_received_is_answered_as_decided(client, between, bus):
    from chalicelib.payments.repository import RefundRepository

    order, product_id = delivered(client, quantity=2, stock=4)
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    rejected = {}
    between(RefundRepository, "commit", lambda: rejected.update(response=call(
        client, "post", f"/admin/returns/{ret['id']}/reject", {"reason": "worn"}, ADMIN)))
    received = receive(client, ret)
    assert rejected["response"].status_code == 200
    assert received.status_code == 409 and received.json["error"]["code"] == "RETURN_ALREADY_DECIDED"
    assert stock_of(client, product_id) == 2 and bus.of_type("RefundRequested") == []


def test_receiving_twice_at_once_with_nothing_left_to_refund_restocks_once(client, between, bus):
    from chalicelib.returns.repository import ReturnRepository

    order, product_id = delivered(client, quantity=2, stock=4)
    refunded = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"reason": "goodwill"},
                    {**ADMIN, "Idempotency-Key": "refund-everything"})
    assert refunded.status_code == 201, refunded.body
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    first = {}
    between(ReturnRepository, "receive", lambda: first.update(response=receive(client, ret)))
    second = receive(client, ret)
    assert sorted([first["response"].status_code, second.status_code]) == [200, 409]
    assert [r.json["refundId"] for r in (first["response"], second) if r.status_code == 200] == [None]
    assert stock_of(client, product_id) == 4
    assert len(bus.of_type("RefundRequested")) == 1  # the goodwill refund's only
