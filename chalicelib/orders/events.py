"""Events of the checkout and order pipeline."""
from __future__ import annotations

from pydantic import Field

from chalicelib.core.events import EventData
from chalicelib.core.models import PostalAddress
from chalicelib.orders.models import OrderLine, OrderStatus


class CheckoutRequested(EventData):
    event_type = "CheckoutRequested"
    entity_type = "CHECKOUT"
    entity_id_field = "checkout_id"
    checkout_id: str
    order_id: str
    user_id: str
    items: list[OrderLine] = Field(min_length=1)
    subtotal: int = Field(ge=0)
    currency: str
    shipping_address: PostalAddress
    created_at: str
    # The checkout counted against its buyer's unpaid allowance; the order gives it back when it
    # leaves PENDING. False on checkouts accepted before the allowance existed: nothing to give back.
    holds_allowance: bool = False


class _OrderEvent(EventData):
    entity_type = "ORDER"
    entity_id_field = "order_id"
    order_id: str
    user_id: str


class OrderCreated(_OrderEvent):
    event_type = "OrderCreated"
    checkout_id: str
    status: OrderStatus
    subtotal: int
    currency: str
    items: list[OrderLine]


class OrderStatusChanged(_OrderEvent):
    event_type = "OrderStatusChanged"
    from_status: OrderStatus = Field(alias="from")
    to_status: OrderStatus = Field(alias="to")
    refund_due: bool = False
    reason: str | None = None


class OrderCancelled(_OrderEvent):
    event_type = "OrderCancelled"
    checkout_id: str
    subtotal: int
    currency: str
    items: list[OrderLine]
    refund_due: bool = False
    reason: str | None = None
