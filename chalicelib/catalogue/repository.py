"""Products in DynamoDB: one item each, listed through sparse indexes (no scans)."""
from __future__ import annotations

from typing import Any

from chalicelib.catalogue import keys
from chalicelib.catalogue.models import Product
from chalicelib.core.dynamo import (
    Page,
    TransactionContended,
    TransactionRejected,
    Update,
    batch_get,
    conditional_update,
    ddb,
    from_item,
    key,
    model_from_item,
    query_page,
    table_name,
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
    return model_from_item(Product, item)


def _product_key(product_id: str) -> dict[str, Any]:
    return key(keys.product_pk(product_id), keys.PRODUCT_SK)


def _product_key_pair(product_id: str) -> tuple[str, str]:
    return keys.product_pk(product_id), keys.PRODUCT_SK


class ProductRepository:
    def get(self, product_id: str) -> Product | None:
        result = ddb().get_item(TableName=table_name(), Key=_product_key(product_id))
        item = result.get("Item")
        return _product(from_item(item)) if item else None

    def get_many(self, product_ids: list[str]) -> dict[str, Product]:
        """Several products by id in BatchGetItem calls (retrying what DynamoDB leaves unprocessed)."""
        found: dict[str, Product] = {}
        unique = list(dict.fromkeys(product_ids))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            request = {table_name(): {"Keys": [_product_key(pid) for pid in unique[start:start + _BATCH_GET_LIMIT]]}}
            for _attempt in range(5):
                result = ddb().batch_get_item(RequestItems=request)
                for item in result.get("Responses", {}).get(table_name(), []):
                    product = _product(from_item(item))
                    found[product.id] = product
                request = result.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def get_many_with(self, product_ids: list[str], also: list[tuple[str, str]]
                      ) -> tuple[dict[str, Product], dict[tuple[str, str], dict[str, Any]]]:
        """Products by id and other domains' items by (PK, SK) in the same BatchGetItem calls (a
        basket's prices with its promotion): the products, and each of `also` found, as stored."""
        found = batch_get([_product_key_pair(pid) for pid in product_ids] + list(also))
        products = {pid: _product(found[pair]) for pid in product_ids
                    if (pair := _product_key_pair(pid)) in found}
        return products, {pair: found[pair] for pair in also if pair in found}

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
        change = Update().set_all({name: value for name, value in new.items() if value != old[name] and name != "id"})
        if saved.status == "ACTIVE":
            # Index keys follow the name and category so listings stay right.
            if (saved.name, saved.category) != (seen.name, seen.category):
                change.set_all(keys.listing_keys(saved.name, saved.category, saved.id))
        elif seen.status == "ACTIVE":
            change.remove(*keys.listing_keys(saved.name, saved.category, saved.id))  # out of every listing
        update = {"Update": {
            "TableName": table_name(), "Key": _product_key(seen.id),
            **change.request("#version = :seen_version AND #stock = :seen_stock",
                             names={"#version": "version", "#stock": "stock"},
                             values={":seen_version": seen.version, ":seen_stock": seen.stock})}}
        try:
            transact_write([update, *outbox_puts(events)])
        except (TransactionRejected, TransactionContended):
            raise ProductChanged(seen.id) from None

    def adjust_stock(self, product_id: str, delta: int, updated_at: str) -> Product:
        """Add `delta` to the stock atomically, announcing nothing: what a sale does to stock (tests use it
        to sell elsewhere). Staff adjustments are announced: CatalogueService.adjust_stock."""
        condition, values = "attribute_exists(PK)", {}
        if delta < 0:
            condition, values = condition + " AND #stock >= :needed", {":needed": -delta}
        updated, item = conditional_update(
            Key=_product_key(product_id),
            **Update().add("stock", delta).set("updated_at", updated_at).request(condition, values=values))
        if item is None:
            raise ProductNotFound(product_id)
        if not updated:
            raise InsufficientStock(_product(item))
        return _product(item)

    # --- stock in other domains' transactions (the checkout, an order's cancellation) ----

    def reserve_in_transaction(self, product_id: str, quantity: int, unit_price: int, currency: str) -> dict[str, Any]:
        """The transaction item taking `quantity` units for a sale at the price and currency the buyer
        was shown. Refused (with the product as it was, for `reservation_refusal`) if that would take
        stock below zero, if the product is no longer sold, or if its price or currency changed since."""
        return {"Update": {
            "TableName": table_name(), "Key": _product_key(product_id),
            **Update().add("stock", -quantity).request(
                "#stock >= :quantity AND #status = :active AND #price = :price AND #currency = :currency",
                names={"#status": "status", "#price": "price", "#currency": "currency"},
                values={":quantity": quantity, ":active": "ACTIVE", ":price": unit_price, ":currency": currency}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}

    @staticmethod
    def reservation_refusal(as_was: dict[str, Any] | None, unit_price: int, currency: str) -> str:
        """Why `reserve_in_transaction` was refused, from the product as the transaction found it (None:
        gone): `unavailable`, `currency_changed`, `price_changed` or `out_of_stock`."""
        if as_was is None or as_was.get("status") != "ACTIVE":
            return "unavailable"
        if as_was.get("currency") != currency:
            return "currency_changed"
        if as_was.get("price") != unit_price:
            return "price_changed"
        return "out_of_stock"

    def restock_in_transaction(self, product_id: str, quantity: int) -> dict[str, Any]:
        """The transaction item giving `quantity` units back (an order cancelled or failed), to a
        product that still exists, archived or not."""
        return {"Update": {"TableName": table_name(), "Key": _product_key(product_id),
                           **Update().add("stock", quantity).request("attribute_exists(PK)")}}
