"""Order states: only the SPEC's transitions, stock back exactly once, every change announced."""
from __future__ import annotations

import itertools

import pytest

from chalicelib.orders.models import TRANSITIONS
from tests.fakes import ADMIN, auth
from tests.shop import call, placed_order, stock_of, sweep

ANN = auth("ann")
STATUSES = list(TRANSITIONS)
PATHS = {  # how to reach each state from PENDING
    "PENDING": [], "PAID": ["PAID"], "PARTIALLY_SHIPPED": ["PAID", "one unit shipped"],
    "SHIPPED": ["PAID", "SHIPPED"], "DELIVERED": ["PAID", "SHIPPED", "DELIVERED"],
    "CANCELLED": ["CANCELLED"], "PAYMENT_FAILED": ["PAYMENT_FAILED"],
}
# Only a shipment makes an order PARTIALLY_SHIPPED: the status route never does.
BY_STATUS = {current: targets - {"PARTIALLY_SHIPPED"} for current, targets in TRANSITIONS.items()}



def admin_move(client, order_id, status, **extra):
    return call(client, "post", f"/admin/orders/{order_id}/status", {"status": status, **extra}, ADMIN)


def order_in(client, status, stock=10, quantity=2):
    order, product_id = placed_order(client, ANN, quantity=quantity, stock=stock)
    for step in PATHS[status]:
        if step == "one unit shipped":
            shipped = call(client, "post", f"/admin/orders/{order['id']}/shipments",
                           {"lines": [{"variantId": product_id, "quantity": 1}], "carrier": "DHL",
                            "trackingNumber": "1"}, {**ADMIN, "Idempotency-Key": f"ship-{order['id']}"})
            assert shipped.status_code == 201, shipped.body
        else:
            assert admin_move(client, order["id"], step).status_code == 200
    return order, product_id


@pytest.mark.parametrize("current,target", list(itertools.product(STATUSES, STATUSES)))
def test_every_edge_of_the_state_machine(client, bus, current, target):
    order, product_id = order_in(client, current)
    stock_before = stock_of(client, product_id)
    response = admin_move(client, order["id"], target)
    if target in BY_STATUS[current]:
        assert response.status_code == 200, response.body
        assert response.json["status"] == target
        returned = 2 if target in ("CANCELLED", "PAYMENT_FAILED") else 0
        assert stock_of(client, product_id) == stock_before + returned
        changed = bus.of_type("OrderStatusChanged")[-1]
        assert (changed.data["from"], changed.data["to"], changed.actor) == (current, target, "admin-1")
    else:
        assert response.status_code == 409
        assert response.json["error"]["code"] == "ILLEGAL_TRANSITION"
        assert stock_of(client, product_id) == stock_before


def test_cancelling_a_paid_order_flags_a_refund(client, bus):
    order, _ = order_in(client, "PAID")
    cancelled = admin_move(client, order["id"], "CANCELLED").json
    assert cancelled["refundDue"] is True
    assert bus.of_type("OrderCancelled")[-1].data["refundDue"] is True


def test_customer_cancels_own_pending_order_and_stock_returns_once(client, bus):
    order, product_id = order_in(client, "PENDING", stock=5, quantity=2)
    assert stock_of(client, product_id) == 3
    response = call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN)
    assert response.status_code == 200 and response.json["status"] == "CANCELLED"
    again = call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN)
    assert again.status_code == 409
    assert stock_of(client, product_id) == 5


def test_customer_cannot_cancel_a_shipped_order(client, bus):
    order, _ = order_in(client, "SHIPPED")
    assert call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN).status_code == 409


def test_customer_cannot_cancel_someone_elses_order(client, bus):
    order, product_id = order_in(client, "PENDING")
    response = call(client, "post", f"/orders/{order['id']}/cancel", headers=auth("mallory"))
    assert response.status_code == 404
    assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "PENDING"


def test_two_staff_cannot_both_win(client, bus):
    order, product_id = order_in(client, "PAID")
    first = admin_move(client, order["id"], "CANCELLED", version=order["version"] + 1)
    second = admin_move(client, order["id"], "SHIPPED", version=order["version"] + 1)
    assert first.status_code == 200 and second.status_code == 409


