"""The audit trail: one record per event, by entity or time, for staff only."""
from __future__ import annotations

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import call, eventbridge_body, placed_order, sqs_event

ANN = auth("ann")




def record(client, events):
    return client.lambda_.invoke("record_audit", sqs_event(client, [eventbridge_body(e) for e in events],
                                                           queue="shop-local-audit")).payload


def test_every_event_of_an_order_is_audited_with_actor_and_correlation(client, bus):
    order, _ = placed_order(client, ANN, bus=bus)
    call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "PAID"}, ADMIN)
    assert record(client, bus.events) == {"batchItemFailures": []}
    trail = call(client, "get", f"/admin/audit?entityType=ORDER&entityId={order['id']}", headers=ADMIN).json["items"]
    assert [(r["action"], r["actor"]) for r in trail] == [("OrderStatusChanged", "admin-1"), ("OrderCreated", "ann")]
    assert all(set(r) == {"eventId", "action", "actor", "entityType", "entityId", "summary", "correlationId", "at"}
               for r in trail)
    assert trail[0]["summary"]["from"] == "PENDING" and trail[0]["summary"]["to"] == "PAID"


def test_shipments_and_their_deliveries_are_audited_under_their_order(client, bus):
    order, _ = placed_order(client, ANN, bus=bus)
    call(client, "post", f"/admin/orders/{order['id']}/status", {"status": "PAID"}, ADMIN)
    made = call(client, "post", f"/admin/orders/{order['id']}/shipments", {"carrier": "DHL", "trackingNumber": "JD0146"},
                {**ADMIN, "Idempotency-Key": "audited-parcel"}).json
    call(client, "post", f"/admin/orders/{order['id']}/shipments/{made['id']}/delivered", headers=ADMIN)
    assert record(client, bus.events) == {"batchItemFailures": []}
    trail = call(client, "get", f"/admin/audit?entityType=ORDER&entityId={order['id']}", headers=ADMIN).json["items"]
    shipments = {r["action"]: r for r in trail if r["action"].startswith("Shipment")}
    assert set(shipments) == {"ShipmentCreated", "ShipmentDelivered"}
    assert all(r["actor"] == "admin-1" and r["summary"]["shipmentId"] == made["id"] for r in shipments.values())
    assert shipments["ShipmentCreated"]["summary"]["carrier"] == "DHL"


def test_audit_records_hold_no_personal_data(client, bus):
    placed_order(client, ANN, bus=bus)
    record(client, bus.of_type("CheckoutRequested"))
    checkout = call(client, "get", "/admin/audit", headers=ADMIN).json["items"][0]
    assert checkout["entityType"] == "CHECKOUT" and "shippingAddress" not in checkout["summary"]


def test_a_repeated_event_is_recorded_once(client, bus):
    placed_order(client, ANN, bus=bus)
    created = bus.of_type("OrderCreated")[0]
    record(client, [created, created])
    assert len(call(client, "get", "/admin/audit", headers=ADMIN).json["items"]) == 1


def test_invalid_events_fail_alone(client, bus):
    placed_order(client, ANN, bus=bus)
    good = eventbridge_body(bus.of_type("OrderCreated")[0])
    bodies = ['{"detail": {"type": "OrderCreated", "data": {}}}', good, "{}"]
    result = client.lambda_.invoke("record_audit", sqs_event(client, bodies, queue="shop-local-audit")).payload
    assert result == {"batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-2"}]}


def test_audit_by_date_range(client, bus):
    order, _ = placed_order(client, ANN, bus=bus)
    record(client, bus.events)
    day = order["createdAt"][:10]
    assert call(client, "get", f"/admin/audit?from={day}&to={day}", headers=ADMIN).json["items"]
    assert call(client, "get", "/admin/audit?from=2001-01-01&to=2001-01-02", headers=ADMIN).json["items"] == []


@pytest.mark.parametrize("query", ["entityType=ORDER", "entityId=x", "entityType=BASKET&entityId=x",
                                   "from=nope", "limit=0"])
def test_audit_query_is_validated(client, query):
    assert call(client, "get", f"/admin/audit?{query}", headers=ADMIN).status_code == 400


def test_audit_is_staff_only(client):
    assert call(client, "get", "/admin/audit", headers=ANN).status_code == 403
    assert call(client, "get", "/admin/audit").status_code == 401
