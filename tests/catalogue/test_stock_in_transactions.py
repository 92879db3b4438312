"""Stock in other domains' transactions: the catalogue writes the conditions on its products.

The checkout reserves stock and an order's cancellation gives it back through items the
catalogue builds; a refused reservation is explained from the product as the transaction found it.
"""
from __future__ import annotations

import pytest

from chalicelib.catalogue.repository import ProductRepository
from chalicelib.core.lines import Line
from tests.shop import product, stock_of

ACTIVE = {"sellable": True, "prices": {"EUR": 1000}, "stock": 1}  # a variant's sale record


@pytest.mark.parametrize("as_was,why", [
    (None, "unavailable"),
    ({**ACTIVE, "sellable": False}, "unavailable"),
    ({**ACTIVE, "prices": {"USD": 1000}}, "currency_changed"),
    ({**ACTIVE, "prices": {"EUR": 1200, "USD": 1000}}, "price_changed"),
    (ACTIVE, "out_of_stock"),
])
def test_a_refused_reservation_says_why_from_the_sale_record_as_it_was(as_was, why):
    assert ProductRepository.reservation_refusal(as_was, 1000, "EUR") == why


def reserve(products, product_id, quantity, price=1000, currency="EUR"):
    from chalicelib.catalogue.repository import StockRefused
    from chalicelib.core.dynamo import transact

    try:
        transact(products.reserve_in_transaction(Line(product_id, quantity), price, currency))
    except StockRefused as refused:
        (line,) = refused.parts
        return line.issue
    return "reserved"


def test_a_reservation_takes_stock_at_the_price_shown_and_never_below_zero(client):
    products = ProductRepository()
    mug = product(client, stock=3, price=1000)
    assert reserve(products, mug["id"], 2) == "reserved"
    assert reserve(products, mug["id"], 2) == "out_of_stock"
    assert reserve(products, mug["id"], 1, price=900) == "price_changed"
    assert reserve(products, "no-such-product", 1) == "unavailable"
    assert stock_of(client, mug["id"]) == 1


def test_returned_stock_goes_back_to_its_variant_archived_or_not(client):
    from chalicelib.core.dynamo import transact
    from tests.fakes import ADMIN
    from tests.shop import call

    products = ProductRepository()
    mug = product(client, stock=3)
    transact([products.restock_in_transaction(Line(mug["id"], 2))])
    assert stock_of(client, mug["id"]) == 5
    assert call(client, "delete", f"/products/{mug['id']}", headers=ADMIN).status_code == 200
    transact([products.restock_in_transaction(Line(mug["id"], 1, mug["variants"][0]["id"]))])
    assert stock_of(client, mug["id"]) == 6
