"""Events the catalogue publishes."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import model_validator

from chalicelib.core.events import EventData

if TYPE_CHECKING:
    from chalicelib.catalogue.models import Product, Variant


class _ProductEvent(EventData):
    entity_type = "PRODUCT"
    entity_id_field = "product_id"
    product_id: str


class _VariantEvent(_ProductEvent):
    """An event of one variant (version 2); a version 1 event, from before variants, is of its product's default
    variant, whose id is the product's."""

    schema_version = 2
    variant_id: str

    @model_validator(mode="before")
    @classmethod
    def _of_the_default_variant(cls, data: Any) -> Any:
        if isinstance(data, dict) and not ({"variantId", "variant_id"} & set(data)):
            product_id = data.get("productId", data.get("product_id"))
            if isinstance(product_id, str):
                return {**data, "variantId": product_id}
        return data


class _Variant(EventData):
    """A variant as events name it: its SKU, option values, prices by currency and stock."""

    variant_id: str
    sku: str | None = None
    options: dict[str, str] = {}
    prices: dict[str, int]
    stock: int


class ProductCreated(_ProductEvent):
    """Version 2 carries the product's variants; a version 1 event (one price, currency and stock) still kept or
    queued is read as its one default variant."""

    schema_version = 2
    name: str
    category: str
    version: int
    variants: list[_Variant]

    @model_validator(mode="before")
    @classmethod
    def _variants_of_version_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and "variants" not in data and {"price", "currency"} <= set(data):
            rest = {k: v for k, v in data.items() if k not in ("price", "currency", "stock")}
            product_id = data.get("productId", data.get("product_id"))
            return {**rest, "variants": [{"variantId": product_id, "prices": {data["currency"]: data["price"]},
                                          "stock": data.get("stock", 0)}]}
        return data


class VariantAdded(_ProductEvent, _Variant):
    pass


class VariantUpdated(_ProductEvent):
    variant_id: str
    version: int
    changes: dict[str, Any]


class ProductUpdated(_ProductEvent):
    version: int
    changes: dict[str, Any]


class StockAdjusted(_VariantEvent):
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


class LowStock(_VariantEvent):
    """A variant's stock fell below its product's threshold."""

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
