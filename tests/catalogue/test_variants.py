"""Products with variants over HTTP: a T-shirt in sizes and colours, each variant with its SKU, prices per
currency and stock, bought in one size in USD; bad input refused whole; SKUs one of a kind across the shop."""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.fakes import ADMIN, CUSTOMER, auth
from tests.shop import Bus, call, checkout, deliver, eventbridge_body, put_in_basket, stock_of


def tee(**overrides) -> dict:
    code = uuid.uuid4().hex[:6].upper()
    sizes, colours = ("S", "M"), ("Red", "Blue")
    return {"name": "Tee", "category": "apparel",
            "options": [{"name": "Size", "values": list(sizes)}, {"name": "Colour", "values": list(colours)}],
            "variants": [{"sku": f"TEE-{code}-{size}-{colour}", "options": {"Size": size, "Colour": colour},
                          "prices": [{"currency": "EUR", "amount": 2000 + 100 * i},
                                     {"currency": "USD", "amount": 2200 + 100 * i}], "stock": 5}
                         for i, (size, colour) in enumerate((s, c) for s in sizes for c in colours)],
            **overrides}


def create(client, payload) -> dict:
    response = call(client, "post", "/products", payload, ADMIN)
    assert response.status_code == 201, response.body
    return response.json


def _items_of(prefix: str) -> list[dict]:
    from chalicelib.core import dynamo

    found = dynamo.ddb().scan(TableName=dynamo.table_name(), ConsistentRead=True)["Items"]
    return [item for item in map(dynamo.from_item, found) if item["PK"].startswith(prefix)]


def test_a_tshirt_in_four_variants_is_bought_in_one_size_in_usd_and_only_that_variant_loses_stock(client):
    product = create(client, tee())
    assert [(v["options"]["Size"], v["options"]["Colour"]) for v in product["variants"]] == [
        ("S", "Red"), ("S", "Blue"), ("M", "Red"), ("M", "Blue")]
    assert all(v["id"].startswith(product["id"] + ".") and v["stock"] == 5 and v["version"] == 1
               for v in product["variants"])
    assert call(client, "get", f"/products/{product['id']}").json == product

    listed = call(client, "get", "/products?category=apparel&currency=USD").json["items"]
    (shown,) = [p for p in listed if p["id"] == product["id"]]
    assert (shown["priceRange"], shown["inStock"]) == ({"currency": "USD", "low": 2200, "high": 2500}, True)

    medium_blue = product["variants"][3]
    shopper = auth(f"tee-{uuid.uuid4().hex[:6]}")
    assert call(client, "put", "/basket/currency", {"currency": "USD"}, shopper).json["currency"] == "USD"
    basket = put_in_basket(client, shopper, medium_blue["id"], 2)
    assert basket["items"] == [{"productId": product["id"], "variantId": medium_blue["id"], "sku": medium_blue["sku"],
                                "options": {"Size": "M", "Colour": "Blue"}, "name": "Tee", "unitPrice": 2500,
                                "taxClass": "standard", "discount": 0, "tax": 0,
                                "quantity": 2, "lineTotal": 5000, "available": True}]
    bus = Bus()
    from unittest import mock

    with mock.patch("chalicelib.core.outbox.publish", bus.publish):
        accepted = checkout(client, shopper)
        assert accepted.status_code == 202, accepted.body
    assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    order = call(client, "get", f"/orders/{accepted.json['orderId']}", headers=shopper).json
    assert (order["currency"], order["subtotal"]) == ("USD", 5000)
    (line,) = order["items"]
    assert (line["variantId"], line["sku"], line["options"], line["unitPrice"]) == (
        medium_blue["id"], medium_blue["sku"], {"Size": "M", "Colour": "Blue"}, 2500)
    assert [stock_of(client, v["id"]) for v in product["variants"]] == [5, 5, 5, 3]


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p["options"][0].update(values=["S", "s"]), "options"),  # duplicate option values
    (lambda p: p["variants"][0]["options"].pop("Colour"), "variants"),  # a variant missing an option
    (lambda p: p["variants"][0]["options"].update(Fit="Slim"), "variants"),  # an unknown option
    (lambda p: p["variants"][1].update(options=dict(p["variants"][0]["options"])), "variants"),  # two alike
    (lambda p: p["variants"][1].update(sku=p["variants"][0]["sku"]), "variants"),  # a SKU twice
    (lambda p: p["variants"][0].update(sku="has space"), "variants.0.sku"),
    (lambda p: p["variants"][0]["prices"][0].update(amount=-1), "variants.0.prices.0.amount"),
    (lambda p: p["variants"][0]["prices"][0].update(amount=1.5), "variants.0.prices.0.amount"),
    (lambda p: p["variants"][0]["prices"][0].update(currency="XYZ"), "variants.0.prices.0.currency"),
    (lambda p: p["options"].extend({"name": f"O{i}", "values": ["a"]} for i in range(2)), "options"),  # 4 options
    (lambda p: p["options"][0].update(values=[f"v{i}" for i in range(21)]), "options.0.values"),
    (lambda p: p["variants"].extend(dict(p["variants"][0], sku=f"X{i}") for i in range(97)), "variants"),
])
def test_bad_variants_are_refused_with_field_details_and_nothing_is_written(client, change, field):
    payload = tee()
    change(payload)
    response = call(client, "post", "/products", payload, ADMIN)
    assert response.status_code == 422, response.body
    assert any(detail["field"].startswith(field) for detail in response.json["error"]["details"]), response.json
    assert _items_of("STOCK#") == [] and _items_of("SKU#") == [] and _items_of("PRODUCT#") == []


