"""Order wire models and the order state machine."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.errors import NotFound
from chalicelib.core.lines import Line, Lines
from chalicelib.core.models import (
    ApiModel,
    DateFrom,
    DateTo,
    PageQuery,
    PostalAddress,
    PricedLine,
    SchemaHint,
    Timestamp,
    allocate,
)
from chalicelib.orders.keys import restocked_attribute, shipped_attribute
from chalicelib.orders.shipments import MAX_SHIPMENTS, Shipment
from chalicelib.shipping.models import ChosenShipping
from chalicelib.tax.models import TaxLine
from chalicelib.users.personal_data import ERASED

if TYPE_CHECKING:
    from chalicelib.core.events import Envelope

OrderStatus = Literal["PENDING", "PAID", "PARTIALLY_SHIPPED", "SHIPPED", "DELIVERED", "CANCELLED", "PAYMENT_FAILED"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "PENDING": frozenset({"PAID", "CANCELLED", "PAYMENT_FAILED"}),
    # Shipments move a paid order on (PARTIALLY_SHIPPED until every unit has shipped); once anything shipped,
    # nobody cancels it.
    "PAID": frozenset({"PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED"}),
    "PARTIALLY_SHIPPED": frozenset({"SHIPPED"}),
    "SHIPPED": frozenset({"DELIVERED"}),
    "DELIVERED": frozenset(),
    "CANCELLED": frozenset(),
    "PAYMENT_FAILED": frozenset(),
}
# Leaving PENDING or PAID without shipping puts the reserved units back on the shelf.
RETURNS_STOCK = frozenset({"CANCELLED", "PAYMENT_FAILED"})
CUSTOMER_CANCELLABLE = frozenset({"PENDING", "PAID"})
# Orders that keep the money paid for them.
KEEPS_PAYMENT = frozenset({"PAID", "PARTIALLY_SHIPPED", "SHIPPED", "DELIVERED"})
# Orders a shipment may leave from (with units not yet shipped).
SHIPPABLE = frozenset({"PAID", "PARTIALLY_SHIPPED"})
MAX_PAYMENTS_SHOWN = 20  # payments listed on an order (the ledger keeps every one)
MAX_REFUNDS_SHOWN = 20  # refunds listed on an order (GET /admin/orders/{id}/refunds lists every one)
# Units staff may put back on the shelf from an order (a refund's restock, a received return): those shipped, once
# all of them have (a partly shipped order still holds its other units for a later parcel).
RESTOCKABLE = frozenset({"SHIPPED", "DELIVERED"})
ERASED_BUYER = ERASED  # an order's user_id once its buyer erased their data

PaymentType = Literal["payment.succeeded", "payment.failed", "refund.succeeded", "refund.failed"]
# What the ledger records: the generic webhook's types, and what a provider with intents says besides: an attempt
# declined (the customer may try again), a dispute opened, anything else it sent (recorded, not acted on).
LedgerType = Literal["payment.succeeded", "payment.failed", "payment.declined", "payment.disputed",
                     "refund.succeeded", "refund.failed", "provider.other"]
ProviderName = Literal["stripe", "generic"]
# Where the order's payment stands at its provider: waiting for the customer (after an attempt declined, with its
# reason), failed for good (the generic provider's failure), succeeded, or cancelled with the order.
PaymentStatus = Literal["AWAITING_PAYMENT", "DECLINED", "FAILED", "SUCCEEDED", "CANCELLED"]
RefundStatus = Literal["REQUESTED", "SUCCEEDED", "FAILED"]
# APPLIED: moved the order; REFUND_DUE: money the order cannot keep; IGNORED: a failure for an
# order no longer awaiting payment; REVIEW: unknown order, or amount or currency not the order's.
PaymentOutcome = Literal["APPLIED", "REFUND_DUE", "IGNORED", "REVIEW"]


@dataclass(frozen=True)
class RedemptionHeld:
    """A promotion redemption a checkout took (and, for a once-per-customer code, its buyer's marker)."""

    code: str
    once_per_customer: bool


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


class OrderLine(PricedLine):
    """A line bought. An order from before variants names no variant, SKU or options: its lines are of their
    products' default variants (whose ids are the products')."""


class OrderPayment(ApiModel):
    """A provider's verdict on this order, as recorded."""

    id: str  # the provider's event id
    type: LedgerType
    amount: int
    currency: str
    outcome: PaymentOutcome
    received_at: Timestamp


class PaymentState(ApiModel):
    """The order's payment at its provider, as the customer sees it (never the intent's secret)."""

    provider: ProviderName
    status: PaymentStatus
    last_error: str | None = None  # why the last attempt was declined

    def cancelled(self) -> "PaymentState":
        """The order went unpaid: a payment still awaited is cancelled with it."""
        return self.model_copy(update={"status": "CANCELLED"}) if self.status in ("AWAITING_PAYMENT", "DECLINED") \
            else self


@dataclass(frozen=True)
class StoredIntent:
    """The provider's payment intent the order waits on (one per order and amount), kept on the order only."""

    id: str
    client_secret: str
    amount: int
    currency: str
    provider: str
    created_at: str

    def stored(self) -> dict[str, Any]:
        return {"id": self.id, "client_secret": self.client_secret, "amount": self.amount,
                "currency": self.currency, "provider": self.provider, "created_at": self.created_at}

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> "StoredIntent | None":
        return cls(**{name: stored[name] for name in ("id", "client_secret", "currency", "provider", "created_at")},
                   amount=int(stored["amount"])) if stored else None


class OrderRefund(ApiModel):
    """A refund staff asked the provider for, as the order lists it."""

    id: str
    amount: int
    currency: str
    status: RefundStatus
    created_at: Timestamp


class Order(ApiModel):
    id: str
    user_id: str
    status: OrderStatus
    items: list[OrderLine]
    subtotal: int
    currency: str
    # What a promotion code took off the subtotal at checkout, shipping and tax as the checkout reckoned them
    # (chalicelib/tax/totals.py), and what is to pay: subtotal - discount + shipping (+ tax when prices exclude it).
    discount: int = 0
    shipping_method: ChosenShipping | None = None
    shipping: int = 0
    tax: int = 0
    prices_include_tax: bool = False
    tax_lines: list[TaxLine] = Field(default_factory=list)
    total: int
    promotion_code: str | None = None
    shipping_address: PostalAddress | None = None  # None once the buyer erased their data
    checkout_id: str
    # Money the provider captured for this order, and whether the shop holds some it must give back.
    captured_amount: int = 0
    refund_due: bool = False
    payments: list[OrderPayment] = Field(default_factory=list)
    payment: PaymentState | None = None  # at the provider: set by POST /orders/{id}/payment and provider events
    disputed: bool = False  # the customer disputed the charge with their bank: answer it at the provider
    # Money the provider confirmed it paid back, and the refunds asked for (the first MAX_REFUNDS_SHOWN).
    refunded_amount: int = 0
    refunds: list[OrderRefund] = Field(default_factory=list)
    delivered_at: Timestamp | None = None
    shipments: list[Shipment] = Field(default_factory=list)  # parcels handed to carriers, in the order they left
    status_reason: str | None = None
    payment_due_at: Timestamp | None = None
    version: int = 1
    created_at: Timestamp
    updated_at: Timestamp
    @model_validator(mode="before")
    @classmethod
    def _total_of_earlier_orders(cls, data: Any) -> Any:
        """Orders from before promotions stored no total: they cost their subtotal."""
        if isinstance(data, dict) and "total" not in data and isinstance(data.get("subtotal"), int):
            return {**data, "total": data["subtotal"] - int(data.get("discount") or 0)}
        return data

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.items)

    def held(self) -> int:
        """What the shop holds for this order. Staff marking an order PAID asserts its total arrived."""
        return max(self.captured_amount, self.total if self.status in KEEPS_PAYMENT else 0)

    @property
    def bought(self) -> Lines:
        """The units this order bought, by line."""
        return Lines.of(self.items)

    def line_payments(self) -> dict[str, int]:
        """What each line paid (by line key): its total less its share of the discount (spread over the lines in
        proportion with remainders, as the checkout spread it), and its tax where prices exclude it; with shipping
        (and its tax), the lines together paid exactly the order's total."""
        shares = allocate(self.discount, [line.line_total for line in self.items])
        return {Line.of(line).key: line.line_total - share + (0 if self.prices_include_tax else line.tax)
                for line, share in zip(self.items, shares)}

    def value_of(self, units: Lines) -> int:
        """What the first `units` units of each line paid: a line's payment spread over its units, counted from its
        first unit and rounded down, so all of a line's units together paid exactly the line."""
        paid, bought = self.line_payments(), self.bought
        return sum(paid[line.key] * min(line.quantity, bought.units_of(line.key)) // bought.units_of(line.key)
                   for line in units if bought.units_of(line.key))

