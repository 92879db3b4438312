"""Catalogue rules: who sees what, optimistic locking, stock that never goes negative.

Every change is written in one transaction with the events that announce it (the outbox), so
the audit trail misses none, even when the bus is down at that moment.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.catalogue import keys
from chalicelib.catalogue.models import (
    MAX_VARIANTS,
    Product,
    ProductCreate,
    ProductListQuery,
    ProductOption,
    ProductPatch,
    StockAdjustment,
    Variant,
    VariantCreate,
    VariantPatch,
    check_variants,
)
from chalicelib.catalogue.repository import ProductChanged, ProductRepository, SkuTaken, VariantChanged
from chalicelib.core.dynamo import Page
from chalicelib.core.errors import BadRequest, Conflict, NotFound, ValidationFailed, same_version, still_changing
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


def _editable(product: Product) -> None:
    if product.status != "ACTIVE":
        raise Conflict("An archived product cannot be edited.", code="PRODUCT_ARCHIVED")


def _stale(what: str) -> Conflict:
    return Conflict(f"The {what} was changed by someone else; reload it and try again.",
                    [{"field": "version", "issue": "stale", "message": f"the {what} has a newer version"}],
                    code="VERSION_CONFLICT")


def _sku_taken(sku: str) -> Conflict:
    return Conflict(f"SKU {sku} is another variant's.", [{"field": "sku", "issue": "taken",
                                                           "message": f"{sku} is taken"}], code="SKU_TAKEN")


def _variant_of(product: Product, variant_id: str) -> Variant:
    variant = product.variant(variant_id)
    if variant is None:
        raise NotFound(f"Variant {variant_id} of product {product.id} was not found.")
    return variant


def _new_variant(variant_id: str, spec: VariantCreate, options: list[ProductOption]) -> Variant:
    """A new variant; its option values spelled as the product declares them."""
    spelled = {option.name: {value.casefold(): value for value in option.values} for option in options}
    return Variant(id=variant_id, sku=spec.sku, status="ACTIVE", version=1, stock=spec.stock, prices=spec.prices,
                   options={name: spelled[name][value.casefold()] for name, value in spec.options.items()})


def _as_spec(variant: Variant) -> VariantCreate:
    return VariantCreate.model_construct(sku=variant.sku, options=variant.options, prices=variant.prices,
                                         stock=variant.stock or 0)


def _summary(variant: Variant) -> dict:
    """A variant as events name it."""
    return {"variant_id": variant.id, "sku": variant.sku, "options": variant.options, "stock": variant.stock or 0,
            "prices": {price.currency: price.amount for price in variant.prices}}


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

    def _described(self, product_id: str) -> Product:
        """A product without its variants' stock (what an edit of its description or variants needs)."""
        product = self.products.get(product_id, with_stock=False)
        if product is None:
            raise _not_found(product_id)
        return product

    def _with_stock_of(self, product_id: str, variant_id: str) -> Product:
        """A product with one variant's stock, read together."""
        product = self.products.get_many_with([product_id], [], stock_of=[variant_id])[0].get(product_id)
        if product is None:
            raise _not_found(product_id)
        return product

    def list(self, query: ProductListQuery) -> Page:
        currency = query.currency or settings().default_currency
        if query.category:
            found = self.products.list_category(query.category, query.limit, query.cursor, currency)
        else:
            found = self.products.list_active(query.limit, query.cursor, currency)
        found.items = [_public(product) for product in found.items]
        return found

    def create(self, new: ProductCreate, actor: str) -> Product:
        from chalicelib.catalogue.events import ProductCreated
        from chalicelib.core.events import envelope
        from chalicelib.core.outbox import announce

        moment = iso()
        product_id = new_id()
        specs = new.variant_specs()
        # The shorthand's one variant has the product's id: what a line naming only the product means.
        variants = [_new_variant(product_id if not new.variants else keys.variant_id_for(product_id, new_id()[:12]),
                                 spec, new.options) for spec in specs]
        threshold = new.low_stock_threshold
        product = Product(id=product_id, name=new.name, description=new.description, category=new.category,
                          tax_class=new.tax_class, options=new.options, variants=variants, status="ACTIVE", version=1,
                          low_stock_threshold=settings().low_stock_threshold if threshold is None else threshold,
                          created_at=moment, updated_at=moment)
        product.in_stock = product.has_stock()
        events = [envelope(ProductCreated(product_id=product.id, name=product.name, category=product.category,
                                          version=product.version, variants=[_summary(v) for v in variants]),
                           actor=actor)]
        try:
            self.products.create(product, events)
        except SkuTaken as taken:
            raise _sku_taken(taken.sku) from None
        announce(events)
        return product

    def update(self, product_id: str, patch: ProductPatch, actor: str) -> Product:
        from chalicelib.catalogue.events import ProductUpdated
        from chalicelib.core.events import envelope

        changes = patch.changes()

        def edit(current: Product) -> Change:
            _editable(current)
            same_version(current.version, patch.version, "product")
            edited = current.model_copy(update={**changes, "version": current.version + 1, "updated_at": iso()})
            dumped = edited.model_dump(mode="json", by_alias=True)
            changed = {alias: dumped[alias] for alias in (Product.model_fields[k].alias or k for k in changes)}
            return edited, [envelope(ProductUpdated(product_id=edited.id, version=edited.version, changes=changed),
                                     actor=actor)]

        return self._change(product_id, edit)

    # --- variants -----------------------------------------------------------------------

    def add_variant(self, product_id: str, new: VariantCreate, actor: str) -> Variant:
        from chalicelib.catalogue.events import VariantAdded
        from chalicelib.core.events import envelope
        from chalicelib.core.outbox import announce

        def add(current: Product) -> Variant:
            _editable(current)
            if len(current.variants) >= MAX_VARIANTS:
                raise Conflict(f"A product has at most {MAX_VARIANTS} variants.", code="TOO_MANY_VARIANTS")
            try:
                check_variants(current.options, [*(_as_spec(v) for v in current.variants), new])
            except ValueError as why:
                raise ValidationFailed(str(why), [{"field": "options", "issue": "invalid",
                                                   "message": str(why)}]) from None
            variant = _new_variant(keys.variant_id_for(current.id, new_id()[:12]), new, current.options)
            events = [envelope(VariantAdded(product_id=current.id, **_summary(variant)), actor=actor)]
            try:
                self.products.add_variant(current, variant, events)
            except SkuTaken as taken:
                raise _sku_taken(taken.sku) from None
            announce(events)
            return variant

        return read_then_write(lambda: self._described(product_id), add, lost=ProductChanged,
                               attempts=CHANGE_ATTEMPTS, gave_up=still_changing("The product"))

    def update_variant(self, product_id: str, variant_id: str, patch: VariantPatch, actor: str) -> Variant:
        from chalicelib.catalogue.events import VariantUpdated
        from chalicelib.core.events import envelope
        from chalicelib.core.outbox import announce

        current = self._described(product_id)
        _editable(current)
        seen = _variant_of(current, variant_id)
        same_version(seen.version, patch.version, "variant")
        edited = seen.model_copy(update={**patch.changes(), "version": seen.version + 1})
        if edited.stock_shards > seen.stock_items:  # items are added, never taken away (stock.py)
            edited = edited.model_copy(update={"stock_items": edited.stock_shards})
        changed = edited.model_dump(mode="json", by_alias=True, include=set(patch.changes()))
        events = [envelope(VariantUpdated(product_id=product_id, variant_id=variant_id, version=edited.version,
                                          changes=changed), actor=actor)]
        try:
            self.products.save_variant(current, seen, edited, events)
        except SkuTaken as taken:
            raise _sku_taken(taken.sku) from None
        except VariantChanged:
            raise _stale("variant") from None
        announce(events)
        if edited.stock_shards != seen.stock_shards:
            # Spread now rather than at the next sweep (which tries again if a sale got in between).
            self.products.even_out(product_id, variant_id)
        return edited

    def adjust_variant_stock(self, product_id: str, variant_id: str, adjustment: StockAdjustment,
                             actor: str) -> Variant:
        return read_then_write(lambda: self._with_stock_of(product_id, variant_id),
                               lambda current: self._adjust(current, variant_id, adjustment, actor),
                               lost=ProductChanged, attempts=CHANGE_ATTEMPTS, gave_up=still_changing("The product"))

    def adjust_stock(self, product_id: str, adjustment: StockAdjustment, actor: str) -> Product:
        """The stock of a product of one variant (how stock was adjusted before products had variants)."""
        def adjust(current: Product) -> Product:
            if len(current.variants) != 1:
                raise BadRequest("The product has several variants: adjust the stock of one of them.",
                                 [{"field": "variantId", "issue": "ambiguous",
                                   "message": "one of " + ", ".join(v.id for v in current.variants)}],
                                 code="VARIANT_REQUIRED")
            adjusted = current.model_copy(update={"variants": [
                self._adjust(current, current.variants[0].id, adjustment, actor)]})
            adjusted.in_stock = adjusted.has_stock()
            return adjusted

        return read_then_write(lambda: self.read(product_id), adjust, lost=ProductChanged, attempts=CHANGE_ATTEMPTS,
                               gave_up=still_changing("The product"))

    def _adjust(self, current: Product, variant_id: str, adjustment: StockAdjustment, actor: str) -> Variant:
        """Adjust a variant's stock as `current` was read (ProductChanged if it changed since)."""
        from chalicelib.catalogue.events import StockAdjusted, low_stock
        from chalicelib.core.events import envelope
        from chalicelib.core.outbox import announce

        variant = _variant_of(current, variant_id)
        before = variant.stock or 0
        stock = before + adjustment.delta
        if stock < 0:
            raise Conflict(f"Stock cannot go below zero: {before} in stock.",
                           [{"field": "delta", "issue": "insufficient_stock",
                             "message": f"at most {before} can be removed"}],
                           code="INSUFFICIENT_STOCK")
        events = [envelope(StockAdjusted(product_id=current.id, variant_id=variant.id, delta=adjustment.delta,
                                         reason=adjustment.reason, stock=stock), actor=actor)]
        # Kept like the adjustment: the crossing happens once, so a lost alert would never come again.
        alert = low_stock(current, variant, before, stock)
        if alert:
            events.append(envelope(alert, actor=actor))
        self.products.adjust_stock_announced(current, variant, adjustment.delta, events)
        announce(events)
        return variant.model_copy(update={"stock": stock})

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
