"""Products in DynamoDB: one item each, listed through sparse indexes (no scans)."""
from __future__ import annotations

from typing import Any

from chalicelib.catalogue import keys
from chalicelib.catalogue.models import Product
from chalicelib.core.dynamo import (
    Page,
    conditional_update,
    ddb,
    from_item,
    key,
    query_page,
    table_name,
    to_attr,
    to_item,
)

_BATCH_GET_LIMIT = 100


class ProductNotFound(Exception):
    pass


class VersionConflict(Exception):
    def __init__(self, current: Product):
        self.current = current


class ProductIsArchived(Exception):
    pass


class InsufficientStock(Exception):
    def __init__(self, current: Product):
        self.current = current


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

    def create(self, product: Product) -> None:
        item = {"PK": keys.product_pk(product.id), "SK": keys.PRODUCT_SK, "type": "PRODUCT",
                **product.model_dump(), **keys.listing_keys(product.name, product.category, product.id)}
        ddb().put_item(TableName=table_name(), Item=to_item(item),
                       ConditionExpression="attribute_not_exists(PK)")

    def update(self, product_id: str, changes: dict[str, Any], expected_version: int,
               updated_at: str) -> Product:
        """Apply `changes` if nobody changed the product since `expected_version`."""
        fields = dict(changes, updated_at=updated_at)
        # Index keys follow the name and category so listings stay right.
        if "name" in changes:
            sort_key = keys.listing_sort_key(changes["name"], product_id)
            fields.update(GSI1SK=sort_key, GSI2SK=sort_key)
        if "category" in changes:
            fields["GSI1PK"] = keys.category_partition(changes["category"])
        names = {f"#{i}": name for i, name in enumerate(fields)}
        values = {f":{i}": to_attr(value) for i, value in enumerate(fields.values())}
        assignments = [f"#{i} = :{i}" for i in range(len(fields))]
        names.update({"#version": "version", "#status": "status"})
        values.update({":expected": to_attr(expected_version), ":one": to_attr(1),
                       ":active": to_attr("ACTIVE")})
        updated, item = conditional_update(
            Key=key(keys.product_pk(product_id), keys.PRODUCT_SK),
            UpdateExpression=f"SET {', '.join(assignments)} ADD #version :one",
            ConditionExpression="attribute_exists(PK) AND #version = :expected AND #status = :active",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        if item is None:
            raise ProductNotFound(product_id)
        current = _product(item)
        if not updated:
            if current.status != "ACTIVE":
                raise ProductIsArchived(product_id)
            raise VersionConflict(current)
        return current

    def adjust_stock(self, product_id: str, delta: int, updated_at: str) -> Product:
        """Add `delta` to the stock atomically; a decrement may never take it below zero."""
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

    def archive(self, product_id: str, updated_at: str) -> tuple[Product, bool]:
        """Hide a product from listings, keeping it readable. Returns (product, changed)."""
        updated, item = conditional_update(
            Key=key(keys.product_pk(product_id), keys.PRODUCT_SK),
            UpdateExpression=("SET #status = :archived, updated_at = :updated_at ADD #version :one "
                              "REMOVE GSI1PK, GSI1SK, GSI2PK, GSI2SK"),
            ConditionExpression="attribute_exists(PK) AND #status = :active",
            ExpressionAttributeNames={"#status": "status", "#version": "version"},
            ExpressionAttributeValues={":archived": to_attr("ARCHIVED"), ":active": to_attr("ACTIVE"),
                                       ":one": to_attr(1), ":updated_at": to_attr(updated_at)})
        if item is None:
            raise ProductNotFound(product_id)
        return _product(item), updated  # not updated: already archived, and archiving is idempotent