class IllegalTransition(Exception):
    """The state machine has no step from the order's status to the one asked for."""

    def __init__(self, current: str, target: str):
        super().__init__(f"{current} -> {target}")
        self.current, self.target = current, target


def order_not_found(order_id: str) -> NotFound:
    """The one answer for an order that does not exist or is not the caller's to see: the same 404 either way."""
    return NotFound(f"Order {order_id} was not found.")


class StoredOrder(Order):
    """An order as the shop keeps it: what the API shows (`Order`) and what only the shop's own writes read.
    The aggregate: it judges its own steps (`transition`, `settle_refund`, `reserve_refund`, `reserve_return`,
    `ship`, `deliver`), each returning what changes, which the repository writes in one transaction. Its own
    fields are left out of every dump: the API and the personal-data export answer the order, never these."""

    # Whether this order counts against its buyer's unpaid allowance (orders from checkouts accepted before
    # the allowance existed do not).
    holds_allowance: SkipJsonSchema[bool] = Field(default=False, exclude=True)
    # Counters the refund, return and shipment writes condition on (refund_reserved, refund_count,
    # restocked#<product>, returning#<product>, shipped#<variant>), as read.
    tallies: SkipJsonSchema[dict[str, int]] = Field(default_factory=dict, exclude=True)
    # The promotion redemption this order holds while PENDING (given back, once, when it leaves PENDING unpaid).
    redemption: SkipJsonSchema[RedemptionHeld | None] = Field(default=None, exclude=True)
    # The provider's payment intent, with the secret only its customer is given (POST /orders/{id}/payment).
    intent: SkipJsonSchema[StoredIntent | None] = Field(default=None, exclude=True)

    def tally(self, name: str) -> int:
        return int(self.tallies.get(name, 0))

    def units_beyond_what_is_left(self, asked: Lines, field: str,
                                  counted: Callable[[str], str]) -> list[tuple[Line, int]]:
        """(line asked, units left) for each line asking more units than bought less the tally `counted`
        names (units restocked, units being returned); a line the order does not hold is a 400."""
        from chalicelib.core.errors import ValidationFailed

        bought = self.bought
        unknown = [line for line in asked if line.key not in bought]
        if unknown:
            raise ValidationFailed("The order holds no such line.", [
                {"field": field, **line.named(), "issue": "not_in_order",
                 "message": "the order holds no such product"} for line in unknown])
        left = [(line, bought.units_of(line.key) - self.tally(counted(line.key))) for line in asked]
        return [(line, room) for line, room in left if line.quantity > room]

    def taken_back(self, more: Lines | None = None) -> Lines:
        """Units of each line the shop took back (restocked by a refund or a received return), and `more`."""
        return Lines(line.with_quantity(self.tally(restocked_attribute(line.key))) for line in self.bought) + \
            (more or Lines())

    def value_back(self, lines: Lines) -> int:
        """What the units `lines` names paid, counted after those taken back already: returning everything,
        in parcels of any size, gives back exactly what was paid."""
        return self.value_of(self.taken_back(lines)) - self.value_of(self.taken_back())

    def keeps(self, status: str | None = None, taking_back: Lines | None = None) -> int:
        """What the shop may keep for this order in `status` (its own if None), once `taking_back` is back on
        the shelf too: the value of the goods it did not take back, if the order keeps its payment at all."""
        if (status or self.status) not in KEEPS_PAYMENT:
            return 0
        return max(self.total - self.value_of(self.taken_back(taking_back)), 0)

    def settle(self, status: str, captured: int = 0, refunded: int = 0,
               taking_back: Lines | None = None) -> tuple[int, bool]:
        """(money held, refund due?) once the order is in `status` with `captured` more money in hand,
        `refunded` more paid back and `taking_back` more units back on the shelf: the shop owes back whatever
        it holds, less what it paid back, beyond what it keeps for the goods it did not take back."""
        held = self.held() + captured
        return held, held - self.refunded_amount - refunded > self.keeps(status, taking_back)

    # --- the order's steps: pure, each says what changes --------------------------------

    def transition(self, to: str, at: str, *, actor: str, reason: str | None = None, captured: int = 0,
                   payment: OrderPayment | None = None, state: PaymentState | None = None,
                   disputed: bool = False) -> OrderChange:
        """One step of the state machine to `to` at `at` (to its own status: only `payment` noted, with `captured`
        more money in hand). What the shop then holds and owes back, the moment it was delivered (the return
        window counts from there), the stock that goes back on the shelf and, leaving PENDING, the buyer's unpaid
        allowance and (unpaid) the promotion redemption given back, once: the step drops them from the order.
        `state` is where the payment now stands at its provider (cancelled with the order when it goes unpaid);
        `disputed` marks a charge the customer disputed. Raises IllegalTransition."""
        moving = to != self.status
        if moving and not can_move(self.status, to):
            raise IllegalTransition(self.status, to)
        held, refund_due = self.settle(to, captured)
        leaving_pending = moving and self.status == "PENDING"
        shown = payment if payment is not None and len(self.payments) < MAX_PAYMENTS_SHOWN else None
        redemption_back = self.redemption if leaving_pending and to in RETURNS_STOCK else None
        state = state or self.payment
        if state is not None and leaving_pending and to in RETURNS_STOCK:
            state = state.cancelled()
        after = self.model_copy(update={
            "payment": state, "disputed": self.disputed or disputed,
            "status": to, "updated_at": at, "version": self.version + 1, "captured_amount": held,
            "refund_due": refund_due, "payments": [*self.payments, *([shown] if shown else [])],
            "delivered_at": at if moving and to == "DELIVERED" else self.delivered_at,
            "status_reason": reason if reason and moving else self.status_reason,
            "holds_allowance": self.holds_allowance and not leaving_pending,
            "redemption": None if redemption_back else self.redemption})
        restock = self.bought if moving and to in RETURNS_STOCK else Lines()
        return OrderChange(
            before=self, after=after, events=tuple(self._transition_events(to, actor, reason, refund_due)) if moving
            else (), restock=restock, allowance_back=leaving_pending and self.holds_allowance,
            redemption_back=redemption_back, refunds_owed=self._refunds_owed_listing(after), payment_shown=shown)

    def settle_refund(self, refund_id: str, amount: int, succeeded: bool, at: str) -> OrderChange:
        """The provider confirmed (`succeeded`) or refused a refund of `amount` asked for this order: confirmed,
        it is paid back; refused, staff may refund it again. Its status on the order's list follows."""
        refunded = amount if succeeded else 0
        released = 0 if succeeded else amount
        _held, refund_due = self.settle(self.status, refunded=refunded)
        status: RefundStatus = "SUCCEEDED" if succeeded else "FAILED"
        settled = next((position for position, listed in enumerate(self.refunds) if listed.id == refund_id), None)
        after = self.model_copy(update={
            "updated_at": at, "version": self.version + 1, "refund_due": refund_due,
            "refunded_amount": self.refunded_amount + refunded,
            "refunds": [listed.model_copy(update={"status": status}) if position == settled else listed
                        for position, listed in enumerate(self.refunds)],
            "tallies": {**self.tallies, "refund_reserved": self.tally("refund_reserved") - released}})
        return OrderChange(before=self, after=after, refunds_owed=self._refunds_owed_listing(after),
                           refunded=refunded, refund_released=released, refund_settled=settled)

    def reserve_refund(self, refund: OrderRefund | None, restock: Lines, at: str) -> RefundReservation:
        """A refund of `refund.amount` asked for (None: only units back, a received return with nothing left to
        pay back) and `restock` units back on the shelf: goods taken back are no longer kept, so what the shop
        owes back is judged with them; the order lists the first MAX_REFUNDS_SHOWN refunds."""
        _held, refund_due = self.settle(self.status, taking_back=restock)
        count = self.tally("refund_count")
        return RefundReservation(order=self, refund=refund, restock=restock, at=at, refund_due=refund_due,
                                 listed=refund is not None and count < MAX_REFUNDS_SHOWN, refunds_seen=count)

    def reserve_return(self, lines: Lines, window_opened: str) -> ReturnReservation:
        """Units of `lines` asked back within the return window that opened at `window_opened`. An order delivered
        before orders kept the moment is dated from its last change."""
        return ReturnReservation(order=self, lines=lines, window_opened=window_opened,
                                 delivered_at=self.delivered_at or self.updated_at,
                                 dated_now=self.delivered_at is None)

    # --- shipments: each a step of its own, decided here, written as one conditional transaction ----------

    def shipped(self) -> Lines:
        """Units of each line handed to carriers so far."""
        return Lines(line.with_quantity(self.tally(shipped_attribute(line.key))) for line in self.bought)

    def shipment(self, shipment_id: str) -> Shipment | None:
        return next((shipment for shipment in self.shipments if shipment.id == shipment_id), None)

    def ship(self, shipment_id: str, units: Lines | None, at: str, *, actor: str, carrier: str | None = None,
             tracking_number: str | None = None, tracking_url: str | None = None, request_hash: str | None = None,
             reason: str | None = None) -> OrderChange:
        """A parcel of `units` (None: every unit not yet shipped) handed to a carrier at `at`: the order is
        PARTIALLY_SHIPPED until every unit has shipped, then SHIPPED. 409 from an order not PAID or partly
        shipped, beyond MAX_SHIPMENTS, or for more units than are left to ship; 422 for a line the order
        does not hold."""
        from chalicelib.core.errors import Conflict
        from chalicelib.orders.lines import line_units

        if self.status not in SHIPPABLE:
            raise Conflict(f"An order that is {self.status} has nothing to ship.", code="ORDER_NOT_SHIPPABLE")
        if len(self.shipments) >= MAX_SHIPMENTS:
            raise Conflict(f"An order ships in at most {MAX_SHIPMENTS} parcels.", code="TOO_MANY_SHIPMENTS")
        left = self.bought.minus(self.shipped())
        units = left if units is None else units
        if not units:
            raise Conflict("Every unit of this order has shipped.", code="NOTHING_TO_SHIP")
        over = self.units_beyond_what_is_left(units, "lines", shipped_attribute)
        if over:
            raise Conflict("More units than are left to ship.", [
                {"field": "lines", **line.named(), "issue": "exceeds_order", "requested": line.quantity,
                 "available": room, "message": f"at most {room} more"} for line, room in over],
                code="SHIPMENT_EXCEEDS_ORDER")
        everything = not left.minus(units)
        # Lines named as the order names them (a line of a product's default variant keeps its product's id).
        units = Lines(self.bought.line(line.key).with_quantity(line.quantity) for line in units)
        shipment = Shipment(id=shipment_id, lines=line_units(units), carrier=carrier, tracking_number=tracking_number,
                            tracking_url=tracking_url, shipped_at=at, request_hash=request_hash)
        to = "SHIPPED" if everything else "PARTIALLY_SHIPPED"
        change = self.transition(to, at, actor=actor, reason=reason)
        after = change.after.model_copy(update={
            "shipments": [*self.shipments, shipment],
            "tallies": {**self.tallies, **{shipped_attribute(line.key): self.tally(shipped_attribute(line.key))
                                           + line.quantity for line in units}}})
        created = self._shipment_event("ShipmentCreated", shipment, to, actor)
        return replace(change, after=after, events=(created, *change.events), shipment_added=shipment, shipped=units)

    def deliver(self, shipment_id: str, at: str, *, actor: str) -> OrderChange:
        """The carrier delivered one shipment: the order is DELIVERED once every unit has shipped and every
        shipment is delivered (its return window opens then). 404 for a shipment the order does not have,
        409 for one delivered already."""
        from chalicelib.core.errors import Conflict, NotFound

        shipment = self.shipment(shipment_id)
        if shipment is None:
            raise NotFound(f"Shipment {shipment_id} of order {self.id} was not found.")
        if shipment.status == "DELIVERED":
            raise Conflict(f"Shipment {shipment_id} was delivered already.", code="SHIPMENT_ALREADY_DELIVERED")
        return self._delivering([self.shipments.index(shipment)], at, actor=actor)

    def step(self, to: str, at: str, *, actor: str, reason: str | None = None) -> OrderChange:
        """A step staff ask for by status alone: SHIPPED ships every unit not yet shipped in one shipment (which
        names no carrier or tracking), DELIVERED delivers every shipment; PARTIALLY_SHIPPED only a shipment
        reaches. Any other is `transition`. Raises IllegalTransition."""
        if to == "PARTIALLY_SHIPPED" or not can_move(self.status, to):
            raise IllegalTransition(self.status, to)
        if to == "SHIPPED":
            from chalicelib.orders.keys import shipment_id_for

            # Fixed per step of the order (a status change has no request key): its events' ids are too.
            return self.ship(shipment_id_for(self.id, f"status@{self.version}"), None, at, actor=actor,
                             reason=reason)
        if to == "DELIVERED" and self.shipments:
            return self._delivering([position for position, shipment in enumerate(self.shipments)
                                     if shipment.status != "DELIVERED"], at, actor=actor, reason=reason)
        return self.transition(to, at, actor=actor, reason=reason)

    def _delivering(self, positions: list[int], at: str, *, actor: str, reason: str | None = None) -> OrderChange:
        shipments = [shipment.model_copy(update={"status": "DELIVERED", "delivered_at": at})
                     if position in positions else shipment for position, shipment in enumerate(self.shipments)]
        every = self.status == "SHIPPED" and all(shipment.status == "DELIVERED" for shipment in shipments)
        change = self.transition("DELIVERED" if every else self.status, at, actor=actor, reason=reason)
        delivered = tuple(self._shipment_event("ShipmentDelivered", shipments[position], change.after.status, actor)
                          for position in positions)
        return replace(change, after=change.after.model_copy(update={"shipments": shipments}),
                       events=(*delivered, *change.events), shipments_delivered=tuple(positions))

    def _shipment_event(self, kind: str, shipment: Shipment, order_status: str, actor: str) -> Envelope:
        from chalicelib.core.events import envelope
        from chalicelib.orders.events import ShipmentCreated, ShipmentDelivered
        from chalicelib.orders.keys import event_id_for

        model = ShipmentCreated if kind == "ShipmentCreated" else ShipmentDelivered
        data = model(order_id=self.id, user_id=self.user_id, shipment_id=shipment.id, lines=shipment.lines,
                     carrier=shipment.carrier, tracking_number=shipment.tracking_number,
                     tracking_url=shipment.tracking_url, order_status=order_status)
        return envelope(data, actor=actor, event_id=event_id_for(kind, shipment.id))

    def _refunds_owed_listing(self, after: StoredOrder) -> bool | None:
        """Whether `after` is on the refunds-owed list (True: from its `updated_at`), on no housekeeping list
        (False), or where it was (None). An order awaiting payment is listed by its deadline instead."""
        leaving_pending = self.status == "PENDING" and after.status != "PENDING"
        if after.refund_due and after.status != "PENDING" and (not self.refund_due or leaving_pending):
            return True
        if leaving_pending or (self.refund_due and not after.refund_due):
            return False
        return None

    def _transition_events(self, to: str, actor: str, reason: str | None, refund_due: bool) -> list[Envelope]:
        from chalicelib.core.events import envelope
        from chalicelib.orders.events import OrderCancelled, OrderStatusChanged
        from chalicelib.orders.keys import event_id_for

        step = f"{self.id}:{self.version + 1}"
        changed = OrderStatusChanged(order_id=self.id, user_id=self.user_id, from_status=self.status,
                                     to_status=to, refund_due=refund_due, reason=reason)
        events = [envelope(changed, actor=actor, event_id=event_id_for("OrderStatusChanged", step))]
        if to == "CANCELLED":
            cancelled = OrderCancelled(order_id=self.id, user_id=self.user_id, checkout_id=self.checkout_id,
                                       subtotal=self.subtotal, currency=self.currency, items=self.items,
                                       refund_due=refund_due, reason=reason)
            events.append(envelope(cancelled, actor=actor, event_id=event_id_for("OrderCancelled", self.id)))
        return events


