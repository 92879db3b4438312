"""Checkout: all or nothing, once per key, never overselling."""
from __future__ import annotations

import boto3
import pytest

from tests.fakes import auth
from tests.shop import ADDRESS, call, checkout, product, put_in_basket, race_checkouts, ship_basket, stock_of

ANN = auth("ann")
BOB = auth("bob")


def test_checkout_reserves_stock_clears_basket_and_answers_202(client):
    mug, cup = product(client, stock=5, price=1200), product(client, stock=3, price=300)
    put_in_basket(client, ANN, mug["id"], 2)
    put_in_basket(client, ANN, cup["id"], 3)
    response = checkout(client, ANN)
    assert response.status_code == 202
    assert set(response.json) == {"checkoutId", "orderId", "status"}
    assert (stock_of(client, mug["id"]), stock_of(client, cup["id"])) == (3, 0)
    assert call(client, "get", "/basket", headers=ANN).json["items"] == []


def test_checkout_snapshots_prices_and_address(aws, client):
    mug = product(client, price=1200)
    put_in_basket(client, ANN, mug["id"], 2)
    accepted = checkout(client, ANN).json
    from chalicelib.core.dynamo import from_item, key

    item = from_item(boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName="shop-local", Key=key(f"CHECKOUT#{accepted['checkoutId']}", "CHECKOUT"))["Item"])
    assert item["subtotal"] == 2400 and item["currency"] == "EUR"
    assert item["items"][0]["unitPrice"] == 1200 and item["shipping_address"]["city"] == "Ghent"


def test_out_of_stock_names_each_short_line_and_changes_nothing(client):
    plenty, scarce, gone = product(client, stock=9), product(client, stock=2), product(client, stock=1)
    for item, qty in ((plenty, 1), (scarce, 2), (gone, 1)):
        put_in_basket(client, ANN, item["id"], qty)
    from chalicelib.catalogue.repository import ProductRepository

    ProductRepository().adjust_stock(scarce["id"], -1)  # sold elsewhere
    ProductRepository().adjust_stock(gone["id"], -1)
    response = checkout(client, ANN)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "OUT_OF_STOCK"
    short = {d["productId"]: (d["requested"], d["available"]) for d in response.json["error"]["details"]}
    assert short == {scarce["id"]: (2, 1), gone["id"]: (1, 0)}
    assert stock_of(client, plenty["id"]) == 9
    assert len(call(client, "get", "/basket", headers=ANN).json["items"]) == 3


def test_a_race_lost_inside_the_transaction_also_names_the_line(client, monkeypatch):
    mug = product(client, stock=1)
    put_in_basket(client, ANN, mug["id"], 1)
    from chalicelib.catalogue.repository import ProductRepository

    real_get_many = ProductRepository.get_many_with  # the checkout's one read of its products and their stock

    def stale_read(self, ids, also, **kwargs):
        found = real_get_many(self, ids, also, **kwargs)
        ProductRepository().adjust_stock(mug["id"], -1)  # another buyer wins now
        return found

    ship_basket(client, ANN)
    monkeypatch.setattr(ProductRepository, "get_many_with", stale_read)
    response = checkout(client, ANN, ship=False)
    assert response.status_code == 409
    assert response.json["error"]["details"][0]["productId"] == mug["id"]
    assert stock_of(client, mug["id"]) == 0


def test_same_key_and_body_replays_the_first_answer(client):
    mug = product(client, stock=5)
    put_in_basket(client, ANN, mug["id"], 1)
    first = checkout(client, ANN, key="key-0000001")
    again = checkout(client, ANN, key="key-0000001")
    assert again.status_code == 202 and again.json == first.json
    assert stock_of(client, mug["id"]) == 4


def test_same_key_replays_even_with_a_refilled_basket(client):
    mug = product(client, stock=5)
    put_in_basket(client, ANN, mug["id"], 1)
    first = checkout(client, ANN, key="key-0000002")
    put_in_basket(client, ANN, mug["id"], 2)
    again = checkout(client, ANN, key="key-0000002")
    assert again.json == first.json
    assert stock_of(client, mug["id"]) == 4
    assert call(client, "get", "/basket", headers=ANN).json["items"][0]["quantity"] == 2


