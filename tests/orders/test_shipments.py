"""Shipments: parcels of a paid order's units with carrier and tracking, each a conditional write of the order;
the order is PARTIALLY_SHIPPED until every unit has shipped, then SHIPPED, and DELIVERED once all arrived."""
from __future__ import annotations

import uuid

import pytest

from chalicelib.core.lines import Line, Lines
from chalicelib.orders.models import StoredOrder
from tests.fakes import ADMIN, auth
from tests.orders.test_transitions import AT, order
from tests.shop import call, pay, placed_order, product, stock_of

ANN = auth("ann")
BOB = auth("bob")
TRACKING = {"carrier": "DHL", "trackingNumber": "JD014600003SE", "trackingUrl": "https://dhl.example/t/JD014600003SE"}


def mug(quantity: int) -> Lines:
    return Lines([Line("mug", quantity)])


# --- the order decides (no table) ------------------------------------------------------------

def test_a_partial_shipment_makes_the_order_partially_shipped_and_counts_its_units():
    change = order("PAID").ship("s1", mug(2), AT, actor="staff", carrier="DHL", tracking_number="1")
    assert change.after.status == "PARTIALLY_SHIPPED" and change.shipped == mug(2)
    assert change.after.shipped() == Lines([Line("mug", 2), Line("pot", 0)])
    assert [s.id for s in change.after.shipments] == ["s1"] and change.shipment_added.status == "SHIPPED"
    assert [e.type for e in change.events] == ["ShipmentCreated", "OrderStatusChanged"]


def test_the_last_units_shipped_make_the_order_shipped_and_no_more_can_ship():
    first = order("PAID").ship("s1", mug(3), AT, actor="staff").after
    rest = first.ship("s2", None, AT, actor="staff")  # everything not yet shipped: the pot
    assert rest.shipped == Lines([Line("pot", 1)]) and rest.after.status == "SHIPPED"
    with pytest.raises(Exception) as refused:
        rest.after.ship("s3", None, AT, actor="staff")
    assert refused.value.code == "ORDER_NOT_SHIPPABLE"


def test_a_shipment_of_more_than_is_left_is_refused_naming_the_line():
    first = order("PAID").ship("s1", mug(2), AT, actor="staff").after
    with pytest.raises(Exception) as refused:
        first.ship("s2", mug(2), AT, actor="staff")
    assert refused.value.code == "SHIPMENT_EXCEEDS_ORDER"
    assert refused.value.details == [{"field": "lines", "productId": "mug", "variantId": "mug",
                                      "issue": "exceeds_order", "requested": 2, "available": 1,
                                      "message": "at most 1 more"}]


def test_a_shipment_naming_a_line_the_order_does_not_hold_is_refused():
    with pytest.raises(Exception) as refused:
        order("PAID").ship("s1", Lines([Line("teapot", 1)]), AT, actor="staff")
    assert refused.value.code == "VALIDATION_FAILED" and refused.value.details[0]["issue"] == "not_in_order"


@pytest.mark.parametrize("status", ["PENDING", "CANCELLED", "PAYMENT_FAILED", "SHIPPED", "DELIVERED"])
def test_only_a_paid_or_partly_shipped_order_ships(status):
    with pytest.raises(Exception) as refused:
        order(status).ship("s1", mug(1), AT, actor="staff")
    assert refused.value.code == "ORDER_NOT_SHIPPABLE"


def test_an_order_ships_in_a_bounded_number_of_parcels():
    from chalicelib.orders.shipments import MAX_SHIPMENTS

    shipped = order("PAID").ship("s1", mug(1), AT, actor="staff").after
    full = shipped.model_copy(update={"shipments": shipped.shipments * MAX_SHIPMENTS})
    with pytest.raises(Exception) as refused:
        full.ship("s2", mug(1), AT, actor="staff")
    assert refused.value.code == "TOO_MANY_SHIPMENTS"


def test_nobody_cancels_an_order_once_any_unit_has_shipped():
    from chalicelib.orders.models import IllegalTransition

    partly = order("PAID").ship("s1", mug(1), AT, actor="staff").after
    with pytest.raises(IllegalTransition):
        partly.transition("CANCELLED", AT, actor="staff")


