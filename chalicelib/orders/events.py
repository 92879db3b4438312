"""Events of the checkout and order pipeline."""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from chalicelib.core.events import EventData
from chalicelib.orders.lines import LineUnits
from chalicelib.orders.models import OrderLine, OrderStatus
from chalicelib.shipping.models import ChosenShipping
from chalicelib.tax.models import TaxLine


class CheckoutRequested(EventData):
    """No personal data: the order pipeline reads the shipping address from the checkout record
    (keyed by the checkout), so the bus, its archive and the audit trail never hold it.

    Version 3 adds the promotion: `discount`, `total` (what the order costs: subtotal - discount) and the
    code it redeemed; a version 2 event still queued is read with no discount. Version 4 adds shipping and tax
    (`shipping`, `shippingMethod`, `tax`, `taxLines`, `pricesIncludeTax`, each line's `tax` and `discount`;
    `total = subtotal - discount + shipping (+ tax when prices exclude it)`); an earlier one is read with none."""

    entity_type = "CHECKOUT"
    entity_id_field = "checkout_id"
    schema_version = 4
    checkout_id: str
    order_id: str
    user_id: str
    items: list[OrderLine] = Field(min_length=1)
    subtotal: int = Field(ge=0)
    currency: str
    created_at: str
    # The checkout counted against its buyer's unpaid allowance; the order gives it back when it
    # leaves PENDING. False on checkouts accepted before the allowance existed: nothing to give back.
    holds_allowance: bool = False
    discount: int = Field(default=0, ge=0)
    total: int = Field(ge=0)
    # The code the checkout redeemed (counted on the promotion; with its buyer's marker when once per
    # customer): the order gives both back if it leaves PENDING unpaid.
    promotion_code: str | None = None
    promotion_once_per_customer: bool = False
    shipping_method: ChosenShipping | None = None
    shipping: int = Field(default=0, ge=0)
    tax: int = Field(default=0, ge=0)
    prices_include_tax: bool = False
    tax_lines: list[TaxLine] = []

    def record(self) -> dict[str, Any]:
        """What the checkout record keeps of this event (it is made again from it: `from_record`): its fields
        by name, its lines as on the wire."""
        nested = {"items", "shipping_method", "tax_lines"}
        dumped = self.model_dump(by_alias=True, include=nested)  # rates stay exact (Decimal), as DynamoDB takes them
        return {**self.model_dump(mode="json", exclude=nested),
                **{name: dumped[type(self).model_fields[name].alias or name] for name in nested}}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CheckoutRequested:
        """The event a checkout record was made from (what the record lacks, a record older than a field, takes
        the field's default)."""
        return cls.model_validate({name: record[name] for name in cls.model_fields if record.get(name) is not None})

    @model_validator(mode="before")
    @classmethod
    def _read_without_the_address(cls, data: Any) -> Any:
        """Version 1 carried `shippingAddress`: one still queued when version 2 shipped is read without it.
        Versions 1 and 2 carried no `total`: they cost their subtotal."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in ("shippingAddress", "shipping_address")}
            if "total" not in data and isinstance(data.get("subtotal"), int):
                data["total"] = data["subtotal"] - int(data.get("discount") or 0)
        return data


class _OrderEvent(EventData):
    entity_type = "ORDER"
    entity_id_field = "order_id"
    order_id: str
    user_id: str


class OrderCreated(_OrderEvent):
    checkout_id: str
    status: OrderStatus
    subtotal: int
    currency: str
    items: list[OrderLine]


class OrderStatusChanged(_OrderEvent):
    from_status: OrderStatus = Field(alias="from")
    to_status: OrderStatus = Field(alias="to")
    refund_due: bool = False
    reason: str | None = None


class OrderCancelled(_OrderEvent):
    checkout_id: str
    subtotal: int
    currency: str
    items: list[OrderLine]
    refund_due: bool = False
    reason: str | None = None


class _ShipmentEvent(_OrderEvent):
    shipment_id: str
    lines: list[LineUnits]
    carrier: str | None = None  # none on a shipment the status route made
    tracking_number: str | None = None
    tracking_url: str | None = None
    order_status: OrderStatus  # the order's, after this step


class ShipmentCreated(_ShipmentEvent):
    """A parcel of the order's units was handed to a carrier (the customer is told, with its tracking)."""


class ShipmentDelivered(_ShipmentEvent):
    """The carrier delivered a parcel (the order is DELIVERED once all of it is)."""
