"""Events the catalogue publishes."""
from __future__ import annotations

from typing import Any

from chalicelib.core.events import EventData


class _ProductEvent(EventData):
    entity_type = "PRODUCT"
    entity_id_field = "product_id"
    product_id: str


class ProductCreated(_ProductEvent):
    name: str
    category: str
    price: int
    currency: str
    stock: int
    version: int


class ProductUpdated(_ProductEvent):
    version: int
    changes: dict[str, Any]


class StockAdjusted(_ProductEvent):
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
    """Stock fell below the product's threshold."""

    name: str
    stock: int
    threshold: int


def low_stock(product_id: str, name: str, threshold: int, before: int, after: int) -> LowStock | None:
    """A LowStock event when a change takes stock from at-or-above the threshold to below it."""
    if before >= threshold > after:
        return LowStock(product_id=product_id, name=name, stock=after, threshold=threshold)
    return None
