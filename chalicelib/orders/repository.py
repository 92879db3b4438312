"""Checkouts and orders in DynamoDB: the checkout transaction, conditional order creation, transitions."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.core import dynamo, shards
from chalicelib.core.dynamo import Found, Page, TransactionContended, Update, Write
from chalicelib.core.events import Envelope
from chalicelib.core.ids import now
from chalicelib.core.lines import Line, Lines
from chalicelib.core.models import PostalAddress
from chalicelib.core.outbox import outbox_fields, outbox_puts, rewrite_kept_event
from chalicelib.orders import keys
from chalicelib.orders.models import (
    ERASED_BUYER,
    Order,
    OrderChange,
    PaymentState,
    RedemptionHeld,
    RefundReservation,
    ReturnReservation,
    StoredIntent,
    StoredOrder,
)
from chalicelib.users.personal_data import without

if TYPE_CHECKING:
    from chalicelib.catalogue.repository import ProductRepository


@dataclass
class CheckoutRecord:
    checkout_id: str
    order_id: str
    user_id: str
    request_hash: str
    created_at: str


@dataclass(frozen=True)
class CheckoutLine:
    """A line a checkout reserves, at the price and currency the buyer saw."""

    line: Line
    unit_price: int
    currency: str
    plan: dict[int, int] | None = None  # units by stock item (chalicelib/catalogue/stock.py); None: the sale record


class ReservationTooLarge(Exception):
    """The lines take their units from more stock items than one transaction holds (each a few from many)."""

    def __init__(self, items: int):
        self.items = items


@dataclass(frozen=True)
class Allowance:
    """What one customer may hold unpaid at once: `orders` awaiting payment reserving `units` in all."""

    user_id: str
    orders: int
    units: int


class AllowanceExceeded(Exception):
    """The checkout would take its buyer beyond their unpaid allowance; what they hold now."""

    def __init__(self, held_orders: int, held_units: int):
        super().__init__(f"{held_orders} unpaid order(s) holding {held_units} unit(s)")
        self.held_orders = held_orders
        self.held_units = held_units


class CheckoutExists(Exception):
    """A checkout with this id is already recorded (the same key, sent again or concurrently)."""


class CheckoutMissing(Exception):
    """The checkout record an order is made from is not there."""


class OrderExists(Exception):
    """The order is made already (a redelivery, or a payment ahead of the queue): as it was found."""

    def __init__(self, found: Found):
        self.found = found


class OrderChanged(Exception):
    """The order is not in the state (or version) the change expected."""

    def __init__(self, current: Order | None):
        self.current = current


_TALLIES = ("refund_reserved", "refund_count")
_LINE_TALLIES = ("restocked#", "returning#", "shipped#")


def _order(item: dict[str, Any]) -> StoredOrder:
    tallies = {name: value for name, value in item.items() if name in _TALLIES or name.startswith(_LINE_TALLIES)}
    return dynamo.model_from_item(StoredOrder, item, holds_allowance=bool(item.get("holds_allowance")), tallies=tallies,
                                  redemption=_redemption_of(item.get("promotion_hold")),
                                  intent=StoredIntent.from_stored(item.get("payment_intent")))


def _list_refunds_owed(diff: Update, listed: bool | None, order: Order, at: str | None = None) -> None:
    """GSI3 lists an order owing money back by when it was flagged (True), or none (False: an order awaiting
    payment is listed there by its deadline until it leaves PENDING); None leaves it as it is."""
    if listed:
        diff.set("GSI3PK", keys.refund_due_shard(order.id)).set("GSI3SK", f"{at or order.updated_at}#{order.id}")
    elif listed is False:
        diff.remove("GSI3PK", "GSI3SK")


def _redemption_of(stored: dict[str, Any] | None) -> RedemptionHeld | None:
    return RedemptionHeld(stored["code"], bool(stored.get("once_per_customer"))) if stored else None


def order_from_item(item: dict[str, Any]) -> StoredOrder:
    """An order as an item of the table holds it (e.g. one a refused transaction handed back)."""
    return _order(item)


class OrderNotAsRead(Exception):
    """A refund or return write found the order otherwise than it was read (judge again from `current`)."""

    def __init__(self, current: Order | None):
        self.current = current


def _not_as_read(found: Found) -> OrderNotAsRead:
    return OrderNotAsRead(_order(found) if found else None)


def _bounded_lines(update: Update, order: Order, attribute_of: Any, lines: Lines,
                   conditions: list[str], names: dict[str, str], values: dict[str, Any]) -> None:
    """ADD each line's quantity to its counter, conditioned on the counter staying within what was bought."""
    bought = order.bought
    for number, line in enumerate(lines.in_key_order()):
        attribute = attribute_of(line.key)
        update.add(attribute, line.quantity)
        names[f"#line{number}"] = attribute
        values[f":room{number}"] = bought.units_of(line.key) - line.quantity
        conditions.append(f"(attribute_not_exists(#line{number}) OR #line{number} <= :room{number})")


