"""Every catalogue change is written with its events (outbox): a bus outage delays them, never loses them.

And a change decided on a read is written only if the product is still as read: a sale landing
in between makes the change read and decide again, so its event names the stock that resulted.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import ADDRESS, bus_down, call, kept, product, put_in_basket, ship_basket, stock_of, sweep, swept

NEW = {"name": "Espresso Cup", "category": "kitchen", "price": 1299, "currency": "EUR", "stock": 10}


# Each change: (request, status answered, event type, what the event says).
CHANGES = {
    "create": (lambda client, p: call(client, "post", "/products", NEW, ADMIN), 201, "ProductCreated",
               lambda event, body: event.data == {"productId": body["id"], "name": "Espresso Cup",
                                                  "category": "kitchen", "version": 1,
                                                  "variants": [{"variantId": body["id"], "sku": None, "options": {},
                                                                "prices": {"EUR": 1299}, "stock": 10}]}),
    "edit": (lambda client, p: call(client, "patch", f"/products/{p['id']}", {"description": "Bone china",
                                                                            "version": 1}, ADMIN),
             200, "ProductUpdated",
             lambda event, body: event.data == {"productId": body["id"], "version": 2,
                                                "changes": {"description": "Bone china"}}),
    "adjust stock": (lambda client, p: call(client, "post", f"/products/{p['id']}/stock",
                                            {"delta": 3, "reason": "delivery"}, ADMIN), 200, "StockAdjusted",
                     lambda event, body: event.data == {"productId": body["id"], "variantId": body["id"], "delta": 3,
                                                        "reason": "delivery", "stock": 13}),
    "archive": (lambda client, p: call(client, "delete", f"/products/{p['id']}", headers=ADMIN), 200,
                "ProductArchived", lambda event, body: event.data == {"productId": body["id"]}),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_with_the_bus_up_the_event_is_published_and_nothing_is_kept(client, bus, change):
    request, status, event_type, says = CHANGES[change]
    existing = product(client, stock=10)
    bus.events.clear()
    response = request(client, existing)
    assert response.status_code == status, response.body
    assert [e.type for e in bus.events] == [event_type]
    assert says(bus.events[0], response.json) and bus.events[0].actor == "admin-1"
    assert kept() == []


@pytest.mark.parametrize("change", list(CHANGES))
def test_with_the_bus_down_the_answer_is_the_same_and_the_sweeper_publishes_the_event_once(
        client, bus, monkeypatch, change):
    request, status, event_type, says = CHANGES[change]
    existing = product(client, stock=10)
    bus.events.clear()
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    response = request(client, existing)
    assert response.status_code == status, response.body
    assert bus.events == []
    assert [e.type for e in kept()] == [event_type]
    assert swept(client, bus, monkeypatch) == 1
    assert [e.type for e in bus.events] == [event_type]
    assert says(bus.events[0], response.json)


def test_the_answers_do_not_depend_on_the_bus(client, bus, monkeypatch):
    up = product(client, stock=10, name="Same")
    down = product(client, stock=10, name="Same")
    answers = {}
    for label, existing in (("up", up), ("down", down)):
        if label == "down":
            monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
        answers[label] = [
            (r.status_code, {**{k: v for k, v in r.json.items() if k not in ("id", "createdAt", "updatedAt")},
                             "variants": [{k: v for k, v in variant.items() if k != "id"}
                                          for variant in r.json["variants"]]})
            for r in (CHANGES["edit"][0](client, existing), CHANGES["adjust stock"][0](client, existing),
                      CHANGES["archive"][0](client, existing))]
    assert answers["up"] == answers["down"]
    assert [a[1]["variants"][0]["stock"] for a in answers["down"]] == [10, 13, 13]


def test_a_low_stock_alert_is_kept_with_the_adjustment_that_raised_it(client, bus, monkeypatch):
    mug = product(client, stock=6)
    bus.events.clear()
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    response = call(client, "post", f"/products/{mug['id']}/stock", {"delta": -2, "reason": "breakage"}, ADMIN)
    assert response.status_code == 200 and response.json["variants"][0]["stock"] == 4
    assert sorted(e.type for e in kept()) == ["LowStock", "StockAdjusted"]
    assert swept(client, bus, monkeypatch) == 2
    assert [(e.data["stock"], e.data["threshold"]) for e in bus.of_type("LowStock")] == [(4, 5)]


# --- a sale between the read and the write -------------------------------------------------


def sell_between_read_and_write(monkeypatch, sell, times=1):
    """Run `sell()` right after the catalogue reads the product, `times` times."""
    from chalicelib.catalogue.repository import ProductRepository

    real_get = ProductRepository.get
    reads = []

    def get_then_sell(self, product_id):
        found = real_get(self, product_id)
        reads.append(found.variants[0].stock if found else None)
        if len(reads) <= times:
            sell()
        return found

    monkeypatch.setattr(ProductRepository, "get", get_then_sell)
    return reads


def test_a_checkout_between_the_read_and_the_write_makes_the_adjustment_retry(client, bus, monkeypatch):
    from chalicelib.composition import Services
    from chalicelib.core.auth import Caller
    from chalicelib.orders.models import CheckoutRequest

    ann = auth("ann")
    mug = product(client, stock=10)
    put_in_basket(client, ann, mug["id"], 3)
    ship_basket(client, ann)
    bus.events.clear()
    accepted = []

    def checkout():  # the real checkout transaction: ADD stock :minus, conditioned on stock >= 3
        accepted.append(Services().checkouts.checkout(Caller(user_id="ann"), "race-checkout-0001",
                                                      CheckoutRequest.model_validate({"shippingAddress": ADDRESS})))

    reads = sell_between_read_and_write(monkeypatch, checkout)
    response = call(client, "post", f"/products/{mug['id']}/stock", {"delta": 5, "reason": "delivery"}, ADMIN)
    assert accepted and reads == [10, 7]  # read, sold 3, read again
    assert response.status_code == 200 and response.json["variants"][0]["stock"] == 12
    assert [e.data["stock"] for e in bus.of_type("StockAdjusted")] == [12]
    assert stock_of(client, mug["id"]) == 12


def test_a_removal_the_sale_made_impossible_is_refused_after_the_retry(client, bus, monkeypatch):
    from chalicelib.catalogue.repository import ProductRepository

    mug = product(client, stock=5)
    sell_between_read_and_write(monkeypatch, lambda: ProductRepository().adjust_stock(mug["id"], -3))
    response = call(client, "post", f"/products/{mug['id']}/stock", {"delta": -4, "reason": "count"}, ADMIN)
    assert response.status_code == 409 and response.json["error"]["code"] == "INSUFFICIENT_STOCK"
    assert "2 in stock" in response.json["error"]["message"]
    assert bus.of_type("StockAdjusted") == []


def test_a_sale_between_an_edits_read_and_write_neither_holds_the_edit_up_nor_is_lost(client, bus, monkeypatch):
    """A sale writes the variant's sale record, an edit the product item: neither waits for the other."""
    from chalicelib.catalogue.repository import ProductRepository

    mug = product(client, stock=10)
    reads = sell_between_read_and_write(monkeypatch, lambda: ProductRepository().adjust_stock(mug["id"], -1))
    response = call(client, "patch", f"/products/{mug['id']}", {"description": "Bone china", "version": 1}, ADMIN)
    assert response.status_code == 200 and reads == [10]  # one read: no retry
    assert (response.json["description"], response.json["version"]) == ("Bone china", 2)
    assert [e.data["version"] for e in bus.of_type("ProductUpdated")] == [2]
    monkeypatch.undo()
    assert stock_of(client, mug["id"]) == 9