def test_a_sku_another_product_has_is_409_and_nothing_of_the_second_product_is_kept(client):
    first = create(client, tee())
    second = tee()
    second["variants"][2]["sku"] = first["variants"][0]["sku"]
    response = call(client, "post", "/products", second, ADMIN)
    assert response.status_code == 409 and response.json["error"]["code"] == "SKU_TAKEN", response.body
    assert len(_items_of("PRODUCT#")) == 1 and len(_items_of("STOCK#")) == 4
    assert sorted(item["product_id"] for item in _items_of("SKU#")) == [first["id"]] * 4


def test_two_products_claiming_one_sku_at_once_one_gets_it(aws, atomic_dynamodb):
    # The service, not the test client, on each thread: the client patches the process's environment per call.
    from chalicelib.catalogue.models import ProductCreate
    from chalicelib.composition import Services
    from chalicelib.core.errors import Conflict

    sku = f"ONE-{uuid.uuid4().hex[:6]}"
    start, answers = threading.Barrier(6), []
    new = ProductCreate.model_validate({"name": "Race", "category": "race", "variants": [
        {"sku": sku, "prices": [{"currency": "EUR", "amount": 100}], "stock": 1}]})

    def make():
        start.wait()
        try:
            Services().catalogue.create(new, actor="admin")
            answers.append(201)
        except Conflict as refused:
            answers.append(409 if refused.code == "SKU_TAKEN" else refused.code)

    threads = [threading.Thread(target=make) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201] + [409] * 5
    assert len(_items_of("SKU#")) == 1 and len(_items_of("PRODUCT#")) == 1


def test_staff_add_edit_and_adjust_a_variant_with_optimistic_locking(client):
    product = create(client, tee())
    added = call(client, "post", f"/products/{product['id']}/variants",
                 {"sku": f"NEW-{uuid.uuid4().hex[:6]}", "options": {"Size": "S", "Colour": "Red"},
                  "prices": [{"currency": "EUR", "amount": 1}]}, ADMIN)
    assert added.status_code == 422, added.body  # the same options as the first variant
    variant = product["variants"][0]
    edited = call(client, "patch", f"/products/{product['id']}/variants/{variant['id']}",
                  {"prices": [{"currency": "EUR", "amount": 1800}], "sku": "RENAMED-" + variant["sku"], "version": 1},
                  ADMIN)
    assert edited.status_code == 200
    assert (edited.json["version"], edited.json["sku"]) == (2, "RENAMED-" + variant["sku"])
    stale = call(client, "patch", f"/products/{product['id']}/variants/{variant['id']}",
                 {"status": "ARCHIVED", "version": 1}, ADMIN)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "VERSION_CONFLICT"
    # the old SKU is free again: another product may take it
    create(client, {"name": "Other", "category": "x", "variants": [
        {"sku": variant["sku"], "prices": [{"currency": "EUR", "amount": 5}]}]})
    adjusted = call(client, "post", f"/products/{product['id']}/variants/{variant['id']}/stock",
                    {"delta": -5, "reason": "damaged"}, ADMIN)
    assert adjusted.status_code == 200 and adjusted.json["stock"] == 0
    assert call(client, "post", f"/products/{product['id']}/variants/{variant['id']}/stock",
                {"delta": -1, "reason": "x"}, ADMIN).json["error"]["code"] == "INSUFFICIENT_STOCK"
    single = call(client, "post", f"/products/{product['id']}/stock", {"delta": 1, "reason": "x"}, ADMIN)
    assert single.status_code == 400 and single.json["error"]["code"] == "VARIANT_REQUIRED"
    assert call(client, "post", f"/products/{product['id']}/variants", {"sku": "X", "prices": [
        {"currency": "EUR", "amount": 1}]}, CUSTOMER).status_code == 403