def _take_allowance(allowance: Allowance, units: int) -> Write:
    """A transaction item counting one more unpaid order of `units` against the buyer's allowance,
    refused (AllowanceExceeded) when they already hold the most orders, or would hold more units, than it allows."""
    def refused(found: Found) -> AllowanceExceeded:
        return AllowanceExceeded(int((found or {}).get("unpaid_orders", 0)), int((found or {}).get("unpaid_units", 0)))

    room = "attribute_not_exists(#unpaid_orders) OR (#unpaid_orders < :most_orders AND #unpaid_units <= :room)"
    return dynamo.update(keys.allowance_pk(allowance.user_id), keys.ALLOWANCE_SK,
                         Update().set("type", "ALLOWANCE").add("unpaid_orders", 1).add("unpaid_units", units), room,
                         values={":most_orders": allowance.orders, ":room": allowance.units - units}, refused=refused)


def _give_back_allowance(order: Order) -> Write:
    """The transaction item returning what `order` held against its buyer's allowance."""
    return dynamo.update(keys.allowance_pk(order.user_id), keys.ALLOWANCE_SK,
                         Update().add("unpaid_orders", -1).add("unpaid_units", -order.units))


def _forgetting_the_buyer() -> Update:
    return Update().set("user_id", ERASED_BUYER).remove("shipping_address", "request_hash", "GSI1PK", "GSI1SK")


def _checkout_pointer(order_id: str, checkout_id: str) -> Write:
    """The transaction item pointing from the order's partition to its checkout (no personal data)."""
    expires = int((now() + timedelta(days=keys.CHECKOUT_POINTER_DAYS)).timestamp())
    pk, sk = keys.checkout_pointer_key(order_id)
    pointer = {"PK": pk, "SK": sk, "type": "CHECKOUT_POINTER", "checkout_id": checkout_id, "expiresAt": expires}
    return dynamo.put(pointer, refused=CheckoutExists(order_id))


