"""Products in DynamoDB: one item each, listed through sparse indexes (no scans)."""
from __future__ import annotations

from typing import Any

from chalicelib.catalogue import keys
from chalicelib.catalogue.models import Product
from chalicelib.core.dynamo import (
    Page,
    TransactionContended,
    TransactionRejected,
    conditional_update,
    ddb,
    from_item,
    key,
    query_page,
    table_name,
    to_attr,
    to_item,
    transact_write,
)
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_puts

_BATCH_GET_LIMIT = 100


class ProductNotFound(Exception):
    pass


class InsufficientStock(Exception):
    def __init__(self, current: Product):
        self.current = current


class ProductChanged(Exception):
    """The product changed between the read and the write (a sale, a return, another editor)."""


def _product(item: dict[str, Any]) -> Product:
    return Product.model_validate({k: v for k, v in item.items() if k in Product.model_fields})


class ProductRepository:
    def get(self, product_id: str) -> Product | None:
        result = ddb().get_item(TableName=table_name(),
                                Key=key(keys.product_pk(product_id), keys.PRODUCT_SK))
        item = result.get("Item")
        return _product(from_item(item)) if item else None

    def get_many(self, product_ids: list[str]) -> dict[str, Product]:
        """Several products by id in BatchGetItem calls (retrying what DynamoDB leaves unprocessed)."""
        found: dict[str, Product] = {}
        unique = list(dict.fromkeys(product_ids))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            request = {table_name(): {"Keys": [key(keys.product_pk(pid), keys.PRODUCT_SK)
                                               for pid in unique[start:start + _BATCH_GET_LIMIT]]}}
            for _attempt in range(5):
                result = ddb().batch_get_item(RequestItems=request)
                for item in result.get("Responses", {}).get(table_name(), []):
                    product = _product(from_item(item))
                    found[product.id] = product
                request = result.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def list_active(self, limit: int, cursor: str | None) -> Page:
        return self._listing(keys.ALL_PRODUCTS, "GSI2", limit, cursor)

    def list_category(self, category: str, limit: int, cursor: str | None) -> Page:
        return self._listing(keys.category_partition(category), "GSI1", limit, cursor)

    def _listing(self, partition: str, index: str, limit: int, cursor: str | None) -> Page:
        page = query_page(partition, index=index, limit=limit, cursor=cursor)
        page.items = [_product(item) for item in page.items]
        return page

    def create(self, product: Product, events: list[Envelope]) -> None:
        """Store a new product with the events announcing it, in one transaction."""
        item = {"PK": keys.product_pk(product.id), "SK": keys.PRODUCT_SK, "type": "PRODUCT",
                **product.model_dump(), **keys.listing_keys(product.name, product.category, product.id)}
        transact_write([{"Put": {"TableName": table_name(), "Item": to_item(item),
                                 "ConditionExpression": "attribute_not_exists(PK)"}}, *outbox_puts(events)])

    def save(self, seen: Product, saved: Product, events: list[Envelope]) -> None:
        """Write what changed from `seen` (the product as read) to `saved`, with `events`, in one transaction.

        Conditioned on the product still having the version and the stock it had when read: a
        checkout (or a stock return) changes stock without a new version. Raises ProductChanged
        when someone got in between; read it again and decide again.
        """
        old, new = seen.model_dump(), saved.model_dump()
        fields = {name: value for name, value in new.items() if value != old[name] and name != "id"}
        removed: list[str] = []
        if saved.status == "ACTIVE":
            # Index keys follow the name and category so listings stay right.
            if "name" in fields or "category" in fields:
                fields.update(keys.listing_keys(saved.name, saved.category, saved.id))
        elif seen.status == "ACTIVE":
            removed = list(keys.listing_keys(saved.name, saved.category, saved.id))  # out of every listing
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": to_attr(value) for i, value in enumerate(fields.values())}
        expression = "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        names.update({"#version": "version", "#stock": "stock"})
        values.update({":seen_version": to_attr(seen.version), ":seen_stock": to_attr(seen.stock)})
        update = {"Update": {
            "TableName": table_name(), "Key": key(keys.product_pk(seen.id), keys.PRODUCT_SK),
            "UpdateExpression": expression,
            "ConditionExpression": "#version = :seen_version AND #stock = :seen_stock",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}
        try:
            transact_write([update, *outbox_puts(events)])
        except (TransactionRejected, TransactionContended):
            raise ProductChanged(seen.id) from None

    def adjust_stock(self, product_id: str, delta: int, updated_at: str) -> Product:
        """Add `delta` to the stock atomically, announcing nothing: what a sale does to stock (tests use it
        to sell elsewhere). Staff adjustments are announced: CatalogueService.adjust_stock."""
        values = {":delta": to_attr(delta), ":updated_at": to_attr(updated_at)}
        condition = "attribute_exists(PK)"
        if delta < 0:
            values[":needed"] = to_attr(-delta)
            condition += " AND stock >= :needed"
        updated, item = conditional_update(
            Key=key(keys.product_pk(product_id), keys.PRODUCT_SK),
            UpdateExpression="ADD stock :delta SET updated_at = :updated_at",
            ConditionExpression=condition, ExpressionAttributeValues=values)
        if item is None:
            raise ProductNotFound(product_id)
        if not updated:
            raise InsufficientStock(_product(item))
        return _product(item)