def test_the_basket_refuses_what_cannot_be_sold_in_its_currency(client):
    product = create(client, tee())
    shopper = auth(f"b-{uuid.uuid4().hex[:6]}")
    first = product["variants"][0]
    call(client, "patch", f"/products/{product['id']}/variants/{first['id']}",
         {"prices": [{"currency": "EUR", "amount": 900}], "version": 1}, ADMIN)
    put_in_basket(client, shopper, first["id"], 1)
    refused = call(client, "put", "/basket/currency", {"currency": "USD"}, shopper)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "PRICE_NOT_AVAILABLE"
    assert refused.json["error"]["details"][0]["variantId"] == first["id"]
    assert call(client, "put", f"/basket/items/{product['id']}", {"quantity": 1}, shopper).json["error"]["code"] \
        == "VARIANT_REQUIRED"
    archived = product["variants"][1]
    call(client, "patch", f"/products/{product['id']}/variants/{archived['id']}",
         {"status": "ARCHIVED", "version": 1}, ADMIN)
    gone = call(client, "put", f"/basket/items/{archived['id']}", {"quantity": 1}, shopper)
    assert gone.status_code == 409 and gone.json["error"]["code"] == "ITEM_UNAVAILABLE"


def test_a_claim_left_by_a_creation_that_never_finished_is_taken_over_only_once_it_is_old(client):
    from chalicelib.core import dynamo

    def left_behind(claimed_at):
        dynamo.ddb().put_item(TableName=dynamo.table_name(), Item=dynamo.to_item(
            {"PK": "SKU#LOST-1", "SK": "SKU", "type": "SKU", "product_id": "never-made", "variant_id": "never-made",
             "claimed_at": claimed_at}))

    payload = {"name": "Found", "category": "x", "variants": [{"sku": "LOST-1", "prices": [
        {"currency": "EUR", "amount": 5}]}]}
    from datetime import timedelta

    from chalicelib.core.ids import iso, now

    left_behind(iso(now() - timedelta(minutes=2)))  # a creation that may still be running
    assert call(client, "post", "/products", payload, ADMIN).status_code == 409
    left_behind(iso(now() - timedelta(hours=1)))
    made = create(client, payload)
    (claim,) = _items_of("SKU#")
    assert claim["product_id"] == made["id"]


def test_a_product_made_with_one_variant_of_its_own_id_is_bought_by_the_products_id(client):
    made = create(client, {"name": "One", "category": "x", "variants": [
        {"sku": f"ONE-{uuid.uuid4().hex[:6]}", "prices": [{"currency": "EUR", "amount": 700}], "stock": 3}]})
    (variant,) = made["variants"]
    assert variant["id"] != made["id"]
    shopper = auth(f"one-{uuid.uuid4().hex[:6]}")
    basket = put_in_basket(client, shopper, made["id"], 2)
    assert [(line["variantId"], line["quantity"]) for line in basket["items"]] == [(variant["id"], 2)]
    assert call(client, "delete", f"/basket/items/{made['id']}", headers=shopper).status_code == 204
    assert call(client, "get", "/basket", headers=shopper).json["items"] == []
