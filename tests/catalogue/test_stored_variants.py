"""Products as stored: the product item, each variant's sale record, and product items from before variants."""
from __future__ import annotations

import pytest

LEGACY = {"PK": "PRODUCT#old-1", "SK": "PRODUCT", "type": "PRODUCT", "id": "old-1", "name": "Kettle",
          "description": "", "category": "kitchen", "price": 4200, "currency": "EUR", "stock": 7,
          "low_stock_threshold": 5, "status": "ACTIVE", "version": 3, "created_at": "2026-11-01T10:00:00.000Z",
          "updated_at": "2026-11-01T10:00:00.000Z", "GSI1PK": "CATEGORY#kitchen", "GSI1SK": "kettle#old-1",
          "GSI2PK": "PRODUCTS", "GSI2SK": "kettle#old-1"}


def _put(item):
    from chalicelib.core import dynamo

    dynamo.ddb().put_item(TableName=dynamo.table_name(), Item=dynamo.to_item(item))


def _item(pk, sk):
    from chalicelib.core import dynamo

    found = dynamo.get(pk, sk, consistent=True)
    return dynamo.from_item(found) if found else None


def test_a_product_from_before_reads_as_one_default_variant_holding_its_stock(aws):
    from chalicelib.catalogue.stored import product_from

    product = product_from(dict(LEGACY))
    assert [(v.id, v.sku, v.options, v.stock, v.status) for v in product.variants] == [("old-1", None, {}, 7, "ACTIVE")]
    assert [(p.currency, p.amount) for p in product.variants[0].prices] == [("EUR", 4200)]


def test_moving_a_product_from_before_keeps_every_unit_and_is_done_once(aws):
    from chalicelib.catalogue.stored import MovedMeanwhile, move_from_before, product_from
    from chalicelib.core import dynamo

    _put(LEGACY)
    dynamo.transact(move_from_before(dict(LEGACY)))
    moved = _item("PRODUCT#old-1", "PRODUCT")
    record = _item("STOCK#old-1", "STOCK")
    assert "stock" not in moved and "price" not in moved
    assert (record["stock"], record["sellable"], record["prices"], record["product_id"]) == (7, True, {"EUR": 4200},
                                                                                             "old-1")
    assert product_from(moved, {"old-1": {0: record["stock"]}}).variants[0].stock == 7
    with pytest.raises(MovedMeanwhile):  # a second move of what was read before finds it moved
        dynamo.transact(move_from_before(dict(LEGACY)))
    assert _item("STOCK#old-1", "STOCK")["stock"] == 7


def test_a_restock_before_the_move_and_the_move_add_up(aws):
    from chalicelib.catalogue import keys
    from chalicelib.catalogue.stored import move_from_before
    from chalicelib.core import dynamo
    from chalicelib.core.dynamo import Update

    _put(LEGACY)
    dynamo.write(dynamo.update(keys.stock_pk("old-1"), keys.STOCK_SK, Update().add("stock", 2)))  # a cancellation
    dynamo.transact(move_from_before(dict(LEGACY)))
    assert _item("STOCK#old-1", "STOCK")["stock"] == 9


def test_a_sale_between_the_read_and_the_move_refuses_the_move(aws):
    from chalicelib.catalogue.stored import MovedMeanwhile, move_from_before
    from chalicelib.core import dynamo

    _put(LEGACY)
    seen = dict(LEGACY)
    _put({**LEGACY, "stock": 6})  # a sale of the product item, as code from before makes it
    with pytest.raises(MovedMeanwhile):
        dynamo.transact(move_from_before(seen))
    assert _item("PRODUCT#old-1", "PRODUCT")["stock"] == 6 and _item("STOCK#old-1", "STOCK") is None
