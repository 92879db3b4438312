"""Data written before products had variants reads correctly: products holding their own price and stock, baskets
holding {productId: quantity}, orders whose lines name no variant. Each is driven through basket, checkout,
refund and return, and units are counted exactly across the move of a product's stock into its sale record."""
from __future__ import annotations

import uuid

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import call, checkout, deliver, eventbridge_body, pay, stock_of

pytestmark = pytest.mark.usefixtures("bus")


def _put(item):
    from chalicelib.core import dynamo

    dynamo.ddb().put_item(TableName=dynamo.table_name(), Item=dynamo.to_item(item))


def _item(pk, sk):
    from chalicelib.core import dynamo

    found = dynamo.get(pk, sk, consistent=True)
    return dynamo.from_item(found) if found else None


def product_from_before(stock: int, price: int = 1500) -> str:
    """A product item as the shop wrote it before variants (its listings' keys with it)."""
    product_id = uuid.uuid4().hex
    _put({"PK": f"PRODUCT#{product_id}", "SK": "PRODUCT", "type": "PRODUCT", "id": product_id, "name": "Old lamp",
          "description": "", "category": "old", "price": price, "currency": "EUR", "stock": stock,
          "low_stock_threshold": 5, "status": "ACTIVE", "version": 1, "created_at": "2026-11-01T10:00:00.000Z",
          "updated_at": "2026-11-01T10:00:00.000Z", "images": {}, "image_slots": 0,
          "GSI1PK": "CATEGORY#old", "GSI1SK": f"old lamp#{product_id}", "GSI2PK": "PRODUCTS",
          "GSI2SK": f"old lamp#{product_id}"})
    return product_id


def basket_from_before(user_id: str, product_id: str, quantity: int) -> None:
    _put({"PK": f"USER#{user_id}", "SK": "BASKET", "type": "BASKET", "user_id": user_id,
          "lines": {product_id: quantity}, "currency": "EUR", "version": 1, "updated_at": "2026-11-01T10:00:00.000Z",
          "expiresAt": 4102444800, "GSI3PK": "BASKETEXPIRY", "GSI3SK": f"2099-01-01T00:00:00.000Z#{user_id}"})


def as_before(order_id: str) -> None:
    """The order as the shop stored it before variants: its lines name their product only."""
    order = _item(f"ORDER#{order_id}", "ORDER")
    order["items"] = [{k: v for k, v in line.items() if k not in ("variant_id", "sku", "options")}
                      for line in order["items"]]
    _put(order)


def test_a_basket_and_product_from_before_check_out_and_the_stock_moves_exactly_once(client, bus):
    from unittest import mock

    product_id = product_from_before(stock=10)
    listed = [p for p in call(client, "get", "/products?category=old").json["items"] if p["id"] == product_id]
    assert listed[0]["variants"][0]["id"] == product_id and listed[0]["inStock"] is True
    shopper_id = f"old-{uuid.uuid4().hex[:6]}"
    shopper = auth(shopper_id)
    basket_from_before(shopper_id, product_id, 2)
    basket = call(client, "get", "/basket", headers=shopper).json
    assert [(i["productId"], i["variantId"], i["unitPrice"], i["available"]) for i in basket["items"]] == [
        (product_id, product_id, 1500, True)]
    with mock.patch("chalicelib.core.outbox.publish", bus.publish):
        accepted = checkout(client, shopper)
    assert accepted.status_code == 202, accepted.body
    assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    assert stock_of(client, product_id) == 8
    moved = _item(f"PRODUCT#{product_id}", "PRODUCT")
    assert "stock" not in moved and _item(f"STOCK#{product_id}", "STOCK")["stock"] == 8


def test_an_order_from_before_is_refunded_and_returned_and_its_units_come_back_to_an_unmoved_product(client):
    from tests.shop import placed_order

    shopper = auth(f"ret-{uuid.uuid4().hex[:6]}")
    order, product_id = placed_order(client, shopper, quantity=3, stock=5)
    assert pay(client, order).json["outcome"] == "APPLIED"
    for status in ("SHIPPED", "DELIVERED"):
        assert call(client, "post", f"/admin/orders/{order['id']}/status", {"status": status}, ADMIN).status_code == 200
    as_before(order["id"])
    # The product as it was before variants too, its stock (2 left) back on the product item, never moved.
    record = _item(f"STOCK#{product_id}", "STOCK")
    product = _item(f"PRODUCT#{product_id}", "PRODUCT")
    _put({**{k: v for k, v in product.items() if k != "variants"}, "price": 1000, "currency": "EUR",
          "stock": record["stock"]})
    from chalicelib.core import dynamo

    dynamo.ddb().delete_item(TableName=dynamo.table_name(), Key=dynamo.key(f"STOCK#{product_id}", "STOCK"))

    shown = call(client, "get", f"/orders/{order['id']}", headers=shopper).json
    assert [(line["productId"], line["variantId"]) for line in shown["items"]] == [(product_id, None)]
    refunded = call(client, "post", f"/admin/orders/{order['id']}/refunds",
                    {"amount": 1000, "reason": "broken", "restock": [{"productId": product_id, "quantity": 1}]},
                    {**ADMIN, "Idempotency-Key": uuid.uuid4().hex})
    assert refunded.status_code == 201, refunded.body
    # the restock made the sale record (1); the product item still holds its 2: a read moves them and adds up
    assert _item(f"STOCK#{product_id}", "STOCK")["stock"] == 1
    assert stock_of(client, product_id) == 3
    returned = call(client, "post", f"/orders/{order['id']}/returns",
                    {"lines": [{"productId": product_id, "quantity": 1}], "reason": "too big"},
                    {**shopper, "Idempotency-Key": uuid.uuid4().hex})
    assert returned.status_code == 201, returned.body
    received = call(client, "post", f"/admin/returns/{returned.json['id']}/receive", headers=ADMIN)
    assert received.status_code == 200, received.body
    assert stock_of(client, product_id) == 4
    over = call(client, "post", f"/orders/{order['id']}/returns",
                {"lines": [{"variantId": product_id, "quantity": 3}], "reason": "more"},
                {**shopper, "Idempotency-Key": uuid.uuid4().hex})
    assert over.status_code == 409, over.body  # 3 bought, 1 in a return: 2 left to return