def test_the_order_is_delivered_when_every_unit_shipped_and_every_shipment_arrived():
    partly = order("PAID").ship("s1", mug(3), AT, actor="staff").after
    arrived = partly.deliver("s1", AT, actor="staff")
    assert arrived.after.status == "PARTIALLY_SHIPPED" and arrived.shipments_delivered == (0,)
    assert [e.type for e in arrived.events] == ["ShipmentDelivered"]
    shipped = arrived.after.ship("s2", None, AT, actor="staff").after
    assert shipped.status == "SHIPPED"
    done = shipped.deliver("s2", "2026-12-09T00:00:00.000Z", actor="staff")
    assert (done.after.status, done.after.delivered_at) == ("DELIVERED", "2026-12-09T00:00:00.000Z")
    assert [e.type for e in done.events] == ["ShipmentDelivered", "OrderStatusChanged"]
    with pytest.raises(Exception) as twice:
        done.after.deliver("s2", AT, actor="staff")
    assert twice.value.code == "SHIPMENT_ALREADY_DELIVERED"
    with pytest.raises(Exception) as unknown:
        done.after.deliver("nope", AT, actor="staff")
    assert unknown.value.status == 404


def test_the_status_route_ships_everything_left_in_one_shipment_and_delivers_every_shipment():
    partly = order("PAID").ship("s1", mug(1), AT, actor="staff").after
    rest = partly.step("SHIPPED", AT, actor="staff")
    assert rest.shipped == Lines([Line("mug", 2), Line("pot", 1)]) and rest.after.status == "SHIPPED"
    assert rest.shipment_added.carrier is None and rest.shipment_added.tracking_number is None
    done = rest.after.step("DELIVERED", AT, actor="staff")
    assert done.after.status == "DELIVERED" and done.shipments_delivered == (0, 1)
    assert {s.status for s in done.after.shipments} == {"DELIVERED"}


def test_staff_cannot_set_partially_shipped_by_status_alone():
    from chalicelib.orders.models import IllegalTransition

    with pytest.raises(IllegalTransition):
        order("PAID").step("PARTIALLY_SHIPPED", AT, actor="staff")


# --- over HTTP ----------------------------------------------------------------------------------

def paid_order(client, headers=ANN, quantity=3, stock=10):
    placed, product_id = placed_order(client, headers, quantity=quantity, stock=stock)
    assert pay(client, placed).json["outcome"] == "APPLIED"
    return placed, product_id


def ship(client, order_id, payload, key=None, headers=ADMIN):
    return call(client, "post", f"/admin/orders/{order_id}/shipments", payload,
                {**headers, "Idempotency-Key": key or uuid.uuid4().hex})


def delivered(client, order_id, shipment_id, headers=ADMIN):
    return call(client, "post", f"/admin/orders/{order_id}/shipments/{shipment_id}/delivered", headers=headers)


def test_two_partial_shipments_then_their_delivery_walk_the_order_to_delivered(client, bus):
    placed, product_id = paid_order(client)
    first = ship(client, placed["id"], {"lines": [{"variantId": product_id, "quantity": 1}], **TRACKING})
    assert first.status_code == 201, first.body
    assert {k: first.json[k] for k in ("lines", "carrier", "trackingNumber", "trackingUrl", "status")} == {
        "lines": [{"productId": product_id, "variantId": product_id, "quantity": 1}], "carrier": "DHL",
        "trackingNumber": "JD014600003SE", "trackingUrl": TRACKING["trackingUrl"], "status": "SHIPPED"}
    assert first.json["shippedAt"] and "requestHash" not in first.json
    seen = call(client, "get", f"/orders/{placed['id']}", headers=ANN).json
    assert seen["status"] == "PARTIALLY_SHIPPED" and [s["id"] for s in seen["shipments"]] == [first.json["id"]]
    assert call(client, "post", f"/orders/{placed['id']}/cancel", headers=ANN).status_code == 409
    second = ship(client, placed["id"], {"carrier": "UPS", "trackingNumber": "1Z999AA10123456784"})
    assert second.status_code == 201 and second.json["lines"][0]["quantity"] == 2, second.body
    assert second.json["trackingUrl"] is None
    assert call(client, "get", f"/orders/{placed['id']}", headers=ANN).json["status"] == "SHIPPED"
    assert delivered(client, placed["id"], first.json["id"]).json["status"] == "DELIVERED"
    assert call(client, "get", f"/orders/{placed['id']}", headers=ANN).json["status"] == "SHIPPED"
    last = delivered(client, placed["id"], second.json["id"])
    assert last.status_code == 200 and last.json["deliveredAt"], last.body
    done = call(client, "get", f"/orders/{placed['id']}", headers=ANN).json
    assert done["status"] == "DELIVERED" and done["deliveredAt"] == last.json["deliveredAt"]
    assert stock_of(client, product_id) == 7  # shipping returns nothing to the shelf
    assert [e.type for e in bus.events if e.type.startswith("Shipment")] == [
        "ShipmentCreated", "ShipmentCreated", "ShipmentDelivered", "ShipmentDelivered"]
    # the return window opened with the delivery
    returned = call(client, "post", f"/orders/{placed['id']}/returns",
                    {"lines": [{"variantId": product_id, "quantity": 1}], "reason": "too big"},
                    {**ANN, "Idempotency-Key": uuid.uuid4().hex})
    assert returned.status_code == 201, returned.body