class CheckoutRepository:
    def __init__(self, products: ProductRepository):
        self.products = products

    def get(self, checkout_id: str) -> CheckoutRecord | None:
        item = dynamo.get(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK,
                          attributes="checkout_id, order_id, user_id, request_hash, created_at")
        if not item:
            return None
        return CheckoutRecord(**dynamo.from_item(item))

    def shipping_address(self, checkout_id: str) -> PostalAddress | None:
        """Where the checkout ships to; None once its order took it, or its buyer was erased."""
        item = dynamo.get(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK, attributes="shipping_address")
        address = dynamo.from_item(item).get("shipping_address") if item else None
        return PostalAddress.model_validate(address) if address else None

    def shipping_addresses(self, checkout_ids: list[str]) -> dict[str, PostalAddress | None]:
        """Where several checkouts ship to, in BatchGetItem calls: a queue batch's addresses at once.
        An id DynamoDB left unprocessed is missing from the answer (read it on its own)."""
        pairs = {checkout_id: (keys.checkout_pk(checkout_id), keys.CHECKOUT_SK) for checkout_id in checkout_ids}
        found = dynamo.batch_get(list(pairs.values()), attempts=3, projection="checkout_id, shipping_address")
        addresses: dict[str, PostalAddress | None] = {}
        for checkout_id, pair in pairs.items():  # no record: nothing to ship to, as shipping_address says
            if pair not in found.unprocessed:
                address = found.get(pair, {}).get("shipping_address")
                addresses[checkout_id] = PostalAddress.model_validate(address) if address else None
        return addresses

    def of_order(self, order_id: str) -> dict[str, Any] | None:
        """The checkout record an order is to come from, found through the order's pointer (two strongly
        consistent reads); None when no pointer names the order (no checkout, or one made before pointers)."""
        pointer = dynamo.get(*keys.checkout_pointer_key(order_id), consistent=True, attributes="checkout_id")
        if not pointer:
            return None
        checkout_id = dynamo.from_item(pointer)["checkout_id"]
        item = dynamo.get(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK, consistent=True)
        return dynamo.from_item(item) if item else None

    def address_removal(self, checkout_id: str) -> Write:
        """A transaction item taking the address off the checkout record: the order keeps the only copy."""
        return dynamo.update(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK, Update().remove("shipping_address"),
                             "attribute_exists(PK)", refused=CheckoutMissing(checkout_id))

    def buyer_removal(self, checkout_id: str) -> Write:
        """A transaction item leaving nothing of an erased buyer on the checkout record (an order made for them
        after their erasure is made anonymised): no address, no link to them, no hash of their request."""
        return dynamo.update(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK, _forgetting_the_buyer(),
                             "attribute_exists(PK)", refused=CheckoutMissing(checkout_id))

    def of_user(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Every checkout of a customer not yet rid of them (GSI1), a page at a time (erasure)."""
        return dynamo.every_item(keys.user_checkouts_partition(user_id), index="GSI1")

    def names(self, checkout_id: str, user_id: str) -> bool:
        """Does the checkout record still name `user_id` as its buyer?"""
        item = dynamo.get(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK, attributes="user_id")
        return bool(item) and dynamo.from_item(item).get("user_id") == user_id

    def forget_buyer(self, checkout_id: str, user_id: str) -> bool:
        """Leave nothing of `user_id` on the checkout record (erasure): its address, the link to them, the
        hash of their request, its listing under them, and their id in an event it still keeps. Conditioned
        on what was read, so a record changed meanwhile (its order made, its event published) is read again;
        False when there was nothing of them left."""
        where = dynamo.key(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK)
        for _attempt in range(3):
            item = dynamo.get(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK, consistent=True)
            record = dynamo.from_item(item) if item else {}
            if record.get("user_id") != user_id:
                return False
            update, conditions = _forgetting_the_buyer(), ["user_id = :buyer"]
            values: dict[str, Any] = {":buyer": user_id}
            rewrite_kept_event(record, lambda text: without(text, user_id), update, conditions, values)
            try:
                dynamo.ddb().update_item(TableName=dynamo.table_name(), Key=where,
                                         **update.request(" AND ".join(conditions), values=values))
                return True
            except ClientError as exc:
                if not dynamo.condition_failed(exc):
                    raise
        raise TransactionContended(f"checkout {checkout_id} kept changing")

    def commit(self, *, checkout: dict[str, Any], event: Envelope, lines: list[CheckoutLine],
               basket_clear: Write, allowance: Allowance | None, buyer_active: Write,
               redemption: list[Write] | None = None) -> None:
        """One transaction: reserve every line's stock at the price and currency shown, record the
        checkout (with its CheckoutRequested event in the outbox), empty the basket, count the
        order against its buyer's unpaid `allowance` (None: an order with nothing to pay, never unpaid),
        take the `redemption` items of its promotion code (the count on the promotion; the buyer's
        marker of a once-per-customer code), and check `buyer_active` (the buyer's account is active:
        a suspended or erased one buys nothing).

        Raises CheckoutExists, AccountInactive, RedemptionRefused, AllowanceExceeded, StockRefused (every refused
        line, with why) or BasketChanged, the first that applies in that order, or TransactionContended when
        concurrent transactions kept colliding with it.
        """
        record = {"PK": keys.checkout_pk(checkout["checkout_id"]), "SK": keys.CHECKOUT_SK, "type": "CHECKOUT",
                  **checkout, **outbox_fields(event),
                  # Listed under its buyer until their erasure: it finds every checkout, its order made or not.
                  "GSI1PK": keys.user_checkouts_partition(checkout["user_id"]),
                  "GSI1SK": f"{checkout['created_at']}#{checkout['checkout_id']}"}
        reservations = [write for line in lines
                        for write in self.products.reserve_in_transaction(line.line, line.unit_price, line.currency,
                                                                          line.plan)]
        if len(reservations) + 7 > dynamo.TRANSACTION_LIMIT:  # lines each taking from many stock items
            raise ReservationTooLarge(len(reservations))
        # At most MAX_LINES (50) reservations + 7 items: within TransactWriteItems' 100.
        dynamo.transact([dynamo.put(record, refused=CheckoutExists(checkout["checkout_id"])),
                  _checkout_pointer(checkout["order_id"], checkout["checkout_id"]),
                  buyer_active,
                  *(redemption or []),
                  *([_take_allowance(allowance, sum(line.line.quantity for line in lines))] if allowance else []),
                  *reservations,
                  basket_clear])


class OrderRepository:
    def __init__(self, products: ProductRepository):
        self.products = products

    def get(self, order_id: str) -> Order | None:
        item = dynamo.get(keys.order_pk(order_id), keys.ORDER_SK)
        return _order(dynamo.from_item(item)) if item else None

    def create(self, order: Order, companions: list[Write] | None = None,
               extra: dict[str, Any] | None = None, events: list[Envelope] | None = None) -> tuple[Order, bool]:
        """Put the order unless it exists, with `companions` (items of the same write, such as its
        checkout record losing the address) and the `events` announcing it (outbox) in one transaction;
        `extra` attributes go on the item. Returns (order as stored, created now?). A companion's refusal
        is raised as it names it (the order is not made)."""
        item = {"PK": keys.order_pk(order.id), "SK": keys.ORDER_SK, "type": "ORDER",
                **order.model_dump(mode="json"), **({"holds_allowance": True} if order.holds_allowance else {}),
                **({"promotion_hold": {"code": order.redemption.code,
                                       "once_per_customer": order.redemption.once_per_customer}}
                   if order.redemption else {}),
                **keys.index_keys(order.user_id, order.status, order.created_at, order.id, order.payment_due_at),
                **(extra or {})}
        stored = dynamo.put(item, refused=lambda found: OrderExists(found))
        try:
            companions = [*(companions or []), *outbox_puts(events or [])]
            if companions:
                dynamo.transact([stored, *companions])
            else:
                dynamo.write(stored)
        except OrderExists as exists:
            return (_order(exists.found) if exists.found else order), False
        return order, True

    def of_user(self, user_id: str, since: str | None, until: str | None, status: str | None,
                limit: int, cursor: str | None) -> Page:
        """A user's orders, newest first, optionally within a date range and of one status."""
        between = (since or "0", (until or "9") + "\uffff") if (since or until) else None
        page = dynamo.query_page(keys.user_orders_partition(user_id), index="GSI1", limit=limit, cursor=cursor,
                                 forward=False, sort_between=between,
                                 filter_expression="#st = :st" if status else None,
                                 filter_names={"#st": "status"} if status else None,
                                 filter_values={":st": status} if status else None)
        page.items = [_order(item) for item in page.items]
        return page

    def every_order_of(self, user_id: str) -> Iterator[Order]:
        """All of a user's orders, a page read at a time as the caller goes (erasure)."""
        return (_order(item) for item in dynamo.every_item(keys.user_orders_partition(user_id), index="GSI1"))

    def with_status(self, status: str, limit: int, cursor: str | None) -> Page:
        page = shards.query_page(keys.status_partition(status), keys.STATUS_SHARDS, index="GSI2", limit=limit,
                                 cursor=cursor, forward=False)
        page.items = [_order(item) for item in page.items]
        return page

    def payment_overdue(self, before: str, limit: int, cursor: str | None = None) -> Page:
        """Orders whose payment window closed before `before`, oldest first (the index lags: re-check)."""
        page = shards.query_page(keys.PAYMENT_DUE, keys.PAYMENT_DUE_SHARDS, index="GSI3", limit=limit, cursor=cursor,
                                 sort_between=("0", before))
        page.items = [_order(item) for item in page.items]
        return page

    def refund_due_since(self, before: str, limit: int, cursor: str | None = None) -> Page:
        """Orders flagged refundDue before `before`, oldest flag first (GSI3 `REFUNDDUE`)."""
        page = shards.query_page(keys.REFUND_DUE, keys.REFUND_DUE_SHARDS, index="GSI3", limit=limit, cursor=cursor,
                                 sort_between=("0", before))
        page.items = [_order(item) for item in page.items]
        return page

    def save(self, change: OrderChange, companions: Sequence[Write] = ()) -> StoredOrder:
        """Write a step the order decided (`StoredOrder.transition`, `.settle_refund`, `.ship`, `.deliver`) in one
        transaction with its stock returns, what it gives back, its shipment (the shipped counters bounded by
        what was bought), its events and any `companions` (writes of other domains that belong to the same
        change, e.g. a ledger record), listed first: their refusals say most.

        Conditioned on the status and version that were read, so of two concurrent changes exactly one wins
        and stock comes back exactly once. Raises what a refused companion names, else OrderChanged (with the
        order as it is now). Returns the order as written."""
        before, after = change.before, change.after
        diff = Update().set("updated_at", after.updated_at).add("version", 1)
        diff.set("captured_amount", after.captured_amount).set("refund_due", after.refund_due)
        if change.moving:
            diff.set("status", after.status).set("GSI2PK", keys.status_shard(after.status, after.id))
        if after.delivered_at != before.delivered_at:
            diff.set("delivered_at", after.delivered_at)
        if after.status_reason != before.status_reason:
            diff.set("status_reason", after.status_reason)
        if change.refunded:
            diff.add("refunded_amount", change.refunded)
        if change.refund_released:
            diff.add("refund_reserved", -change.refund_released)
        if change.refund_settled is not None:
            diff.set_in_list("refunds", change.refund_settled, "status", after.refunds[change.refund_settled].status)
        if after.payment != before.payment and after.payment is not None:
            diff.set("payment", after.payment.model_dump(mode="json"))
        if after.disputed and not before.disputed:
            diff.set("disputed", True)
        if change.payment_shown is not None:
            diff.append("payments", [change.payment_shown.model_dump(mode="json")])
        _list_refunds_owed(diff, change.refunds_owed, after)
        if change.allowance_back:
            diff.remove("holds_allowance")
        if change.redemption_back:
            diff.remove("promotion_hold")
        conditions = ["#status = :from", "#version = :seen_version"]
        names, values = {"#status": "status", "#version": "version"}, {":from": before.status,
                                                                      ":seen_version": before.version}
        if change.shipment_added is not None:
            diff.append("shipments", [change.shipment_added.stored()])
            # Never more units handed to carriers than were bought, whatever was read.
            _bounded_lines(diff, before, keys.shipped_attribute, change.shipped, conditions, names, values)
        for position in change.shipments_delivered:
            delivered = after.shipments[position]
            diff.set_in_list("shipments", position, "status", delivered.status)
            diff.set_in_list("shipments", position, "delivered_at", delivered.delivered_at)
        writes = [*companions, dynamo.update(
            keys.order_pk(before.id), keys.ORDER_SK, diff, " AND ".join(conditions), names=names, values=values,
            refused=lambda found: OrderChanged(_order(found) if found else None))]
        writes += self.restock_items(change.restock)
        if change.allowance_back:  # no longer unpaid: the buyer may hold another
            writes.append(_give_back_allowance(before))
        if change.redemption_back:
            from chalicelib.promotions.repository import PromotionRepository

            writes += PromotionRepository.give_back_in_transaction(
                change.redemption_back.code, before.user_id, change.redemption_back.once_per_customer)
        dynamo.transact([*writes, *outbox_puts(list(change.events))])
        return after

    # --- refunds and returns: items of the refund's or the return's transaction ----------------

    def refund_reservation(self, reservation: RefundReservation) -> Write:
        """The transaction item writing a refund reservation the order judged (`StoredOrder.reserve_refund`):
        `refund.amount` of the money captured reserved and the units counted back on the shelf, refused
        (OrderNotAsRead) unless the order is still as read (its version: what it keeps, and so `refund_due`, was
        judged on it): no other refund since (`refund_count`), never more reserved than captured
        (`refund_reserved + amount <= captured_amount`), never more units restocked than bought."""
        order, refund = reservation.order, reservation.refund
        diff = Update().set("updated_at", reservation.at).add("version", 1)
        conditions = ["attribute_exists(PK)", "#version = :seen_version"]
        names: dict[str, str] = {"#version": "version"}
        values: dict[str, Any] = {":seen_version": order.version}
        if reservation.refund_due != order.refund_due:  # never PENDING here: GSI3 is the refunds-owed index's
            diff.set("refund_due", reservation.refund_due)
            _list_refunds_owed(diff, reservation.refund_due, order, at=reservation.at)
        if refund is not None:
            count = reservation.refunds_seen
            diff.add("refund_count", 1).add("refund_reserved", refund.amount)
            if reservation.listed:
                diff.append("refunds", [refund.model_dump(mode="json")])
            conditions += ["#captured_amount >= :captured_seen",
                           "attribute_not_exists(#refund_count)" if count == 0 else "#refund_count = :count_seen",
                           "(attribute_not_exists(#refund_reserved) OR #refund_reserved <= :money_room)"]
            names.update({"#captured_amount": "captured_amount", "#refund_count": "refund_count",
                          "#refund_reserved": "refund_reserved"})
            values.update({":captured_seen": order.captured_amount, ":money_room": order.captured_amount - refund.amount})
            if count:
                values[":count_seen"] = count
        if reservation.restock:
            conditions.append("#status IN (:shipped, :delivered)")
            names["#status"] = "status"
            values.update({":shipped": "SHIPPED", ":delivered": "DELIVERED"})
            _bounded_lines(diff, order, keys.restocked_attribute, reservation.restock, conditions, names, values)
        return dynamo.update(keys.order_pk(order.id), keys.ORDER_SK, diff, " AND ".join(conditions), names=names,
                             values=values, refused=_not_as_read)

    def restock_items(self, restock: Lines) -> list[Write]:
        """Transaction items putting units back on the shelf (the order's counters bound them)."""
        return [self.products.restock_in_transaction(line) for line in restock.in_key_order()]

    def return_reservation(self, reservation: ReturnReservation) -> Write:
        """The transaction item counting a return's units (`StoredOrder.reserve_return`) as being returned, refused
        (OrderNotAsRead) unless the order is DELIVERED, was delivered at or after the window opened, and no line
        would have more units in returns than were bought."""
        order, diff = reservation.order, Update()
        names = {"#status": "status", "#delivered_at": "delivered_at"}
        values: dict[str, Any] = {":delivered": "DELIVERED", ":window_opened": reservation.window_opened}
        if reservation.dated_now:
            diff.set("delivered_at", reservation.delivered_at)
            conditions = ["#status = :delivered", "attribute_not_exists(#delivered_at)",
                          "#updated_at >= :window_opened"]
            names["#updated_at"] = "updated_at"
        else:
            conditions = ["#status = :delivered", "#delivered_at >= :window_opened"]
        _bounded_lines(diff, order, keys.returning_attribute, reservation.lines, conditions, names, values)
        return dynamo.update(keys.order_pk(order.id), keys.ORDER_SK, diff, " AND ".join(conditions), names=names,
                             values=values, refused=_not_as_read)

    def return_release(self, order_id: str, lines: Lines) -> Write:
        """The transaction item taking a rejected return's units off the order's returning counters."""
        diff = Update()
        for line in lines.in_key_order():
            diff.add(keys.returning_attribute(line.key), -line.quantity)
        return dynamo.update(keys.order_pk(order_id), keys.ORDER_SK, diff, "attribute_exists(PK)")

    def attach_intent(self, order: StoredOrder, intent: StoredIntent, state: PaymentState, at: str) -> StoredOrder:
        """Keep the provider's payment intent on an order awaiting payment, as read: holding none yet, or the one
        it holds (`order.intent`, cancelled at the provider) replaced. Of two concurrent writers the first wins
        and the other reads its intent. Raises OrderChanged (with the order as it is now)."""
        diff = Update().set("payment_intent", intent.stored()).set("payment", state.model_dump(mode="json"))
        diff.set("updated_at", at).add("version", 1)
        held = "attribute_not_exists(payment_intent)" if order.intent is None else "payment_intent.id = :held"
        dynamo.write(dynamo.update(
            keys.order_pk(order.id), keys.ORDER_SK, diff,
            f"#status = :pending AND #version = :seen_version AND {held}",
            names={"#status": "status", "#version": "version"},
            values={":pending": "PENDING", ":seen_version": order.version,
                    **({":held": order.intent.id} if order.intent is not None else {})},
            refused=lambda found: OrderChanged(_order(found) if found else None)))
        return order.model_copy(update={"intent": intent, "payment": state, "updated_at": at,
                                        "version": order.version + 1})

    def get_many(self, order_id: str, other_sk: str) -> tuple[Order | None, dict[str, Any] | None]:
        """The order and another item of its partition (a refund), in one BatchGetItem."""
        order_key, other_key = (keys.order_pk(order_id), keys.ORDER_SK), (keys.order_pk(order_id), other_sk)
        found = dynamo.batch_get([order_key, other_key], attempts=3, consistent=True)
        if found.unprocessed:
            raise RuntimeError("the order could not be read")
        order = found.get(order_key)
        return (_order(order) if order else None), found.get(other_key)

    def anonymise(self, order: Order, updated_at: str) -> bool:
        """Keep the order for the books, without the person: no address, no link to the user.
        Conditioned on the buyer read, so a repeat (a stale index read, a redelivery) changes nothing:
        False then."""
        country = order.shipping_address.country if order.shipping_address else ""
        try:
            dynamo.ddb().update_item(
                TableName=dynamo.table_name(), Key=dynamo.key(keys.order_pk(order.id), keys.ORDER_SK),
                # A new version: a transition that read the order before it was anonymised must read it again.
                **Update().set_all({"user_id": ERASED_BUYER, "updated_at": updated_at, "shipping_country": country})
                .add("version", 1)
                # Its allowance went with the person: nothing to give back to anyone.
                .remove("shipping_address", "GSI1PK", "GSI1SK", "holds_allowance")
                .request("#user_id = :buyer", names={"#user_id": "user_id"}, values={":buyer": order.user_id}))
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return False
            raise
        return True


    def forget_allowance(self, user_id: str) -> None:
        """Erasure, once every order of the user is anonymised: their unpaid allowance goes too."""
        dynamo.write(dynamo.delete(keys.allowance_pk(user_id), keys.ALLOWANCE_SK))

