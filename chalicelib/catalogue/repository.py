"""Products in DynamoDB: one item each, listed through sparse indexes (no scans)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.catalogue import keys, stock, stored
from chalicelib.catalogue.models import PriceRange, Product, Variant
from chalicelib.core import dynamo, read_cache
from chalicelib.core.aws import error_code
from chalicelib.core.dynamo import Found, Gathered, Page, TransactionContended, Update, Write
from chalicelib.core.ids import iso, now
from chalicelib.core.lines import Line

if TYPE_CHECKING:
    from chalicelib.core.events import Envelope


class ProductNotFound(Exception):
    pass


class InsufficientStock(Exception):
    def __init__(self, stock: int):
        self.stock = stock


class ProductChanged(Exception):
    """The product changed between the read and the write (a sale, a return, another editor)."""


class ImageRefused(Exception):
    """A new image was refused: the product as it was (None: no such product) says why."""

    def __init__(self, as_was: Product | None):
        self.as_was = as_was


class ImageChanged(Exception):
    """The image is gone or no longer in the state its change was decided on."""


@dataclass(frozen=True)
class LineRefused:
    """Why a sale's reservation refused one line: `unavailable`, `currency_changed`, `price_changed` or
    `out_of_stock`; `current` is the product as the transaction found it (None if it is gone)."""

    line: Line
    issue: str
    current: dict[str, Any] | None


class StockRefused(Gathered):
    """A sale's reservation refused these lines (`parts`: every LineRefused of the transaction)."""

    parts: list[LineRefused]


class SkuTaken(Exception):
    """Another variant has the SKU."""

    def __init__(self, sku: str):
        self.sku = sku


class VariantChanged(Exception):
    """The variant changed between the read and the write (another editor)."""


def _product_key(product_id: str) -> dict[str, Any]:
    return dynamo.key(keys.product_pk(product_id), keys.PRODUCT_SK)


def _product_key_pair(product_id: str) -> tuple[str, str]:
    return keys.product_pk(product_id), keys.PRODUCT_SK


def _stock_key(variant_id: str) -> tuple[str, str]:
    return keys.stock_pk(variant_id), keys.STOCK_SK


def price_range(product: Product, currency: str) -> PriceRange | None:
    prices = [amount for variant in product.variants if variant.status == "ACTIVE"
              if (amount := variant.price_in(currency)) is not None]
    return PriceRange(currency=currency, low=min(prices), high=max(prices)) if prices else None


MOVE_ATTEMPTS = 5
# How old a spread variant's stock may be where it is only shown (a basket) or only guides which items a sale tries
# (the checkout): the sale itself is conditioned on the items.
STOCK_COPY_SECONDS = 1.0
# A SKU claim whose product was never made is taken over after this: longer than any request or function lives.
ABANDONED_AFTER = timedelta(minutes=20)


def _busy(item: dict[str, Any]) -> bool:
    """A product with a variant whose stock is spread over several items: staff said it sells fast."""
    return any(items > 1 for items in stored.stock_items(item).values())


