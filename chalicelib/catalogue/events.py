"""Events the catalogue publishes."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.core.events import EventData

if TYPE_CHECKING:
    from chalicelib.catalogue.models import Product, Variant


class _ProductEvent(EventData):
    entity_type = "PRODUCT"
    entity_id_field = "product_id"
    product_id: str


class _Variant(EventData):
    """A variant as events name it: its SKU, option values, prices by currency and stock."""

    variant_id: str
    sku: str | None = None
    options: dict[str, str] = {}
    prices: dict[str, int]
    stock: int


class ProductCreated(_ProductEvent):
    schema_version = 2  # 1: one price, currency and stock; 2: its variants
    name: str
    category: str
    version: int
    variants: list[_Variant]


class VariantAdded(_ProductEvent, _Variant):
    pass


class VariantUpdated(_ProductEvent):
    variant_id: str
    version: int
    changes: dict[str, Any]


class ProductUpdated(_ProductEvent):
    version: int
    changes: dict[str, Any]


class StockAdjusted(_ProductEvent):
    schema_version = 2  # names the variant
    variant_id: str
    delta: int
    reason: str
    stock: int


class ProductArchived(_ProductEvent):
    pass


class ProductImageAdded(_ProductEvent):
    """An uploaded image passed validation and is published (served from `url`)."""

    image_id: str
    url: str
    content_type: str


class LowStock(_ProductEvent):
    """A variant's stock fell below its product's threshold."""

    schema_version = 2  # names the variant

    variant_id: str
    sku: str | None = None
    options: dict[str, str] = {}
    name: str
    stock: int
    threshold: int


def low_stock(product: Product, variant: Variant, before: int, after: int) -> LowStock | None:
    """A LowStock event when a change takes a variant's stock from at-or-above the threshold to below it."""
    threshold = product.low_stock_threshold
    if before >= threshold > after:
        return LowStock(product_id=product.id, variant_id=variant.id, sku=variant.sku, options=variant.options,
                        name=product.name, stock=after, threshold=threshold)
    return None
