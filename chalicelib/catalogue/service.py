"""Catalogue rules: who sees what, optimistic locking, stock that never goes negative."""
from __future__ import annotations

import functools

from chalicelib.catalogue.events import ProductArchived, ProductCreated, ProductUpdated, StockAdjusted, low_stock
from chalicelib.catalogue.models import Product, ProductCreate, ProductListQuery, ProductPatch, StockAdjustment
from chalicelib.catalogue.repository import (
    InsufficientStock,
    ProductIsArchived,
    ProductNotFound,
    ProductRepository,
    VersionConflict,
)
from chalicelib.core.dynamo import Page
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.events import envelope, publish_best_effort
from chalicelib.core.ids import iso, new_id
from chalicelib.core.settings import settings


def _not_found(product_id: str) -> NotFound:
    return NotFound(f"Product {product_id} was not found.")


class CatalogueService:
    def __init__(self, products: ProductRepository | None = None):
        self.products = products or ProductRepository()

    def get(self, product_id: str) -> Product:
        # Archived products stay readable by id: past orders and baskets link to them.
        product = self.products.get(product_id)
        if product is None:
            raise _not_found(product_id)
        return product

    def list(self, query: ProductListQuery) -> Page:
        if query.category:
            return self.products.list_category(query.category, query.limit, query.cursor)
        return self.products.list_active(query.limit, query.cursor)

    def create(self, new: ProductCreate, actor: str) -> Product:
        moment = iso()
        fields = new.model_dump()
        if fields["low_stock_threshold"] is None:
            fields["low_stock_threshold"] = settings().low_stock_threshold
        product = Product(id=new_id(), status="ACTIVE", version=1, created_at=moment, updated_at=moment, **fields)
        self.products.create(product)
        publish_best_effort([envelope(ProductCreated(product_id=product.id, **product.model_dump(
            include={"name", "category", "price", "currency", "stock", "version"})), actor=actor)])
        return product

    def update(self, product_id: str, patch: ProductPatch, actor: str) -> Product:
        changes = patch.changes()
        try:
            product = self.products.update(product_id, changes, patch.version, iso())
        except ProductNotFound:
            raise _not_found(product_id) from None
        except ProductIsArchived:
            raise Conflict("An archived product cannot be edited.", code="PRODUCT_ARCHIVED") from None
        except VersionConflict as exc:
            raise Conflict("The product was changed by someone else; reload it and try again.",
                           [{"field": "version", "issue": "stale",
                             "message": f"current version is {exc.current.version}"}],
                           code="VERSION_CONFLICT") from None
        current = product.model_dump(mode="json", by_alias=True)
        changed = {Product.model_fields[k].alias or k: current[Product.model_fields[k].alias or k] for k in changes}
        publish_best_effort([envelope(ProductUpdated(product_id=product.id, version=product.version,
                                                     changes=changed), actor=actor)])
        return product

    def adjust_stock(self, product_id: str, adjustment: StockAdjustment, actor: str) -> Product:
        try:
            product = self.products.adjust_stock(product_id, adjustment.delta, iso())
        except ProductNotFound:
            raise _not_found(product_id) from None
        except InsufficientStock as exc:
            raise Conflict(f"Stock cannot go below zero: {exc.current.stock} in stock.",
                           [{"field": "delta", "issue": "insufficient_stock",
                             "message": f"at most {exc.current.stock} can be removed"}],
                           code="INSUFFICIENT_STOCK") from None
        events = [envelope(StockAdjusted(product_id=product.id, delta=adjustment.delta, reason=adjustment.reason,
                                         stock=product.stock), actor=actor)]
        alert = low_stock(product.id, product.name, product.low_stock_threshold,
                          product.stock - adjustment.delta, product.stock)
        if alert:
            events.append(envelope(alert, actor=actor))
        publish_best_effort(events)
        return product

    def archive(self, product_id: str, actor: str) -> Product:
        try:
            product, changed = self.products.archive(product_id, iso())
        except ProductNotFound:
            raise _not_found(product_id) from None
        if changed:
            publish_best_effort([envelope(ProductArchived(product_id=product.id), actor=actor)])
        return product


@functools.lru_cache(maxsize=1)
def catalogue() -> CatalogueService:
    return CatalogueService()