@dataclass(frozen=True)
class OrderChange:
    """One step of an order, as the order decided it: the order as read (`before`: the write is conditioned on
    its status and version), what it becomes, and what moves with it. Written as one transaction."""

    before: StoredOrder
    after: StoredOrder
    events: tuple[Envelope, ...] = ()
    restock: Lines = field(default_factory=Lines)  # units back on the shelf
    allowance_back: bool = False  # the order no longer counts against its buyer's unpaid allowance
    redemption_back: RedemptionHeld | None = None  # the promotion redemption (and marker) given back
    refunds_owed: bool | None = None  # on the refunds-owed list from now, off every list, or as it was
    payment_shown: OrderPayment | None = None  # a provider's verdict added to the order's list
    refund_settled: int | None = None  # the position on the order's list of the refund settled
    refunded: int = 0  # more money paid back
    refund_released: int = 0  # a refused refund's amount, refundable again
    shipment_added: Shipment | None = None  # a parcel handed to a carrier
    shipped: Lines = field(default_factory=Lines)  # its units, counted on the order's shipped tallies
    shipments_delivered: tuple[int, ...] = ()  # the positions on the order's list of shipments delivered

    @property
    def moving(self) -> bool:
        return self.after.status != self.before.status

    def announcing(self, events: list[Envelope]) -> OrderChange:
        """The same change, with more events announcing it (after its own)."""
        return replace(self, events=(*self.events, *events))