def test_delivering_a_shipment_twice_or_an_unknown_one_is_refused_and_changes_nothing(client, bus):
    placed, _ = paid_order(client, quantity=1)
    made = ship(client, placed["id"], TRACKING).json
    assert delivered(client, placed["id"], made["id"]).status_code == 200
    before = call(client, "get", f"/orders/{placed['id']}", headers=ADMIN).json
    again = delivered(client, placed["id"], made["id"])
    assert again.status_code == 409 and again.json["error"]["code"] == "SHIPMENT_ALREADY_DELIVERED"
    unknown = delivered(client, placed["id"], "no-such-shipment")
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "NOT_FOUND"
    assert delivered(client, "no-such-order", made["id"]).status_code == 404
    assert call(client, "get", f"/orders/{placed['id']}", headers=ADMIN).json["version"] == before["version"]


def test_a_shipment_of_more_than_remains_is_409_and_writes_nothing(client, bus):
    placed, product_id = paid_order(client, quantity=2)
    assert ship(client, placed["id"], {"lines": [{"variantId": product_id, "quantity": 1}], **TRACKING}).status_code \
        == 201
    over = ship(client, placed["id"], {"lines": [{"variantId": product_id, "quantity": 2}], **TRACKING})
    assert over.status_code == 409 and over.json["error"]["code"] == "SHIPMENT_EXCEEDS_ORDER", over.body
    assert over.json["error"]["details"][0]["available"] == 1
    seen = call(client, "get", f"/orders/{placed['id']}", headers=ADMIN).json
    assert (seen["status"], len(seen["shipments"])) == ("PARTIALLY_SHIPPED", 1)


def test_a_shipment_naming_a_variant_the_order_does_not_hold_is_refused(client, bus):
    placed, _ = paid_order(client, quantity=1)
    other = product(client)["id"]
    refused = ship(client, placed["id"], {"lines": [{"variantId": other, "quantity": 1}], **TRACKING})
    assert refused.status_code == 422 and refused.json["error"]["details"][0]["issue"] == "not_in_order"


def test_an_unpaid_order_does_not_ship(client, bus):
    placed, _ = placed_order(client, ANN, quantity=1)
    refused = ship(client, placed["id"], TRACKING)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "ORDER_NOT_SHIPPABLE"
    assert ship(client, "no-such-order", TRACKING).status_code == 404


@pytest.mark.parametrize("payload", [
    {"carrier": "", "trackingNumber": "1"},
    {"carrier": "DHL\nX", "trackingNumber": "1"},
    {"carrier": "D" * 65, "trackingNumber": "1"},
    {"carrier": "DHL", "trackingNumber": "1\u0000"},
    {"carrier": "DHL", "trackingNumber": "1" * 65},
    {"carrier": "DHL"},
    {"trackingNumber": "1"},
    {"carrier": "DHL", "trackingNumber": "1", "trackingUrl": "http://dhl.example/t/1"},
    {"carrier": "DHL", "trackingNumber": "1", "trackingUrl": "javascript:alert(1)"},
    {"carrier": "DHL", "trackingNumber": "1", "trackingUrl": "https://" + "a" * 500},
    {"carrier": "DHL", "trackingNumber": "1", "trackingUrl": "https://x.example/a b"},
    {"carrier": "DHL", "trackingNumber": "1", "lines": []},
    {"carrier": "DHL", "trackingNumber": "1", "lines": [{"variantId": "a", "quantity": 0}]},
    {"carrier": "DHL", "trackingNumber": "1", "lines": [{"variantId": "a", "quantity": 1},
                                                        {"variantId": "a", "quantity": 1}]},
    {"carrier": "DHL", "trackingNumber": "1", "weight": 3},
])
def test_bad_shipment_input_is_refused_in_the_one_error_shape(client, payload):
    refused = ship(client, "any-order", payload)
    assert refused.status_code in (400, 422), refused.body
    assert set(refused.json) == {"error", "requestId"} and refused.json["error"]["code"]


def test_the_same_key_answers_the_same_shipment_and_another_body_is_refused(client, bus):
    placed, product_id = paid_order(client, quantity=3)
    payload = {"lines": [{"variantId": product_id, "quantity": 1}], **TRACKING}
    first = ship(client, placed["id"], payload, key="ship-key-1")
    again = ship(client, placed["id"], payload, key="ship-key-1")
    assert first.status_code == again.status_code == 201 and first.json == again.json
    other = ship(client, placed["id"], {**payload, "carrier": "UPS"}, key="ship-key-1")
    assert other.status_code == 422 and other.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(call(client, "get", f"/orders/{placed['id']}", headers=ADMIN).json["shipments"]) == 1
    assert ship(client, placed["id"], payload).status_code == 201  # another key: another parcel