def test_same_key_with_another_body_is_422(client):
    mug = product(client, stock=5)
    put_in_basket(client, ANN, mug["id"], 1)
    checkout(client, ANN, key="key-0000003")
    other = checkout(client, ANN, key="key-0000003", payload={"shippingAddress": {**ADDRESS, "city": "Bruges"}})
    assert other.status_code == 422 and other.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_keys_are_per_user(client):
    mug = product(client, stock=5)
    put_in_basket(client, ANN, mug["id"], 1)
    put_in_basket(client, BOB, mug["id"], 1)
    a = checkout(client, ANN, key="shared-key-1")
    b = checkout(client, BOB, key="shared-key-1")
    assert a.json["checkoutId"] != b.json["checkoutId"]
    assert stock_of(client, mug["id"]) == 3


def test_idempotency_key_is_required_and_checked(client):
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    missing = call(client, "post", "/basket/checkout", {"shippingAddress": ADDRESS}, ANN)
    assert missing.status_code == 400 and missing.json["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    bad = checkout(client, ANN, key="short")
    assert bad.status_code == 400 and bad.json["error"]["code"] == "IDEMPOTENCY_KEY_INVALID"


def test_empty_basket_is_409(client):
    response = checkout(client, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "BASKET_EMPTY"


@pytest.mark.parametrize("payload", [{"addressId": "a", "shippingAddress": ADDRESS},
                                     {"shippingAddress": {**ADDRESS, "country": "ZZ"}},
                                     {"shippingAddress": {**ADDRESS, "region": "DE-BY"}},
                                     {"shippingAddress": ADDRESS, "total": 1}])
def test_at_most_one_valid_address_is_taken(client, payload):
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    ship_basket(client, ANN)
    response = call(client, "post", "/basket/checkout", payload, {**ANN, "Idempotency-Key": "k-12345678"})
    assert response.status_code == 422


def test_checkout_to_a_saved_address(client):
    saved = call(client, "post", "/me/addresses", ADDRESS, ANN).json
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    assert checkout(client, ANN, payload={"addressId": saved["id"]}).status_code == 202


def test_another_users_address_cannot_be_used(client):
    saved = call(client, "post", "/me/addresses", ADDRESS, BOB).json
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    response = checkout(client, ANN, payload={"addressId": saved["id"]})
    assert response.status_code == 422
    assert stock_of(client, mug["id"]) == 10


def test_archived_product_in_basket_blocks_checkout(client):
    from tests.fakes import ADMIN

    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    call(client, "delete", f"/products/{mug['id']}", headers=ADMIN)
    response = checkout(client, ANN)
    assert response.status_code == 409
    assert response.json["error"]["details"][0]["issue"] == "unavailable"


def test_checkout_is_announced_and_marked_published(aws, client, monkeypatch):
    sent = []
    monkeypatch.setattr("chalicelib.core.outbox.publish", lambda events: sent.extend(events))
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    accepted = checkout(client, ANN)
    requested = [e for e in sent if e.type == "CheckoutRequested"]
    assert len(requested) == 1 and requested[0].data["orderId"] == accepted.json["orderId"]
    from datetime import timedelta

    from chalicelib.core.outbox import unpublished

    assert unpublished(timedelta(0)) == []


def test_checkout_costs_the_calls_its_access_pattern_needs(client):
    from chalicelib.core.aws import client as aws_client

    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    ship_basket(client, ANN)
    calls = []
    for service in ("dynamodb", "events"):
        aws_client(service).meta.events.register(f"before-call.{service}.*",
                                                 lambda model, **kw: calls.append(model.name))
    checkout(client, ANN, ship=False)
    # basket, prices and stock, the transaction, the event, the outbox mark (the account's status
    # was read by the basket write, and this container remembers it)
    assert calls == ["GetItem", "BatchGetItem", "TransactWriteItems", "PutEvents", "UpdateItem"]



def test_last_unit_goes_to_exactly_one_buyer_under_concurrency(aws, atomic_dynamodb):
    """Forty shoppers race for five units: five orders, stock exactly zero, never negative."""
    from chalicelib.catalogue.models import ProductCreate
    from chalicelib.composition import Services
    from chalicelib.core.auth import Caller

    scarce = Services().catalogue.create(ProductCreate(name="Last few", category="rare", price=999,
                                                       currency="EUR", stock=5), actor="admin")
    buyers = [Caller(user_id=f"buyer-{i}") for i in range(40)]
    for buyer in buyers:
        Services().baskets.set_quantity(buyer.user_id, scarce.id, 1)
    outcomes = race_checkouts(buyers)
    assert outcomes.count("bought") == 5 and len(outcomes) == 40, outcomes  # the other 35 refused with a Conflict
    assert Services().catalogue.get(scarce.id).variants[0].stock == 0