def test_concurrent_cancellations_return_stock_once(client, bus):
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.composition import Services
    from chalicelib.orders.repository import OrderRepository
    from chalicelib.orders.service import OrderChanged

    order, product_id = order_in(client, "PENDING", stock=5, quantity=2)
    stale = OrderRepository(ProductRepository()).get(order["id"])
    Services().orders.move(stale, "CANCELLED", actor="admin")
    with pytest.raises(OrderChanged):
        OrderRepository(ProductRepository()).save(stale.transition("CANCELLED", "2026-01-01T00:00:00.000Z", actor="admin"))
    assert stock_of(client, product_id) == 5


def test_admin_order_routes_are_staff_only_and_validated(client, bus):
    order, _ = order_in(client, "PENDING")
    assert call(client, "get", "/admin/orders?status=PENDING", headers=ANN).status_code == 403
    assert call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "PAID"}, ANN).status_code == 403
    assert admin_move(client, order["id"], "LOST").status_code == 422
    assert admin_move(client, "nope", "PAID").status_code == 404
    assert call(client, "get", "/admin/orders", headers=ADMIN).status_code == 400


def test_admin_lists_orders_by_status(client, bus):
    pending, _ = order_in(client, "PENDING")
    paid, _ = order_in(client, "PAID")
    listed = call(client, "get", "/admin/orders?status=PAID", headers=ADMIN).json["items"]
    assert [o["id"] for o in listed] == [paid["id"]]
    listed = call(client, "get", "/admin/orders?status=PENDING&limit=1", headers=ADMIN).json
    assert [o["id"] for o in listed["items"]] == [pending["id"]]


def test_own_orders_filter_by_status_and_date(client, bus):
    first, _ = order_in(client, "PENDING")
    second, _ = order_in(client, "PAID")
    both = call(client, "get", "/orders", headers=ANN).json["items"]
    assert [o["id"] for o in both] == [second["id"], first["id"]]  # newest first
    paid = call(client, "get", "/orders?status=PAID", headers=ANN).json["items"]
    assert [o["id"] for o in paid] == [second["id"]]
    day = first["createdAt"][:10]
    assert len(call(client, "get", f"/orders?from={day}&to={day}", headers=ANN).json["items"]) == 2
    assert call(client, "get", "/orders?from=2001-01-01&to=2001-01-02", headers=ANN).json["items"] == []
    for bad in ("from=yesterday", "from=2026-02-02&to=2026-01-01", "status=LOST", "limit=1000"):
        assert call(client, "get", f"/orders?{bad}", headers=ANN).status_code == 400, bad


def test_unpaid_orders_are_cancelled_after_the_window(client, bus, monkeypatch):
    order, product_id = order_in(client, "PENDING", stock=5, quantity=2)
    assert sweep(client)["cancelledUnpaid"] == 0
    monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: "9999-01-01T00:00:00.000Z")
    assert sweep(client)["cancelledUnpaid"] == 1
    assert sweep(client)["cancelledUnpaid"] == 0  # safe to run again
    assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "CANCELLED"
    assert stock_of(client, product_id) == 5


def test_paid_orders_are_not_swept(client, bus, monkeypatch):
    order, _ = order_in(client, "PAID")
    monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: "9999-01-01T00:00:00.000Z")
    assert sweep(client)["cancelledUnpaid"] == 0


def test_export_and_erasure_cover_orders(client, bus):
    order, _ = order_in(client, "PENDING")
    export = call(client, "get", "/me/export", headers=ANN).json
    assert [o["id"] for o in export["orders"]] == [order["id"]]
    assert call(client, "delete", "/me", headers=ANN).status_code == 202
    from tests.shop import erased

    assert {"batchItemFailures": []} in erased(client, bus.of_type("UserErased")[0].data["userId"])
    kept = call(client, "get", f"/orders/{order['id']}", headers=ADMIN).json
    assert kept["userId"] == "erased" and kept["shippingAddress"] is None and kept["subtotal"] == order["subtotal"]
