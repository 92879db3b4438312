"""Products in DynamoDB: one item each, listed through sparse indexes (no scans)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.catalogue import keys
from chalicelib.catalogue.models import Product, ProductImage
from chalicelib.core import dynamo
from chalicelib.core.aws import error_code
from chalicelib.core.dynamo import Found, Gathered, Page, TransactionContended, Update, Write
from chalicelib.core.lines import Line

if TYPE_CHECKING:
    from chalicelib.core.events import Envelope


class ProductNotFound(Exception):
    pass


class InsufficientStock(Exception):
    def __init__(self, current: Product):
        self.current = current


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


def _product(item: dict[str, Any]) -> Product:
    stored = item.get("images")
    if isinstance(stored, dict):  # kept as a map by image id; answered as a list, oldest first
        shown = ProductImage.model_fields
        item = {**item, "images": [{k: v for k, v in image.items() if k in shown}
                                   for image in sorted(stored.values(), key=lambda i: (i["created_at"], i["id"]))]}
    return dynamo.model_from_item(Product, item)


def stored_product(product: Product) -> dict[str, Any]:
    """A new product as stored (its listings' keys with it)."""
    return {"PK": keys.product_pk(product.id), "SK": keys.PRODUCT_SK, "type": "PRODUCT",
            **product.model_dump(), "images": {}, "image_slots": 0,
            **keys.listing_keys(product.name, product.category, product.id)}


def product_item(product: Product) -> dict[str, Any]:
    """A new product as stored, in DynamoDB's JSON."""
    return dynamo.to_item(stored_product(product))


def _product_key(product_id: str) -> dict[str, Any]:
    return dynamo.key(keys.product_pk(product_id), keys.PRODUCT_SK)


def _product_key_pair(product_id: str) -> tuple[str, str]:
    return keys.product_pk(product_id), keys.PRODUCT_SK


class ProductRepository:
    def get(self, product_id: str) -> Product | None:
        item = dynamo.get(*_product_key_pair(product_id))
        return _product(dynamo.from_item(item)) if item else None

    def get_many(self, product_ids: list[str]) -> dict[str, Product]:
        """Several products by id in BatchGetItem calls (retrying what DynamoDB leaves unprocessed)."""
        return self.get_many_with(product_ids, [])[0]

    def get_many_with(self, product_ids: list[str], also: list[tuple[str, str]]
                      ) -> tuple[dict[str, Product], dict[tuple[str, str], dict[str, Any]]]:
        """Products by id and other domains' items by (PK, SK) in the same BatchGetItem calls (a
        basket's prices with its promotion): the products, and each of `also` found, as stored."""
        found = dynamo.batch_get([_product_key_pair(pid) for pid in product_ids] + list(also))
        products = {pid: _product(found[pair]) for pid in product_ids
                    if (pair := _product_key_pair(pid)) in found}
        return products, {pair: found[pair] for pair in also if pair in found}

    def list_active(self, limit: int, cursor: str | None) -> Page:
        return self._listing(keys.ALL_PRODUCTS, "GSI2", limit, cursor)

    def list_category(self, category: str, limit: int, cursor: str | None) -> Page:
        return self._listing(keys.category_partition(category), "GSI1", limit, cursor)

    def _listing(self, partition: str, index: str, limit: int, cursor: str | None) -> Page:
        page = dynamo.query_page(partition, index=index, limit=limit, cursor=cursor)
        page.items = [_product(item) for item in page.items]
        return page

    def create(self, product: Product, events: list[Envelope]) -> None:
        """Store a new product with the events announcing it, in one transaction."""
        from chalicelib.core.outbox import outbox_puts  # only writes that announce something load the outbox

        dynamo.transact([dynamo.put(stored_product(product)), *outbox_puts(events)])

    def save(self, seen: Product, saved: Product, events: list[Envelope]) -> None:
        """Write what changed from `seen` (the product as read) to `saved`, with `events`, in one transaction.

        Conditioned on the product still having the version and the stock it had when read: a
        checkout (or a stock return) changes stock without a new version. Raises ProductChanged
        when someone got in between; read it again and decide again.
        """
        from chalicelib.core.outbox import outbox_puts

        old, new = seen.model_dump(), saved.model_dump()
        # Images change on their own conditions (add_image, settle_image, remove_image), never here.
        change = Update().set_all({name: value for name, value in new.items()
                                   if value != old[name] and name not in ("id", "images")})
        if saved.status == "ACTIVE":
            # Index keys follow the name and category so listings stay right.
            if (saved.name, saved.category) != (seen.name, seen.category):
                change.set_all(keys.listing_keys(saved.name, saved.category, saved.id))
        elif seen.status == "ACTIVE":
            change.remove(*keys.listing_keys(saved.name, saved.category, saved.id))  # out of every listing
        written = dynamo.update(*_product_key_pair(seen.id), change,
                                "#version = :seen_version AND #stock = :seen_stock", names={"#version": "version", "#stock": "stock"},
                                values={":seen_version": seen.version, ":seen_stock": seen.stock},
                                refused=ProductChanged(seen.id))
        try:
            dynamo.transact([written, *outbox_puts(events)])
        except TransactionContended:
            raise ProductChanged(seen.id) from None

    def adjust_stock(self, product_id: str, delta: int, updated_at: str) -> Product:
        """Add `delta` to the stock atomically, announcing nothing: what a sale does to stock (tests use it
        to sell elsewhere). Staff adjustments are announced: CatalogueService.adjust_stock."""
        condition, values = "attribute_exists(PK)", {}
        if delta < 0:
            condition, values = condition + " AND #stock >= :needed", {":needed": -delta}
        updated, item = dynamo.conditional_update(
            Key=_product_key(product_id),
            **Update().add("stock", delta).set("updated_at", updated_at).request(condition, values=values))
        if item is None:
            raise ProductNotFound(product_id)
        if not updated:
            raise InsufficientStock(_product(item))
        return _product(item)

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
                    raise ImageRefused(_product(item) if item else None) from None
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

    def reserve_in_transaction(self, line: Line, unit_price: int, currency: str) -> Write:
        """The transaction item taking the line's units for a sale at the price and currency the buyer
        was shown. Refused (StockRefused, saying why from the product as it was) if that would take stock
        below zero, if the product is no longer sold, or if its price or currency changed since."""
        def refused(found: Found) -> StockRefused:
            return StockRefused(LineRefused(line, self.reservation_refusal(found, unit_price, currency), found))

        return dynamo.update(*_product_key_pair(line.product_id), Update().add("stock", -line.quantity),
                             "#stock >= :quantity AND #status = :active AND #price = :price AND #currency = :currency",
                             names={"#status": "status", "#price": "price", "#currency": "currency"},
                             values={":quantity": line.quantity, ":active": "ACTIVE", ":price": unit_price,
                                     ":currency": currency},
                             refused=refused)

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

    def restock_in_transaction(self, line: Line) -> Write:
        """The transaction item giving the line's units back (an order cancelled or failed, goods taken back), to a
        product that still exists, archived or not."""
        return dynamo.update(*_product_key_pair(line.product_id), Update().add("stock", line.quantity),
                             "attribute_exists(PK)")
