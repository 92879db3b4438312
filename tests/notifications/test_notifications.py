"""Notifications: one per order event, only for its owner; low stock reaches staff."""
from __future__ import annotations

import boto3

from tests.fakes import ADMIN, auth
from tests.shop import call, checkout, eventbridge_body, placed_order, product, put_in_basket, sqs_event

ANN = auth("ann")
NOTIFY_QUEUE = "shop-local-notify"
DELIVERED = {"batchItemFailures": []}
RETRIED = {"batchItemFailures": [{"itemIdentifier": "message-0"}]}  # back on the queue, then its DLQ


def notify(client, event):
    """The notifier given `event` as the shop's bus delivers it to its queue; returns its batch answer."""
    return client.lambda_.invoke("notify", sqs_event(client, [eventbridge_body(event)], queue=NOTIFY_QUEUE)).payload


def test_order_events_become_notifications_for_the_owner(client, bus):
    order, _ = placed_order(client, ANN, bus=bus)
    for event in bus.of_type("OrderCreated"):
        notify(client, event)
    call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "PAID"}, ADMIN)
    notify(client, bus.of_type("OrderStatusChanged")[-1])
    feed = call(client, "get", "/me/notifications", headers=ANN).json["items"]
    assert [n["kind"] for n in feed] == ["ORDER_PAID", "ORDER_CREATED"]  # newest first
    assert all(n["subjectId"] == order["id"] and n["readAt"] is None for n in feed)
    assert call(client, "get", "/me/notifications", headers=auth("bob")).json["items"] == []


def test_each_shipment_is_told_once_with_its_carrier_and_tracking_link(client, bus):
    from tests.shop import pay

    order, product_id = placed_order(client, ANN, quantity=2, bus=bus)
    assert pay(client, order).json["orderStatus"] == "PAID"
    first = call(client, "post", f"/admin/orders/{order['id']}/shipments",
                 {"lines": [{"variantId": product_id, "quantity": 1}], "carrier": "DHL", "trackingNumber": "JD0146",
                  "trackingUrl": "https://dhl.example/t/JD0146"}, {**ADMIN, "Idempotency-Key": "parcel-one"})
    assert first.status_code == 201, first.body
    call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "SHIPPED"}, ADMIN)  # the rest, untracked
    for event in [*bus.of_type("ShipmentCreated"), *bus.of_type("OrderStatusChanged")]:
        assert notify(client, event) == DELIVERED
    notify(client, bus.of_type("ShipmentCreated")[0])  # delivered again
    shipped = [n for n in call(client, "get", "/me/notifications", headers=ANN).json["items"]
               if n["kind"] == "ORDER_SHIPPED"]
    assert len(shipped) == 2  # one per parcel: the order becoming SHIPPED adds none
    partly, rest = sorted(shipped, key=lambda n: n["title"], reverse=True)
    assert partly["title"] == "Part of your order shipped"
    assert "DHL" in partly["body"] and "JD0146" in partly["body"] and "https://dhl.example/t/JD0146" in partly["body"]
    assert rest["title"] == "Order shipped" and "is on its way." in rest["body"]


def test_the_same_event_twice_makes_one_notification(client, bus):
    placed_order(client, ANN, bus=bus)
    created = bus.of_type("OrderCreated")[0]
    notify(client, created)
    notify(client, created)
    assert len(call(client, "get", "/me/notifications", headers=ANN).json["items"]) == 1


def test_marking_read_is_owner_only(client, bus):
    placed_order(client, ANN, bus=bus)
    notify(client, bus.of_type("OrderCreated")[0])
    note = call(client, "get", "/me/notifications", headers=ANN).json["items"][0]
    assert call(client, "post", f"/me/notifications/{note['id']}/read", headers=auth("bob")).status_code == 404
    read = call(client, "post", f"/me/notifications/{note['id']}/read", headers=ANN)
    assert read.status_code == 200 and read.json["readAt"]
    again = call(client, "post", f"/me/notifications/{note['id']}/read", headers=ANN)
    assert again.json["readAt"] == read.json["readAt"]


def test_an_invalid_event_is_reported_failed_so_it_reaches_the_dlq(client):
    import json

    body = json.dumps({"detail-type": "OrderCreated", "source": "shop",
                       "detail": {"id": "e1", "type": "OrderCreated", "data": {"orderId": "x"}}})
    assert client.lambda_.invoke("notify", sqs_event(client, [body], queue=NOTIFY_QUEUE)).payload == RETRIED


def test_one_failing_event_leaves_the_rest_of_the_batch_delivered(client, bus):
    order, _ = placed_order(client, ANN, bus=bus)
    (created,) = bus.of_type("OrderCreated")
    batch = sqs_event(client, ["not json", eventbridge_body(created)], queue=NOTIFY_QUEUE)
    assert client.lambda_.invoke("notify", batch).payload == RETRIED
    assert [n["kind"] for n in call(client, "get", "/me/notifications", headers=ANN).json["items"]] == [
        "ORDER_CREATED"]


def test_low_stock_tells_every_admin(client, bus, aws):
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    admin = idp.admin_create_user(UserPoolId=aws["user_pool_id"], Username="boss@example.com",
                                  UserAttributes=[{"Name": "email", "Value": "boss@example.com"}],
                                  MessageAction="SUPPRESS")["User"]
    idp.admin_add_user_to_group(UserPoolId=aws["user_pool_id"], Username="boss@example.com", GroupName="admin")
    admin_sub = next(a["Value"] for a in admin["Attributes"] if a["Name"] == "sub")
    mug = product(client, stock=6)
    put_in_basket(client, ANN, mug["id"], 2)
    checkout(client, ANN)
    alerts = bus.of_type("LowStock")
    assert [(a.data["stock"], a.data["threshold"]) for a in alerts] == [(4, 5)]
    notify(client, alerts[0])
    feed = call(client, "get", "/me/notifications", headers=auth(admin_sub, groups=["admin"])).json["items"]
    assert [n["kind"] for n in feed] == ["LOW_STOCK"]


def test_stock_adjustment_below_threshold_raises_low_stock_once(client, bus):
    mug = product(client, stock=10)
    call(client, "post", f"/products/{mug['id']}/stock", {"delta": -4, "reason": "count"}, ADMIN)
    call(client, "post", f"/products/{mug['id']}/stock", {"delta": -2, "reason": "count"}, ADMIN)
    call(client, "post", f"/products/{mug['id']}/stock", {"delta": -1, "reason": "count"}, ADMIN)
    assert [a.data["stock"] for a in bus.of_type("LowStock")] == [4]


def test_export_includes_notifications_and_erasure_removes_them(client, bus):
    placed_order(client, ANN, bus=bus)
    notify(client, bus.of_type("OrderCreated")[0])
    assert len(call(client, "get", "/me/export", headers=ANN).json["notifications"]) == 1
    assert call(client, "delete", "/me", headers=ANN).status_code == 202
    from tests.shop import erased

    erased(client, "ann")
    from chalicelib.notifications.repository import NotificationRepository

    assert NotificationRepository().feed("ann", 10, None).items == []
