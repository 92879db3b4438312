"""The basket: priced by the catalogue, bounded, and only ever the caller's."""
from __future__ import annotations

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import call, product, put_in_basket

ANN = auth("ann")
BOB = auth("bob")


def test_basket_lines_are_priced_from_the_catalogue(client):
    mug = product(client, price=1250)
    basket = put_in_basket(client, ANN, mug["id"], 2)
    assert basket["items"] == [{"productId": mug["id"], "variantId": mug["id"], "sku": None, "options": {},
                                "name": mug["name"], "unitPrice": 1250, "quantity": 2, "lineTotal": 2500,
                                "taxClass": "standard", "discount": 0, "tax": 0, "available": True}]
    assert basket["subtotal"] == 2500 and basket["currency"] == "EUR"


def test_a_price_change_shows_in_the_basket(client):
    mug = product(client, price=1000)
    put_in_basket(client, ANN, mug["id"], 1)
    repriced = call(client, "patch", f"/products/{mug['id']}/variants/{mug['id']}",
                    {"prices": [{"currency": "EUR", "amount": 800}], "version": 1}, ADMIN)
    assert repriced.status_code == 200, repriced.body
    assert call(client, "get", "/basket", headers=ANN).json["subtotal"] == 800


def test_client_prices_are_refused(client):
    mug = product(client)
    response = call(client, "put", f"/basket/items/{mug['id']}", {"quantity": 1, "unitPrice": 1}, ANN)
    assert response.status_code == 422


def test_setting_zero_removes_the_line(client):
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 3)
    assert put_in_basket(client, ANN, mug["id"], 0)["items"] == []


def test_delete_line_and_clear_basket(client):
    a, b = product(client), product(client)
    put_in_basket(client, ANN, a["id"], 1)
    put_in_basket(client, ANN, b["id"], 1)
    assert call(client, "delete", f"/basket/items/{a['id']}", headers=ANN).status_code == 204
    assert [i["productId"] for i in call(client, "get", "/basket", headers=ANN).json["items"]] == [b["id"]]
    assert call(client, "delete", "/basket", headers=ANN).status_code == 204
    assert call(client, "get", "/basket", headers=ANN).json == {"items": [], "subtotal": 0, "currency": "EUR",
                                                                "updatedAt": None, "promotion": None,
                                                                "discount": 0, "total": 0, "shipping": 0,
                                                                "tax": 0, "taxLines": [], "pricesIncludeTax": True,
                                                                "shippingAddress": None, "shippingMethod": None}


@pytest.mark.parametrize("quantity", [-1, 100, "2", 1.5, None])
def test_quantities_are_bounded_integers(client, quantity):
    mug = product(client)
    assert call(client, "put", f"/basket/items/{mug['id']}", {"quantity": quantity}, ANN).status_code == 422


def test_unknown_and_archived_products_are_refused(client):
    assert call(client, "put", "/basket/items/nope", {"quantity": 1}, ANN).status_code == 404
    mug = product(client)
    call(client, "delete", f"/products/{mug['id']}", headers=ADMIN)
    response = call(client, "put", f"/basket/items/{mug['id']}", {"quantity": 1}, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "ITEM_UNAVAILABLE"


def test_more_than_in_stock_is_refused(client):
    mug = product(client, stock=2)
    response = call(client, "put", f"/basket/items/{mug['id']}", {"quantity": 3}, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "INSUFFICIENT_STOCK"


def test_an_archived_product_already_in_the_basket_is_flagged(client):
    mug, cup = product(client, price=500), product(client, price=300)
    put_in_basket(client, ANN, mug["id"], 1)
    put_in_basket(client, ANN, cup["id"], 1)
    call(client, "delete", f"/products/{mug['id']}", headers=ADMIN)
    basket = call(client, "get", "/basket", headers=ANN).json
    assert {i["productId"]: i["available"] for i in basket["items"]} == {mug["id"]: False, cup["id"]: True}
    assert basket["subtotal"] == 300


def test_one_currency_per_basket(client):
    eur, usd = product(client, currency="EUR"), product(client, currency="USD")
    put_in_basket(client, ANN, eur["id"], 1)
    response = call(client, "put", f"/basket/items/{usd['id']}", {"quantity": 1}, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "PRICE_NOT_AVAILABLE"
    assert response.json["error"]["details"][0]["variantId"] == usd["variants"][0]["id"]
    assert [i["productId"] for i in call(client, "get", "/basket", headers=ANN).json["items"]] == [eur["id"]]


def test_a_basket_keeps_the_currency_chosen_while_empty(client):
    chosen = call(client, "put", "/basket/currency", {"currency": "USD"}, ANN)
    assert chosen.status_code == 200 and chosen.json["currency"] == "USD"
    assert call(client, "get", "/basket", headers=ANN).json["currency"] == "USD"
    usd = product(client, currency="USD", price=700)
    assert put_in_basket(client, ANN, usd["id"], 1)["subtotal"] == 700
    assert call(client, "delete", f"/basket/items/{usd['id']}", headers=ANN).status_code == 204
    assert call(client, "get", "/basket", headers=ANN).json["currency"] == "USD"


def test_lines_are_bounded(client, monkeypatch):
    monkeypatch.setattr("chalicelib.basket.service.MAX_LINES", 3)
    ids = [product(client)["id"] for _ in range(4)]
    for product_id in ids[:3]:
        put_in_basket(client, ANN, product_id, 1)
    response = call(client, "put", f"/basket/items/{ids[3]}", {"quantity": 1}, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "BASKET_FULL"
    assert put_in_basket(client, ANN, ids[0], 5)["items"][0]["quantity"] == 5  # existing lines still change


def test_baskets_are_private(client):
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    assert call(client, "get", "/basket", headers=BOB).json["items"] == []
    assert call(client, "get", "/basket").status_code == 401
