"""Catalogue rules: who sees what, optimistic locking, stock that never goes negative.

Every change is written in one transaction with the events that announce it (the outbox), so
the audit trail misses none, even when the bus is down at that moment.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.catalogue.models import Product, ProductCreate, ProductListQuery, ProductPatch, StockAdjustment
from chalicelib.catalogue.repository import ProductChanged, ProductRepository
from chalicelib.core.dynamo import Page
from chalicelib.core.errors import Conflict, NotFound, still_changing
from chalicelib.core.ids import iso, new_id
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.settings import settings

if TYPE_CHECKING:
    from chalicelib.core.events import Envelope

# The events and the outbox are imported by the changes that announce something: a cold start reading the
# catalogue (the shop's commonest first request) loads neither.

# A change and the events announcing it, written together.
Change = tuple[Product, "list[Envelope]"]
# Reads and writes of one change before giving up to someone changing the product faster (a busy sale).
CHANGE_ATTEMPTS = 5


def _public(product: Product) -> Product:
    """Images still being checked, or refused, are for staff only."""
    if all(image.status == "READY" for image in product.images):
        return product
    return product.model_copy(update={"images": [image for image in product.images if image.status == "READY"]})


def _not_found(product_id: str) -> NotFound:
    return NotFound(f"Product {product_id} was not found.")


class CatalogueService:
    def __init__(self, products: ProductRepository):
        self.products = products

    def get(self, product_id: str) -> Product:
        """A product as anyone may see it: only its READY images."""
        return _public(self.read(product_id))

    def read(self, product_id: str) -> Product:
        """A product as staff see it: every image, pending and rejected ones too."""
        # Archived products stay readable by id: past orders and baskets link to them.
        product = self.products.get(product_id)
        if product is None:
            raise _not_found(product_id)
        return product

    def list(self, query: ProductListQuery) -> Page:
        if query.category:
            found = self.products.list_category(query.category, query.limit, query.cursor)
        else:
            found = self.products.list_active(query.limit, query.cursor)
        found.items = [_public(product) for product in found.items]
        return found

    def create(self, new: ProductCreate, actor: str) -> Product:
        from chalicelib.catalogue.events import ProductCreated
        from chalicelib.core.events import envelope
        from chalicelib.core.outbox import announce

        moment = iso()
        fields = new.model_dump()
        if fields["low_stock_threshold"] is None:
            fields["low_stock_threshold"] = settings().low_stock_threshold
        product = Product(id=new_id(), status="ACTIVE", version=1, created_at=moment, updated_at=moment, **fields)
        events = [envelope(ProductCreated(product_id=product.id, **product.model_dump(
            include={"name", "category", "price", "currency", "stock", "version"})), actor=actor)]
        self.products.create(product, events)
        announce(events)
        return product

    def update(self, product_id: str, patch: ProductPatch, actor: str) -> Product:
        from chalicelib.catalogue.events import ProductUpdated
        from chalicelib.core.events import envelope

        changes = patch.changes()

        def edit(current: Product) -> Change:
            if current.status != "ACTIVE":
                raise Conflict("An archived product cannot be edited.", code="PRODUCT_ARCHIVED")
            if current.version != patch.version:
                raise Conflict("The product was changed by someone else; reload it and try again.",
                               [{"field": "version", "issue": "stale",
                                 "message": f"current version is {current.version}"}],
                               code="VERSION_CONFLICT")
            edited = current.model_copy(update={**changes, "version": current.version + 1, "updated_at": iso()})
            dumped = edited.model_dump(mode="json", by_alias=True)
            changed = {alias: dumped[alias] for alias in (Product.model_fields[k].alias or k for k in changes)}
            return edited, [envelope(ProductUpdated(product_id=edited.id, version=edited.version, changes=changed),
                                     actor=actor)]

        return self._change(product_id, edit)

    def adjust_stock(self, product_id: str, adjustment: StockAdjustment, actor: str) -> Product:
        from chalicelib.catalogue.events import StockAdjusted, low_stock
        from chalicelib.core.events import envelope

        def adjust(current: Product) -> Change:
            stock = current.stock + adjustment.delta
            if stock < 0:
                raise Conflict(f"Stock cannot go below zero: {current.stock} in stock.",
                               [{"field": "delta", "issue": "insufficient_stock",
                                 "message": f"at most {current.stock} can be removed"}],
                               code="INSUFFICIENT_STOCK")
            adjusted = current.model_copy(update={"stock": stock, "updated_at": iso()})
            events = [envelope(StockAdjusted(product_id=current.id, delta=adjustment.delta, reason=adjustment.reason,
                                             stock=stock), actor=actor)]
            # Kept like the adjustment: the crossing happens once, so a lost alert would never come again.
            alert = low_stock(current.id, current.name, current.low_stock_threshold, current.stock, stock)
            if alert:
                events.append(envelope(alert, actor=actor))
            return adjusted, events

        return self._change(product_id, adjust)

    def archive(self, product_id: str, actor: str) -> Product:
        from chalicelib.catalogue.events import ProductArchived
        from chalicelib.core.events import envelope

        def archive(current: Product) -> Change | None:
            if current.status == "ARCHIVED":
                return None  # archiving is idempotent: nothing to write, nothing to announce
            archived = current.model_copy(update={"status": "ARCHIVED", "version": current.version + 1,
                                                  "updated_at": iso()})
            return archived, [envelope(ProductArchived(product_id=current.id), actor=actor)]

        return self._change(product_id, archive)

    def _change(self, product_id: str, decide: Callable[[Product], Change | None]) -> Product:
        """Read the product, decide the change and its events, and write both in one transaction
        conditioned on what was read; read and decide again when a sale or an editor got in between."""
        from chalicelib.core.outbox import announce

        def write(current: Product) -> Product:
            change = decide(current)
            if change is None:
                return current
            saved, events = change
            self.products.save(current, saved, events)
            announce(events)
            return saved

        return read_then_write(lambda: self.read(product_id), write, lost=ProductChanged, attempts=CHANGE_ATTEMPTS,
                               gave_up=still_changing("The product"))
