"""Order wire models and the order state machine."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.models import (
    ApiModel,
    DateFrom,
    DateTo,
    PageQuery,
    PostalAddress,
    SchemaHint,
    Timestamp,
    allocate,
    exactly_one_of,
)
from chalicelib.orders.keys import restocked_attribute
from chalicelib.users.personal_data import ERASED

OrderStatus = Literal["PENDING", "PAID", "SHIPPED", "DELIVERED", "CANCELLED", "PAYMENT_FAILED"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "PENDING": frozenset({"PAID", "CANCELLED", "PAYMENT_FAILED"}),
    "PAID": frozenset({"SHIPPED", "CANCELLED"}),
    "SHIPPED": frozenset({"DELIVERED"}),
    "DELIVERED": frozenset(),
    "CANCELLED": frozenset(),
    "PAYMENT_FAILED": frozenset(),
}
# Leaving PENDING or PAID without shipping puts the reserved units back on the shelf.
RETURNS_STOCK = frozenset({"CANCELLED", "PAYMENT_FAILED"})
CUSTOMER_CANCELLABLE = frozenset({"PENDING", "PAID"})
# Orders that keep the money paid for them.
KEEPS_PAYMENT = frozenset({"PAID", "SHIPPED", "DELIVERED"})
MAX_PAYMENTS_SHOWN = 20  # payments listed on an order (the ledger keeps every one)
MAX_REFUNDS_SHOWN = 20  # refunds listed on an order (GET /admin/orders/{id}/refunds lists every one)
# Units staff may put back on the shelf from an order (a refund's restock, a received return): those shipped.
RESTOCKABLE = frozenset({"SHIPPED", "DELIVERED"})
ERASED_BUYER = ERASED  # an order's user_id once its buyer erased their data

PaymentType = Literal["payment.succeeded", "payment.failed", "refund.succeeded", "refund.failed"]
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


class OrderLine(ApiModel):
    product_id: str
    name: str
    unit_price: int
    quantity: int
    line_total: int


class OrderPayment(ApiModel):
    """A provider's verdict on this order, as recorded."""

    id: str  # the provider's event id
    type: PaymentType
    amount: int
    currency: str
    outcome: PaymentOutcome
    received_at: Timestamp


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
    # What a promotion code took off the subtotal at checkout, and what is to pay: subtotal - discount.
    discount: int = 0
    total: int
    promotion_code: str | None = None
    shipping_address: PostalAddress | None = None  # None once the buyer erased their data
    checkout_id: str
    # Money the provider captured for this order, and whether the shop holds some it must give back.
    captured_amount: int = 0
    refund_due: bool = False
    payments: list[OrderPayment] = Field(default_factory=list)
    # Money the provider confirmed it paid back, and the refunds asked for (the first MAX_REFUNDS_SHOWN).
    refunded_amount: int = 0
    refunds: list[OrderRefund] = Field(default_factory=list)
    delivered_at: Timestamp | None = None
    status_reason: str | None = None
    payment_due_at: Timestamp | None = None
    version: int = 1
    created_at: Timestamp
    updated_at: Timestamp
    # Stored, never on the wire: whether this order counts against its buyer's unpaid allowance
    # (orders from checkouts accepted before the allowance existed do not).
    _holds_allowance: bool = PrivateAttr(default=False)
    # Stored, never on the wire: counters the refund and return writes condition on (refund_reserved,
    # refund_count, restocked#<product>, returning#<product>), as read.
    _tallies: dict[str, int] = PrivateAttr(default_factory=dict)

    # Stored, never on the wire: the promotion redemption this order holds while PENDING (given back,
    # once, when it leaves PENDING unpaid).
    _redemption: RedemptionHeld | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _total_of_earlier_orders(cls, data: Any) -> Any:
        """Orders from before promotions stored no total: they cost their subtotal."""
        if isinstance(data, dict) and "total" not in data and isinstance(data.get("subtotal"), int):
            return {**data, "total": data["subtotal"] - int(data.get("discount") or 0)}
        return data

    @property
    def redemption(self) -> RedemptionHeld | None:
        return self._redemption

    def holding_redemption(self, redemption: RedemptionHeld | None) -> "Order":
        self._redemption = redemption
        return self

    def with_tallies(self, tallies: dict[str, int]) -> "Order":
        self._tallies = dict(tallies)
        return self

    def tally(self, name: str) -> int:
        return int(self._tallies.get(name, 0))

    def units_beyond_what_is_left(self, asked: dict[str, int], field: str,
                                  counted: Callable[[str], str]) -> list[tuple[str, int, int]]:
        """(productId, asked, left) for each line asking more units than bought less the tally `counted`
        names (units restocked, units being returned); a product the order holds no line of is a 400."""
        from chalicelib.core.errors import ValidationFailed

        bought = {line.product_id: line.quantity for line in self.items}
        unknown = [product_id for product_id in asked if product_id not in bought]
        if unknown:
            raise ValidationFailed("The order holds no such line.", [
                {"field": field, "productId": product_id, "issue": "not_in_order",
                 "message": "the order holds no such product"} for product_id in unknown])
        left = {product_id: bought[product_id] - self.tally(counted(product_id)) for product_id in asked}
        return [(product_id, quantity, left[product_id]) for product_id, quantity in asked.items()
                if quantity > left[product_id]]

    @property
    def holds_allowance(self) -> bool:
        return self._holds_allowance

    def holding_allowance(self, holds: bool) -> "Order":
        self._holds_allowance = holds
        return self

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.items)

    def held(self) -> int:
        """What the shop holds for this order. Staff marking an order PAID asserts its total arrived."""
        return max(self.captured_amount, self.total if self.status in KEEPS_PAYMENT else 0)

    def line_payments(self) -> dict[str, int]:
        """What each line paid: its total less its share of the discount, spread over the lines in proportion
        with remainders, so that the lines together paid exactly the order's total."""
        shares = allocate(self.discount, [line.line_total for line in self.items])
        return {line.product_id: line.line_total - share for line, share in zip(self.items, shares)}

    def value_of(self, units: dict[str, int]) -> int:
        """What the first `units[product]` units of each line paid: a line's payment spread over its units,
        counted from its first unit and rounded down, so all of a line's units together paid exactly the line."""
        paid = self.line_payments()
        bought = {line.product_id: line.quantity for line in self.items}
        return sum(paid[product] * min(count, bought[product]) // bought[product]
                   for product, count in units.items() if bought.get(product))

    def taken_back(self, more: dict[str, int] | None = None) -> dict[str, int]:
        """Units of each line the shop took back (restocked by a refund or a received return), and `more`."""
        units = {line.product_id: self.tally(restocked_attribute(line.product_id)) for line in self.items}
        for product, count in (more or {}).items():
            units[product] = units.get(product, 0) + count
        return units

    def value_back(self, lines: dict[str, int]) -> int:
        """What the units `lines` names paid, counted after those taken back already: returning everything,
        in parcels of any size, gives back exactly what was paid."""
        return self.value_of(self.taken_back(lines)) - self.value_of(self.taken_back())

    def keeps(self, status: str | None = None, taking_back: dict[str, int] | None = None) -> int:
        """What the shop may keep for this order in `status` (its own if None), once `taking_back` is back on
        the shelf too: the value of the goods it did not take back, if the order keeps its payment at all."""
        if (status or self.status) not in KEEPS_PAYMENT:
            return 0
        return max(self.total - self.value_of(self.taken_back(taking_back)), 0)

    def settle(self, status: str, captured: int = 0, refunded: int = 0,
               taking_back: dict[str, int] | None = None) -> tuple[int, bool]:
        """(money held, refund due?) once the order is in `status` with `captured` more money in hand,
        `refunded` more paid back and `taking_back` more units back on the shelf: the shop owes back whatever
        it holds, less what it paid back, beyond what it keeps for the goods it did not take back."""
        held = self.held() + captured
        return held, held - self.refunded_amount - refunded > self.keeps(status, taking_back)


IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{8,128}$"),
                           SchemaHint(minLength=8, maxLength=128)]


class CheckoutRequest(ApiModel):
    """Ship to a saved address (by id) or to one given inline: exactly one of the two."""

    # The validator below, in the schema (which offers no null: the validator takes one as absent).
    model_config = ConfigDict(json_schema_extra=exactly_one_of("address_id", "shipping_address"))

    address_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | SkipJsonSchema[None] = None
    shipping_address: PostalAddress | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _exactly_one_address(self) -> "CheckoutRequest":
        if (self.address_id is None) == (self.shipping_address is None):
            raise ValueError("give exactly one of addressId or shippingAddress")
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
    def _ordered_range(self) -> "OrderListQuery":
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("from must not be after to")
        return self


class AdminOrderQuery(PageQuery):
    status: OrderStatus


class StatusChange(ApiModel):
    status: OrderStatus
    version: Annotated[int, Field(ge=1), SchemaHint(maximum=2**31 - 1)] | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