@dataclass(frozen=True)
class RefundReservation:
    """A refund asked for (or units back), judged on the order as read: the write reserves the money and counts
    the units, refused unless the order is still as read."""

    order: StoredOrder
    refund: OrderRefund | None
    restock: Lines
    at: str
    refund_due: bool  # with the units back
    listed: bool  # the refund shows on the order's list
    refunds_seen: int  # refunds asked for before this one, as read


@dataclass(frozen=True)
class ReturnReservation:
    """Units asked back, judged on the order as read: counted as being returned, refused unless the order is
    DELIVERED within the window and no line would have more units in returns than were bought."""

    order: StoredOrder
    lines: Lines
    window_opened: str
    delivered_at: str
    dated_now: bool  # delivered before orders kept the moment: the reservation dates it


IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{8,128}$"),
                           SchemaHint(minLength=8, maxLength=128)]


class CheckoutRequest(ApiModel):
    """Ship to the basket's address (`{}`), or to a saved address (by id) or one given inline: at most one of
    the two, which then is the order's address (the basket's shipping method must serve it)."""

    # The validator below, in the schema (which offers no null: the validator takes one as absent).
    model_config = ConfigDict(json_schema_extra={"maxProperties": 1})

    address_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | SkipJsonSchema[None] = None
    shipping_address: PostalAddress | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _at_most_one_address(self) -> CheckoutRequest:
        if self.address_id is not None and self.shipping_address is not None:
            raise ValueError("give at most one of addressId or shippingAddress")
        return self


class CheckoutAccepted(ApiModel):
    checkout_id: str
    order_id: str
    status: Literal["ACCEPTED"] = "ACCEPTED"


class OrderListQuery(PageQuery):
    from_: DateFrom = Field(default=None, alias="from")
    to: DateTo = None
    status: OrderStatus | None = None

    @model_validator(mode="after")
    def _ordered_range(self) -> OrderListQuery:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("from must not be after to")
        return self


class AdminOrderQuery(PageQuery):
    status: OrderStatus


class StatusChange(ApiModel):
    status: OrderStatus
    version: Annotated[int, Field(ge=1), SchemaHint(maximum=2**31 - 1)] | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