def test_only_staff_ship_or_deliver(client, bus):
    placed, _ = paid_order(client, quantity=1)
    assert ship(client, placed["id"], TRACKING, headers=ANN).status_code == 403
    made = ship(client, placed["id"], TRACKING).json
    assert delivered(client, placed["id"], made["id"], headers=ANN).status_code == 403
    assert call(client, "post", f"/admin/orders/{placed['id']}/shipments", TRACKING,
                {"Idempotency-Key": uuid.uuid4().hex}).status_code == 401


def test_a_shipment_asks_for_an_idempotency_key(client, bus):
    placed, _ = paid_order(client, quantity=1)
    refused = call(client, "post", f"/admin/orders/{placed['id']}/shipments", TRACKING, ADMIN)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"


def test_the_status_routes_ship_the_rest_in_one_shipment_and_deliver_every_shipment(client, bus):
    placed, product_id = paid_order(client, quantity=3)
    ship(client, placed["id"], {"lines": [{"variantId": product_id, "quantity": 1}], **TRACKING})
    moved = call(client, "post", f"/admin/orders/{placed['id']}/status", {"status": "SHIPPED"}, ADMIN)
    assert moved.status_code == 200 and moved.json["status"] == "SHIPPED", moved.body
    rest = moved.json["shipments"][1]
    assert rest["lines"][0]["quantity"] == 2 and rest["carrier"] is None and rest["trackingNumber"] is None
    refused = call(client, "post", f"/admin/orders/{placed['id']}/status", {"status": "PARTIALLY_SHIPPED"}, ADMIN)
    assert refused.status_code == 409
    done = call(client, "post", f"/admin/orders/{placed['id']}/status", {"status": "DELIVERED"}, ADMIN)
    assert done.json["status"] == "DELIVERED" and {s["status"] for s in done.json["shipments"]} == {"DELIVERED"}


def test_staff_cannot_make_an_order_partially_shipped_by_status(client, bus):
    placed, _ = paid_order(client, quantity=2)
    refused = call(client, "post", f"/admin/orders/{placed['id']}/status", {"status": "PARTIALLY_SHIPPED"}, ADMIN)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "ILLEGAL_TRANSITION"


def test_partly_shipped_orders_are_listed_by_status_for_staff(client, bus):
    placed, product_id = paid_order(client, quantity=2)
    ship(client, placed["id"], {"lines": [{"variantId": product_id, "quantity": 1}], **TRACKING})
    listed = call(client, "get", "/admin/orders?status=PARTIALLY_SHIPPED", headers=ADMIN).json
    assert [o["id"] for o in listed["items"]] == [placed["id"]]
    mine = call(client, "get", "/orders?status=PARTIALLY_SHIPPED", headers=ANN).json
    assert [o["id"] for o in mine["items"]] == [placed["id"]]


def test_a_partly_shipped_order_keeps_its_payment_and_restocks_nothing_until_all_shipped(client, bus):
    placed, product_id = paid_order(client, quantity=2)
    ship(client, placed["id"], {"lines": [{"variantId": product_id, "quantity": 1}], **TRACKING})
    seen = call(client, "get", f"/orders/{placed['id']}", headers=ADMIN).json
    assert seen["refundDue"] is False
    restock = call(client, "post", f"/admin/orders/{placed['id']}/refunds",
                   {"reason": "dented", "amount": 100, "restock": [{"variantId": product_id, "quantity": 1}]},
                   {**ADMIN, "Idempotency-Key": uuid.uuid4().hex})
    assert restock.status_code == 409 and restock.json["error"]["code"] == "RESTOCK_NOT_ALLOWED"
    money = call(client, "post", f"/admin/orders/{placed['id']}/refunds", {"reason": "late", "amount": 100},
                 {**ADMIN, "Idempotency-Key": uuid.uuid4().hex})
    assert money.status_code == 201, money.body


def test_shipments_are_stored_on_the_order_item_with_shipped_counters(client, bus):
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.orders import keys
    from chalicelib.orders.repository import OrderRepository

    placed, product_id = paid_order(client, quantity=3)
    ship(client, placed["id"], {"lines": [{"variantId": product_id, "quantity": 2}], **TRACKING})
    stored = OrderRepository(ProductRepository()).get(placed["id"])
    assert isinstance(stored, StoredOrder) and stored.tally(keys.shipped_attribute(product_id)) == 2
    assert stored.shipments[0].request_hash  # kept for the key's replay, never shown