class ProductRepository:
    def get(self, product_id: str, *, with_stock: bool = True) -> Product | None:
        """A product with every variant's stock (its item, then its sale records in one BatchGetItem), or without
        (its item only: the variants' `stock` is None)."""
        item = self._item(product_id)
        if item is None:
            return None
        self._keep_busy({product_id: item})  # restocks in this container spread by this copy
        if not with_stock:
            return stored.product_from(item)
        found = dynamo.batch_get(stored.stock_keys(item), consistent=True)
        product = stored.product_from(item, stored.stocks_in(found))
        return product.model_copy(update={"in_stock": product.has_stock()})

    def _item(self, product_id: str) -> dict[str, Any] | None:
        """The product's item, moved first if it is from before variants."""
        for _attempt in range(MOVE_ATTEMPTS):
            found = dynamo.get(*_product_key_pair(product_id), consistent=True)
            item = dynamo.from_item(found) if found else None
            if item is None or not stored.is_from_before(item):
                return item
            try:
                dynamo.transact(stored.move_from_before(item))
            except (stored.MovedMeanwhile, TransactionContended):
                continue  # sold or moved meanwhile: read it again
        raise ProductChanged(product_id)

    def get_many(self, product_ids: list[str]) -> dict[str, Product]:
        """Several products by id in BatchGetItem calls (retrying what DynamoDB leaves unprocessed)."""
        return self.get_many_with(product_ids, [])[0]

    def get_many_with(self, product_ids: list[str], also: list[tuple[str, str]], *, stock_of: Sequence[str] = (),
                      stock_copy: bool = False) -> tuple[dict[str, Product], dict[tuple[str, str], dict[str, Any]]]:
        """Products by id and other domains' items by (PK, SK) in the same BatchGetItem calls (a basket's
        prices with its promotion), with the stock of the variants `stock_of` names (each of its stock items,
        `Variant.held`): the products, and each of `also` found, as stored. Products from before variants are
        moved first (once each).

        A product whose stock is spread (a busy sale's) is kept in the container for SETTINGS_CACHE_SECONDS:
        every basket and checkout of a drop reads it, and its one partition would cap them at about 6,000 a
        second. What a sale is charged is conditioned on its stock items, never on this copy (a price changed
        meanwhile is refused, and the copy forgotten). Its stock is read every time, but where `stock_copy` says
        a figure at most STOCK_COPY_SECONDS old will do (what a basket tells its shopper: the checkout reads the
        items itself): then a spread variant's items are read once that often per container."""
        kept = self._kept_busy(product_ids)
        wanted = [key for pid, item in kept.items() for key in stored.stock_keys(item, stock_of)]
        copied, wanted = read_cache.split(wanted) if stock_copy else ({}, wanted)
        wanted += [_stock_key(variant_id) for variant_id in stock_of if keys.product_of(variant_id) not in kept]
        found = dynamo.batch_get([_product_key_pair(pid) for pid in product_ids if pid not in kept]
                                 + wanted + list(also))
        found.update(copied)
        items = {**kept, **{pid: found[pair] for pid in product_ids
                            if pid not in kept and (pair := _product_key_pair(pid)) in found}}
        if any(stored.is_from_before(item) for item in items.values()):
            for pid, item in list(items.items()):
                if stored.is_from_before(item):
                    items[pid] = self._item(pid)
            found.update(dynamo.batch_get(wanted, consistent=True))
        further = [key for pid, item in items.items() if pid not in kept and item is not None
                   for key in stored.stock_keys(item, stock_of, first=1)]
        if further:  # a variant's stock on several items: the first read told how many
            found.update(dynamo.batch_get(further))
        if stock_copy:
            read = [key for pid, item in items.items() if item is not None and _busy(item)
                    for key in stored.stock_keys(item, stock_of) if key not in copied]
            read_cache.keep(read, found, ttl=STOCK_COPY_SECONDS)
        self._keep_busy({pid: item for pid, item in items.items() if pid not in kept and item is not None})
        stocks = stored.stocks_in(found)
        products = {pid: stored.product_from(item, stocks) for pid, item in items.items() if item is not None}
        return products, {pair: found[pair] for pair in also if pair in found}

    @staticmethod
    def _kept_busy(product_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        hits, _ = read_cache.split([_product_key_pair(pid) for pid in product_ids])
        return {item["id"]: item for item in hits.values() if _busy(item)}

    @staticmethod
    def _keep_busy(items: dict[str, dict[str, Any]]) -> None:
        busy = {_product_key_pair(pid): item for pid, item in items.items() if _busy(item)}
        read_cache.keep(busy, busy)

    @staticmethod
    def forget(product_id: str) -> None:
        """This container's copy of a product is stale (a sale found a price or status changed since)."""
        read_cache.forget(_product_key_pair(product_id))

    def read_again_where_short(self, products: dict[str, Product], wanted: Iterable[tuple[str, str, int]]) -> None:
        """Where a spread variant's stock, as this container's copy has it, is less than wanted ((product id,
        variant id, quantity)), read its items again (`held`) into `products`: a copy never refuses a buyer."""
        short = [variant_id for product_id, variant_id, quantity in wanted
                 if (variant := products[product_id].variant(variant_id) if product_id in products else None)
                 is not None and variant.stock_items > 1 and (variant.stock or 0) < quantity]
        if short:
            now = self.held(short)
            for product_id in {keys.product_of(variant_id) for variant_id in short}:
                products[product_id] = products[product_id].holding(now)

    def held(self, variant_ids: Iterable[str]) -> dict[str, dict[int, int]]:
        """What each stock item of these variants holds now: their products read strongly for how many items each
        has (this container's copy may predate staff adding some), then the items, strongly (a sale refused on
        stale figures decides again on these)."""
        variant_ids = list(variant_ids)
        product_ids = sorted({keys.product_of(variant_id) for variant_id in variant_ids})
        found = dynamo.batch_get([_product_key_pair(pid) for pid in product_ids], consistent=True)
        products = {pid: found[pair] for pid in product_ids if (pair := _product_key_pair(pid)) in found}
        self._keep_busy(products)
        layout = {}
        for variant_id in variant_ids:
            item = products.get(keys.product_of(variant_id))
            layout[variant_id] = stored.stock_items(item).get(variant_id, 1) if item else 1
        return self._items_held(layout)

    @staticmethod
    def _items_held(layout: dict[str, int]) -> dict[str, dict[int, int]]:
        """What each of these variants' stock items ({variant id: how many items}) holds, read strongly."""
        records = dynamo.batch_get([key for variant_id, items in layout.items()
                                    for key in stored.item_keys(variant_id, items)], consistent=True,
                                   projection="#s", names={"#s": "stock"})
        return {variant_id: {**{shard: 0 for shard in range(items)}, **stored.stocks_in(records).get(variant_id, {})}
                for variant_id, items in layout.items()}

    def list_active(self, limit: int, cursor: str | None, currency: str) -> Page:
        return self._listing(keys.ALL_PRODUCTS, "GSI2", limit, cursor, currency)

    def list_category(self, category: str, limit: int, cursor: str | None, currency: str) -> Page:
        return self._listing(keys.category_partition(category), "GSI1", limit, cursor, currency)

    def _listing(self, partition: str, index: str, limit: int, cursor: str | None, currency: str) -> Page:
        """A page of products, each with its price range in `currency` and whether an active variant has stock
        (read from the page's sale records: BatchGetItem calls of 100, the stock only)."""
        page = dynamo.query_page(partition, index=index, limit=limit, cursor=cursor)
        records = dynamo.batch_get([key for item in page.items for key in stored.stock_keys(item)], projection="#s",
                                   names={"#s": "stock"})
        stocks = stored.stocks_in(records)
        listed = []
        for item in page.items:
            product = stored.product_from(item, stocks if not stored.is_from_before(item) else None)
            shown = [variant.model_copy(update={"stock": None}) for variant in product.variants]
            listed.append(product.model_copy(update={"price_range": price_range(product, currency),
                                                     "in_stock": product.has_stock(), "variants": shown}))
        page.items = listed
        return page

    def create(self, product: Product, events: list[Envelope]) -> None:
        """Store a new product with its variants' SKUs claimed (SkuTaken, and nothing kept, if another variant has
        one), their sale records and the events announcing it: one transaction when it fits (up to 48 variants
        with SKUs). A bigger one claims its SKUs first, then writes its sale records, then its item, which makes
        it exist; a crash in between leaves claims and sale records naming a product that does not exist, which
        nothing reads and a later claim takes over once it is old."""
        from chalicelib.core.outbox import outbox_puts  # only writes that announce something load the outbox

        claims = [(variant.sku, variant.id) for variant in product.variants if variant.sku]
        records = [dynamo.put(stored.sale_record(product, variant), None) for variant in product.variants]
        last = [dynamo.put(stored.product_item(product)), *outbox_puts(events)]
        if len(claims) + len(records) + len(last) <= dynamo.TRANSACTION_LIMIT:  # all at once, as most products
            self._with_sku_claims([*(self._claim_of(sku, product.id, variant_id) for sku, variant_id in claims),
                                   *records, *last], TransactionContended(product.id))
            return
        self._claim_skus(product.id, claims)
        while len(records) + len(last) > dynamo.TRANSACTION_LIMIT:  # the product item goes last: it makes it exist
            dynamo.transact(records[:dynamo.TRANSACTION_LIMIT])
            records = records[dynamo.TRANSACTION_LIMIT:]
        dynamo.transact([*records, *last])

    def _claim_skus(self, product_id: str, claims: list[tuple[str, str]]) -> None:
        """Claim each (SKU, variant id) for the product, or none of them (one transaction for up to 100): SkuTaken
        names one taken by another product. A claim naming a product that was never made, older than any request
        lives, is taken over, and the claims tried again."""
        made: list[str] = []
        try:
            for start in range(0, len(claims), dynamo.TRANSACTION_LIMIT):
                chunk = claims[start:start + dynamo.TRANSACTION_LIMIT]
                self._claim_chunk(product_id, chunk)
                made += [sku for sku, _variant in chunk]
        except SkuTaken:
            for sku in made:
                self._release(sku, product_id)
            raise

    def _claim_chunk(self, product_id: str, chunk: list[tuple[str, str]]) -> None:
        for _attempt in range(len(chunk) + 1):
            try:
                dynamo.transact([self._claim_of(sku, product_id, variant_id) for sku, variant_id in chunk])
                return
            except SkuTaken as taken:
                if not self._abandoned_claim_released(taken.sku):
                    raise
        raise SkuTaken(chunk[0][0])

    @staticmethod
    def _abandoned_claim_released(sku: str) -> bool:
        """Delete a claim left by a creation that never finished (older than any request lives, its product never
        made), if it is still that one; True if it was such a claim."""
        found = dynamo.get(keys.sku_pk(sku), keys.SKU_SK, consistent=True)
        holder = dynamo.from_item(found) if found else None
        if holder is None:
            return True  # released meanwhile: try again
        if holder.get("claimed_at", "") >= iso(now() - ABANDONED_AFTER) or \
                dynamo.get(*_product_key_pair(holder["product_id"]), consistent=True, attributes="PK") is not None:
            return False
        # Deleted only if still that claim; either way the claims are tried again.
        dynamo.applied(dynamo.delete(keys.sku_pk(sku), keys.SKU_SK, "#product = :other AND #claimed = :claimed",
                                     names={"#product": "product_id", "#claimed": "claimed_at"},
                                     values={":other": holder["product_id"], ":claimed": holder["claimed_at"]}))
        return True

    @staticmethod
    def _release(sku: str, product_id: str) -> None:
        dynamo.applied(dynamo.delete(keys.sku_pk(sku), keys.SKU_SK, "#product = :product",
                                     names={"#product": "product_id"}, values={":product": product_id}))

    def save(self, seen: Product, saved: Product, events: list[Envelope]) -> None:
        """Write the product-level fields that changed from `seen` (the product as read) to `saved`, with
        `events`, in one transaction conditioned on the version read (ProductChanged when someone got in
        between: read it again and decide again). Archiving or reactivating also turns its variants' sale
        records unsellable or sellable again, each in a write of its own after."""
        from chalicelib.core.outbox import outbox_puts

        fields = ("name", "description", "category", "tax_class", "low_stock_threshold", "status", "version",
                  "updated_at")
        old, new = seen.model_dump(include=set(fields)), saved.model_dump(include=set(fields))
        change = Update().set_all({name: value for name, value in new.items() if value != old[name]})
        if saved.status == "ACTIVE":
            # Index keys follow the name and category so listings stay right.
            if (saved.name, saved.category) != (seen.name, seen.category):
                change.set_all(keys.listing_keys(saved.name, saved.category, saved.id))
        elif seen.status == "ACTIVE":
            change.remove(*keys.listing_keys(saved.name, saved.category, saved.id))  # out of every listing
        written = dynamo.update(*_product_key_pair(seen.id), change, "#version = :seen_version",
                                names={"#version": "version"}, values={":seen_version": seen.version},
                                refused=ProductChanged(seen.id))
        try:
            dynamo.transact([written, *outbox_puts(events)])
        except TransactionContended:
            raise ProductChanged(seen.id) from None
        self.forget(seen.id)
        if saved.status != seen.status:
            for variant in saved.variants:
                for pk, sk in stored.item_keys(variant.id, variant.stock_items):
                    dynamo.write(dynamo.update(pk, sk, Update().set(
                        "sellable", stored.sellable(saved.status, variant.status)), "attribute_exists(PK)"))

    def add_variant(self, seen: Product, variant: Variant, events: list[Envelope]) -> None:
        """Add a variant: its SKU claimed, its sale record, the product item (conditioned on the product's version
        read: ProductChanged otherwise) and the events, in one transaction."""
        from chalicelib.core.outbox import outbox_puts

        change = (Update().set(("variants", variant.id), stored.stored_variant(variant, _next_position(seen)))
                  .set("version", seen.version + 1).set("updated_at", iso()))
        self._with_sku_claims([
            *([self._claim_of(variant.sku, seen.id, variant.id)] if variant.sku else []),
            dynamo.update(*_product_key_pair(seen.id), change, "#version = :seen_version",
                          names={"#version": "version"}, values={":seen_version": seen.version},
                          refused=ProductChanged(seen.id)),
            dynamo.put(stored.sale_record(seen, variant), None), *outbox_puts(events)], ProductChanged(seen.id))

    def save_variant(self, product: Product, seen: Variant, saved: Variant, events: list[Envelope]) -> None:
        """A variant's edit (prices, SKU, status, stock shards) in one transaction: the product item conditioned on
        the variant's version read (VariantChanged otherwise), every stock item's copies of what a sale is
        conditioned on, the stock items a raised `stock_shards` adds (empty: the sweep, or `even_out`, moves
        units onto them), its new SKU claimed and its old one let go. A variant whose stock is on several items is
        listed for the sweep (SHARDED_STOCK)."""
        from chalicelib.core.outbox import outbox_puts

        added = [dynamo.put(stored.sale_record(product, saved, shard, stock=0), refused=VariantChanged(seen.id))
                 for shard in range(seen.stock_items, saved.stock_items)]
        listed = [dynamo.put({"PK": keys.SHARDED_STOCK, "SK": seen.id, "type": "STOCK_SHARDED",
                              "product_id": product.id, "variant_id": seen.id}, None)] \
            if saved.stock_items > 1 and seen.stock_items == 1 else []

        position = next(i for i, variant in enumerate(product.variants) if variant.id == seen.id)
        skus = []
        if saved.sku != seen.sku:
            skus += [self._claim_of(saved.sku, product.id, saved.id)] if saved.sku else []
            skus += [dynamo.delete(keys.sku_pk(seen.sku), keys.SKU_SK, "#product = :product",
                                   names={"#product": "product_id"}, values={":product": product.id},
                                   refused=VariantChanged(seen.id))] if seen.sku else []
        written = dynamo.update(*_product_key_pair(product.id),
                                Update().set(("variants", seen.id), stored.stored_variant(saved, position))
                                .set("updated_at", iso()),
                                "#variants.#variant.#version = :seen_version",
                                names={"#variants": "variants", "#variant": seen.id, "#version": "version"},
                                values={":seen_version": seen.version}, refused=VariantChanged(seen.id))
        records = [dynamo.update(pk, sk, Update().set(
            "sellable", stored.sellable(product.status, saved.status)).set(
            "prices", {price.currency: price.amount for price in saved.prices}), "attribute_exists(PK)",
            refused=VariantChanged(seen.id)) for pk, sk in stored.item_keys(seen.id, seen.stock_items)]
        # At most 50 stock items, 2 SKU items, the product, the listing and the events: within 100.
        self._with_sku_claims([*skus, written, *records, *added, *listed, *outbox_puts(events)],
                              VariantChanged(seen.id))
        self.forget(product.id)

    @staticmethod
    def _claim_of(sku: str, product_id: str, variant_id: str) -> Write:
        return dynamo.put(stored.sku_item(sku, product_id, variant_id, iso()),
                          "attribute_not_exists(PK) OR #product = :product", names={"#product": "product_id"},
                          values={":product": product_id}, refused=SkuTaken(sku))

    def _with_sku_claims(self, writes: list[Write], contended: Exception) -> None:
        """A transaction claiming SKUs: a claim left by a creation that never finished is let go and the
        transaction tried again; SkuTaken for one another product has."""
        for _attempt in range(3):
            try:
                dynamo.transact(writes)
                return
            except SkuTaken as taken:
                if not self._abandoned_claim_released(taken.sku):
                    raise
            except TransactionContended:
                raise contended from None
        raise contended

    def adjust_stock(self, variant_id: str, delta: int) -> int:
        """Add `delta` to a variant's stock atomically, announcing nothing: what a sale does (tests use it to
        sell elsewhere). Returns the stock after; InsufficientStock(stock now) if it would go below zero."""
        condition, values = "attribute_exists(PK)", {}
        if delta < 0:
            condition, values = condition + " AND #stock >= :needed", {":needed": -delta}
        updated, item = dynamo.conditional_update(
            Key=dynamo.key(*_stock_key(variant_id)), **Update().add("stock", delta).request(condition, values=values))
        if item is None:
            raise ProductNotFound(variant_id)
        if not updated:
            raise InsufficientStock(int(item["stock"]))
        return int(item["stock"])

    def adjust_stock_announced(self, product: Product, variant: Variant, delta: int, events: list[Envelope]) -> None:
        """Staff's adjustment of a variant's stock with the events announcing it, in one transaction conditioned
        on the stock read of each item it changes (ProductChanged otherwise: a sale or another adjustment got in
        between). Units added land on one active item, chosen at random; units taken come from the items a sale
        would take them from."""
        from chalicelib.core.outbox import outbox_puts

        held = variant.held or {0: variant.stock or 0}
        plan = {stock.landing(variant.stock_shards): delta} if delta > 0 else stock.take(held, -delta)
        if plan is None:
            raise ProductChanged(product.id)
        signed = {shard: units if delta > 0 else -units for shard, units in plan.items()}
        writes = [*(dynamo.update(keys.stock_item_pk(variant.id, shard), keys.STOCK_SK, Update().add("stock", units),
                                  "#stock = :seen", names={"#stock": "stock"}, values={":seen": held.get(shard, 0)},
                                  refused=ProductChanged(product.id)) for shard, units in signed.items()),
                  *outbox_puts(events)]
        try:
            dynamo.transact(writes)
        except TransactionContended:
            raise ProductChanged(product.id) from None

    # --- images: a map on the product item by image id; `image_slots` counts the pending and ready ones ----

    def image_record(self, product_id: str, image_id: str) -> dict[str, Any] | None:
        """An image as stored (with what only the validator needs: the declared length), or None."""
        item = dynamo.get(*_product_key_pair(product_id), attributes="#images.#id",
                          names={"#images": "images", "#id": image_id})
        return dynamo.from_item(item or {}).get("images", {}).get(image_id)

    def add_image(self, product_id: str, image: dict[str, Any], max_images: int) -> None:
        """Add a PENDING image to an active product holding fewer than `max_images` pending and ready ones:
        one conditional write, so two uploads racing for the last slot never both get it."""
        from botocore.exceptions import ClientError

        request = {"TableName": dynamo.table_name(), "Key": _product_key(product_id),
                   **Update().set(("images", image["id"]), image).add("image_slots", 1).request(
                       "attribute_exists(PK) AND #status = :active "
                       "AND (attribute_not_exists(#image_slots) OR #image_slots < :max)",
                       names={"#status": "status"}, values={":active": "ACTIVE", ":max": max_images}),
                   "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        for _attempt in range(2):
            try:
                dynamo.ddb().update_item(**request)
                return
            except ClientError as exc:
                if dynamo.condition_failed(exc):
                    item = dynamo.old_item_of(exc)
                    raise ImageRefused(stored.product_from(item) if item else None) from None
                if error_code(exc) != "ValidationException":
                    raise
                # A product from before images has no map to add to: start one, then add.
                start_the_map = Update().set_if_absent("images", {}).request("attribute_exists(PK)")
                updated, _ = dynamo.conditional_update(Key=_product_key(product_id), **start_the_map)
                if not updated:
                    raise ImageRefused(None) from None
        raise ImageChanged(image["id"])

    def settle_image(self, product_id: str, image_id: str, fields: dict[str, Any], events: list[Envelope]) -> None:
        """Mark a PENDING image READY or REJECTED (`fields`), with the events announcing it, in one transaction.
        A rejected image frees its slot. Raises ImageChanged if it is no longer pending (a redelivery)."""
        from chalicelib.core.outbox import outbox_puts

        change = Update()
        for name, value in fields.items():
            change.set(("images", image_id, name), value)
        if fields.get("status") == "REJECTED":
            change.add("image_slots", -1)
        dynamo.transact([dynamo.update(*_product_key_pair(product_id), change, "#images.#image.#status = :pending",
                                       names={"#image": image_id, "#status": "status"}, values={":pending": "PENDING"},
                                       refused=ImageChanged(image_id)), *outbox_puts(events)])

    def remove_image(self, product_id: str, image_id: str, status: str) -> None:
        """Remove an image still in `status` (freeing its slot unless it was rejected, which freed it)."""
        from botocore.exceptions import ClientError

        change = Update().remove(("images", image_id))
        if status != "REJECTED":
            change.add("image_slots", -1)
        try:
            dynamo.ddb().update_item(TableName=dynamo.table_name(), Key=_product_key(product_id), **change.request(
                "#images.#image.#status = :seen", names={"#image": image_id, "#status": "status"},
                values={":seen": status}))
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                raise ImageChanged(image_id) from None
            raise

    # --- stock in other domains' transactions (the checkout, an order's cancellation) ----

    def reserve_in_transaction(self, line: Line, unit_price: int, currency: str,
                               plan: stock.Plan | None = None) -> list[Write]:
        """The transaction items taking the line's units from its variant's stock items (`plan`: units by shard,
        as `stock.take` chose them; None: all from its sale record), for a sale at the price and currency the
        buyer was shown. Refused (StockRefused, saying why from the item as it was) if that would take an item
        below zero, if the variant or its product is no longer sold, or if its price in that currency changed
        since."""
        def refused(found: Found) -> StockRefused:
            return StockRefused(LineRefused(line, self.reservation_refusal(found, unit_price, currency), found))

        return [dynamo.update(keys.stock_item_pk(line.key, shard), keys.STOCK_SK, Update().add("stock", -units),
                              "#stock >= :quantity AND #sellable = :yes AND #prices.#currency = :price",
                              names={"#sellable": "sellable", "#prices": "prices", "#currency": currency},
                              values={":quantity": units, ":yes": True, ":price": unit_price},
                              refused=refused)
                for shard, units in (plan or {0: line.quantity}).items()]

    @staticmethod
    def reservation_refusal(as_was: dict[str, Any] | None, unit_price: int, currency: str) -> str:
        """Why `reserve_in_transaction` was refused, from the sale record as the transaction found it (None:
        gone): `unavailable`, `currency_changed` (no price in that currency any more), `price_changed` or
        `out_of_stock`."""
        if as_was is None or not as_was.get("sellable"):
            return "unavailable"
        prices = as_was.get("prices") or {}
        if currency not in prices:
            return "currency_changed"
        if prices[currency] != unit_price:
            return "price_changed"
        return "out_of_stock"

    def restock_in_transaction(self, line: Line) -> Write:
        """The transaction item giving the line's units back to its variant (an order cancelled or failed, goods
        taken back), archived or not: on one of its active stock items, at random, when its stock is spread
        (known from this container's copy of the product, read once a period; without one, its sale record,
        which the sweep evens out from). A product from before variants not moved yet gets a sale record
        holding these units; its move adds the rest."""
        shard = stock.landing(self._active_shards(line.product_id, line.key))
        return dynamo.update(keys.stock_item_pk(line.key, shard), keys.STOCK_SK, Update().add("stock", line.quantity)
                             .set_if_absent("product_id", line.product_id).set_if_absent("type", "STOCK"))

    def _active_shards(self, product_id: str, variant_id: str) -> int:
        """How many stock items take a variant's restocks, from this container's copy of its product if it has
        one, else 1. Items only ever grow in number, so an old copy never names one that does not exist."""
        hits, _ = read_cache.split([_product_key_pair(product_id)])
        item = next(iter(hits.values()), None)
        if item is None or stored.is_from_before(item):
            return 1
        variant = item["variants"].get(variant_id) or {}
        return min(variant.get("stock_shards", 1), variant.get("stock_items", 1))

    # --- spreading a variant's stock over its items (the sweep's) -------------------------------------

    def sharded_variants(self) -> list[tuple[str, str]]:
        """(product id, variant id) of every variant whose stock has been on several items."""
        return [(item["product_id"], item["variant_id"]) for item in dynamo.every_item(keys.SHARDED_STOCK)]

    def even_out(self, product_id: str, variant_id: str) -> int:
        """Move units between a variant's stock items so its active ones hold about the same and the retired
        ones nothing (`stock.moves`), in one transaction conditioned on what each item held when read: the
        total never changes, and a sale meanwhile makes it give up (the next sweep tries again). Returns the
        units moved (0: even already, or contended)."""
        item = self._item(product_id)  # the product as it is now: its count and items, not a copy's
        layout = {} if item is None or stored.is_from_before(item) else item["variants"].get(variant_id)
        if not layout:
            return 0
        self._keep_busy({product_id: item})  # restocks in this container spread by this copy
        active = layout.get("stock_shards", 1)
        held = self._items_held({variant_id: layout.get("stock_items", 1)})[variant_id]
        if not stock.unbalanced(held, active):
            return 0
        taken, given = stock.moves(held, active)
        writes = [dynamo.update(keys.stock_item_pk(variant_id, shard), keys.STOCK_SK, Update().add("stock", change),
                                "#stock = :seen", names={"#stock": "stock"}, values={":seen": held[shard]})
                  for shard, change in [*((s, -u) for s, u in taken.items()), *given.items()]]
        try:
            dynamo.transact(writes, attempts=1)
        except (TransactionContended, dynamo.TransactionRejected):
            return 0
        return sum(taken.values())


def _next_position(product: Product) -> int:
    return len(product.variants)

