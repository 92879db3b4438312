"""How products and their variants are stored: the product item, each variant's sale record, and the
product items written before variants existed (read as one default variant, moved on first read).

Only the catalogue's repository and the migration command use this module.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.catalogue import keys
from chalicelib.catalogue.models import Product, ProductImage, Variant
from chalicelib.core import dynamo
from chalicelib.core.dynamo import Update, Write


def is_from_before(item: dict[str, Any]) -> bool:
    """A product item written before variants: its stock is still on it."""
    return "variants" not in item


# What each of a variant's stock items held when read: {variant id: {shard: units}}.
Held = dict[str, dict[int, int]]


def variants_of(item: dict[str, Any], stocks: Held | None = None) -> list[dict[str, Any]]:
    """The variants of a stored product as the wire model's fields, in the order they were added; `stocks` by
    variant id (None: unknown, as in a listing), summed over its stock items. A product from before is one
    default variant."""
    if is_from_before(item):
        held = {0: int(item.get("stock", 0))} if stocks is None else stocks.get(item["id"], {})
        return [{"id": item["id"], "sku": None, "options": {}, "status": "ACTIVE", "version": item["version"],
                 "prices": [{"currency": item["currency"], "amount": item["price"]}],
                 "stock": sum(held.values()), "held": held}]
    ordered = sorted(item["variants"].items(), key=lambda pair: pair[1]["position"])
    return [{"id": variant_id, "sku": stored.get("sku"), "options": stored.get("options", {}),
             "status": stored["status"], "version": stored["version"],
             "prices": [{"currency": currency, "amount": amount} for currency, amount in stored["prices"].items()],
             "stock_shards": stored.get("stock_shards", 1), "stock_items": stored.get("stock_items", 1),
             **({"stock": None} if stocks is None else
                {"stock": sum(stocks.get(variant_id, {}).values()), "held": stocks.get(variant_id, {})})}
            for variant_id, stored in ordered]


def product_from(item: dict[str, Any], stocks: Held | None = None) -> Product:
    """The wire product of a stored item (and its variants' stock, read from their sale records)."""
    images = item.get("images")
    if isinstance(images, dict):  # kept as a map by image id; answered as a list, oldest first
        shown = ProductImage.model_fields
        images = [{k: v for k, v in image.items() if k in shown}
                  for image in sorted(images.values(), key=lambda i: (i["created_at"], i["id"]))]
    fields = {name: value for name, value in item.items()
              if name not in ("variants", "images", "price", "currency", "stock")}
    return dynamo.model_from_item(Product, {**fields, "images": images or [], "variants": variants_of(item, stocks)})


def stored_variant(variant: Variant, position: int) -> dict[str, Any]:
    sharded = {"stock_shards": variant.stock_shards, "stock_items": variant.stock_items} \
        if variant.stock_items > 1 else {}
    return {"sku": variant.sku, "options": variant.options, "status": variant.status, "version": variant.version,
            "prices": {price.currency: price.amount for price in variant.prices}, "position": position, **sharded}


def product_item(product: Product) -> dict[str, Any]:
    """A new product's item (its listings' keys with it), without its variants' stock."""
    fields = product.model_dump(exclude={"variants", "images", "price_range", "in_stock"})
    return {"PK": keys.product_pk(product.id), "SK": keys.PRODUCT_SK, "type": "PRODUCT", **fields,
            "variants": {variant.id: stored_variant(variant, position)
                         for position, variant in enumerate(product.variants)},
            "images": {}, "image_slots": 0, **keys.listing_keys(product.name, product.category, product.id)}


def sellable(product_status: str, variant_status: str) -> bool:
    return product_status == variant_status == "ACTIVE"


def sale_record(product: Product, variant: Variant, shard: int = 0, stock: int | None = None) -> dict[str, Any]:
    """A variant's stock item `shard` (0: its sale record) as first written: `stock` units (the variant's, for the
    sale record of a new one), and copies of what a sale is conditioned on, as every stock item has."""
    return {"PK": keys.stock_item_pk(variant.id, shard), "SK": keys.STOCK_SK, "type": "STOCK",
            "product_id": product.id, "stock": (variant.stock or 0) if stock is None else stock,
            "sellable": sellable(product.status, variant.status),
            "prices": {price.currency: price.amount for price in variant.prices}}


def sku_item(sku: str, product_id: str, variant_id: str, claimed_at: str) -> dict[str, Any]:
    return {"PK": keys.sku_pk(sku), "SK": keys.SKU_SK, "type": "SKU", "product_id": product_id,
            "variant_id": variant_id, "claimed_at": claimed_at}


def stocks_in(found: dict[tuple[str, str], dict[str, Any]]) -> Held:
    """What each stock item held, by variant id and shard, among items read by key (a BatchGetItem's)."""
    held: Held = {}
    for (pk, sk), record in found.items():
        if sk == keys.STOCK_SK:
            variant_id, shard = keys.stock_item_of(pk)
            held.setdefault(variant_id, {})[shard] = int(record.get("stock", 0))
    return held


def stock_items(item: dict[str, Any]) -> dict[str, int]:
    """How many stock items each variant of a stored product has (a product from before: its one, not made yet)."""
    if is_from_before(item):
        return {item["id"]: 1}
    return {variant_id: stored.get("stock_items", 1) for variant_id, stored in item["variants"].items()}


def item_keys(variant_id: str, items: int, first: int = 0) -> list[tuple[str, str]]:
    return [(keys.stock_item_pk(variant_id, shard), keys.STOCK_SK) for shard in range(first, items)]


def stock_keys(item: dict[str, Any], of: Iterable[str] | None = None, first: int = 0) -> list[tuple[str, str]]:
    """The keys of a stored product's stock items (of the variants `of` names, or all; from shard `first` on). A
    product from before has none yet."""
    if is_from_before(item):
        return []
    wanted = set(item["variants"]) if of is None else set(of)
    return [key for variant_id, items in stock_items(item).items() if variant_id in wanted
            for key in item_keys(variant_id, items, first)]


class MovedMeanwhile(Exception):
    """A product from before changed between its read and its move (a sale, an edit, another move)."""


def move_from_before(item: dict[str, Any]) -> list[Write]:
    """The transaction moving a product from before: its item loses `stock` and gains its one variant; its
    sale record ADDs that stock (a restock may have made the record already: the two add up). Refused
    (MovedMeanwhile) if the item changed since `item` was read."""
    variant = Variant(id=item["id"], sku=None, options={}, status="ACTIVE", version=1, stock=int(item.get("stock", 0)),
                      prices=[{"currency": item["currency"], "amount": item["price"]}])
    product_change = Update().set("variants", {variant.id: stored_variant(variant, 0)}).remove("stock", "price",
                                                                                             "currency")
    seen = "attribute_not_exists(#variants) AND #version = :version AND " + (
        "#stock = :stock" if "stock" in item else "attribute_not_exists(#stock)")
    values = {":version": item["version"], **({":stock": item["stock"]} if "stock" in item else {})}
    record = (Update().add("stock", variant.stock).set("product_id", item["id"]).set("type", "STOCK")
              .set("sellable", sellable(item["status"], "ACTIVE")).set("prices", {item["currency"]: item["price"]}))
    return [dynamo.update(keys.product_pk(item["id"]), keys.PRODUCT_SK, product_change, seen,
                          names={"#variants": "variants", "#version": "version", "#stock": "stock"}, values=values,
                          refused=MovedMeanwhile(item["id"])),
            dynamo.update(keys.stock_pk(variant.id), keys.STOCK_SK, record)]
