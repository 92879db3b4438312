"""Order wire models and the order state machine."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from chalicelib.core.models import ApiModel, DateFrom, DateTo, PageQuery, PostalAddress

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


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


class OrderLine(ApiModel):
    product_id: str
    name: str
    unit_price: int
    quantity: int
    line_total: int


class Order(ApiModel):
    id: str
    user_id: str
    status: OrderStatus
    items: list[OrderLine]
    subtotal: int
    currency: str
    shipping_address: PostalAddress | None = None  # None once the buyer erased their data
    checkout_id: str
    refund_due: bool = False
    status_reason: str | None = None
    payment_due_at: str | None = None
    version: int = 1
    created_at: str
    updated_at: str


IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{8,128}$")]


class CheckoutRequest(ApiModel):
    """Ship to a saved address (by id) or to one given inline: exactly one of the two."""

    address_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    shipping_address: PostalAddress | None = None

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
    version: int | None = Field(default=None, ge=1)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