def test_an_edit_that_lost_to_another_editor_is_a_version_conflict(client, bus, monkeypatch):
    from chalicelib.catalogue.models import ProductPatch
    from chalicelib.composition import Services

    mug = product(client)
    sell_between_read_and_write(monkeypatch, lambda: Services().catalogue.update(
        mug["id"], ProductPatch(name="Theirs", version=1), actor="admin-2"))
    response = call(client, "patch", f"/products/{mug['id']}", {"name": "Mine", "version": 1}, ADMIN)
    assert response.status_code == 409 and response.json["error"]["code"] == "VERSION_CONFLICT"
    assert [e.data["changes"] for e in bus.of_type("ProductUpdated")] == [{"name": "Theirs"}]


def test_archiving_around_a_concurrent_archive_stays_idempotent(client, bus, monkeypatch):
    from chalicelib.composition import Services

    mug = product(client)
    sell_between_read_and_write(monkeypatch, lambda: Services().catalogue.archive(mug["id"], actor="admin-2"))
    response = call(client, "delete", f"/products/{mug['id']}", headers=ADMIN)
    assert response.status_code == 200 and response.json["status"] == "ARCHIVED" and response.json["version"] == 2
    assert len(bus.of_type("ProductArchived")) == 1


def test_when_sales_keep_landing_in_between_the_answer_is_a_concurrent_change(client, bus, monkeypatch):
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.catalogue.service import CHANGE_ATTEMPTS

    mug = product(client, stock=50)
    bus.events.clear()
    reads = sell_between_read_and_write(
        monkeypatch, lambda: ProductRepository().adjust_stock(mug["id"], -1), times=CHANGE_ATTEMPTS)
    response = call(client, "post", f"/products/{mug['id']}/stock", {"delta": 5, "reason": "delivery"}, ADMIN)
    assert response.status_code == 409 and response.json["error"]["code"] == "CONCURRENT_CHANGE"
    assert len(reads) == CHANGE_ATTEMPTS
    assert bus.events == [] and kept() == []  # nothing written, nothing announced
    assert stock_of(client, mug["id"]) == 50 - CHANGE_ATTEMPTS


def test_an_event_kept_through_a_long_outage_never_expires_and_expires_a_week_after_it_is_published(
        client, bus, monkeypatch):
    """Its expiry once started when it was written: an outage longer than a week let TTL take it unpublished."""
    import boto3

    from chalicelib.core.dynamo import from_item, key
    from chalicelib.core.ids import set_clock

    monkeypatch.setattr("chalicelib.core.outbox.publish", bus_down)
    created = call(client, "post", "/products", NEW, ADMIN)
    assert created.status_code == 201
    (event,) = kept()

    def record():
        item = boto3.client("dynamodb", region_name="us-east-1").get_item(
            TableName="shop-local", Key=key(f"OUTBOX#{event.id}", "EVENT"))["Item"]
        return from_item(item)

    assert "expiresAt" not in record() and record()["outbox_event"]
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus.publish)
    back = datetime.now(UTC) + timedelta(days=30)
    set_clock(lambda: back)
    try:
        assert sweep(client)["republished"] == 1
    finally:
        set_clock(None)
    published = record()
    assert "outbox_event" not in published and "GSI3PK" not in published
    assert published["expiresAt"] == int((back + timedelta(days=7)).timestamp())
    assert [e.id for e in bus.of_type("ProductCreated")] == [event.id]
