"""Key design of catalogue items (see docs/access-patterns.md)."""
from __future__ import annotations

from chalicelib.core.ids import tagged

ALL_PRODUCTS = "PRODUCTS"
PRODUCT_SK = "PRODUCT"
STOCK_SK = "STOCK"
SKU_SK = "SKU"

product_pk = tagged("PRODUCT")
category_partition = tagged("CATEGORY")
stock_pk = tagged("STOCK")  # a variant's sale record: its stock and what a sale is conditioned on; no index keys
sku_pk = tagged("SKU")  # a SKU taken: which variant has it (unique across the shop)
SHARDED_STOCK = "STOCKSHARDED"  # one item per variant whose stock is on several items: what the sweep evens out


def stock_item_pk(variant_id: str, shard: int) -> str:
    """The partition key of a variant's stock item `shard`: the sale record itself for 0, one of its own for each
    further one (chalicelib/catalogue/stock.py), so each takes its own partition's writes."""
    return stock_pk(variant_id) if shard == 0 else f"{stock_pk(variant_id)}#{shard:02d}"


def stock_item_of(pk: str) -> tuple[str, int]:
    """(variant id, shard) of a stock item's partition key."""
    variant_id, _, shard = pk.removeprefix(stock_pk("")).partition("#")
    return variant_id, int(shard) if shard else 0


def variant_id_for(product_id: str, suffix: str) -> str:
    """A variant's id names its product first, so a basket line, a refund's or a return's line finds the product
    without a read. A product's default variant (one made without options, or from before variants) has the
    product's own id."""
    return f"{product_id}.{suffix}"


def product_of(item_id: str) -> str:
    """The product a variant id (or a product id, its default variant's) is of."""
    return item_id.partition(".")[0]


def listing_sort_key(name: str, product_id: str) -> str:
    # Name first so pages come back alphabetically; the id keeps equal names distinct.
    return f"{name.lower()[:200]}#{product_id}"


def listing_keys(name: str, category: str, product_id: str) -> dict[str, str]:
    """Index keys that make an ACTIVE product visible in the category and full listings."""
    sort_key = listing_sort_key(name, product_id)
    return {"GSI1PK": category_partition(category), "GSI1SK": sort_key,
            "GSI2PK": ALL_PRODUCTS, "GSI2SK": sort_key}


# --- product images in the images bucket -------------------------------------------------

UPLOADS_PREFIX = "uploads/"  # where presigned uploads land, unchecked (expired by the bucket after a day)
PUBLISHED_PREFIX = "published/"  # what the CDN serves, only ever written by the validator
IMAGE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def upload_key(product_id: str, image_id: str) -> str:
    return f"{UPLOADS_PREFIX}{product_id}/{image_id}"


def published_path(product_id: str, image_id: str, content_type: str, digest: str | None = None) -> str:
    """The image's path below the published prefix: what the CDN serves it as. Named by the bytes it holds
    (`digest`), so two validations of different bytes never write the same object; images published before
    (no digest stored) are at the path without one."""
    name = f"{image_id}-{digest}" if digest else image_id
    return f"{product_id}/{name}.{IMAGE_EXTENSIONS[content_type]}"


def upload_of(object_key: str) -> tuple[str, str] | None:
    """(product id, image id) of an upload key; None for anything else."""
    if not object_key.startswith(UPLOADS_PREFIX):
        return None
    parts = object_key[len(UPLOADS_PREFIX):].split("/")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None
