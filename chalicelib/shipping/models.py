"""Shipping wire models: methods staff define, the options a basket is offered, the one it chose."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.models import (
    ApiModel,
    Currency,
    Money,
    PostalAddress,
    Price,
    SchemaHint,
    TaxClass,
    Text,
    Timestamp,
    Zone,
    one_of_each,
)

MAX_ZONES, MAX_RATES = 100, 20
Days = Annotated[int, Field(ge=0, le=365)]


class ShippingRate(ApiModel):
    """What the method costs in one currency (minor units); nothing once the goods, after the discount, reach
    `freeOver`."""

    currency: Currency
    amount: Price
    free_over: Money | None = None


class _MethodFields(ApiModel):
    @model_validator(mode="after")
    def _consistent(self) -> Any:
        if getattr(self, "zones", None):
            one_of_each(self.zones, "zones")
        if getattr(self, "rates", None):
            one_of_each([rate.currency for rate in self.rates], "rate currencies")
        low, high = getattr(self, "min_days", None), getattr(self, "max_days", None)
        if low is not None and high is not None and high < low:
            raise ValueError("maxDays must not be below minDays")
        return self


class ShippingMethodCreate(_MethodFields):
    name: Text(100)
    zones: Annotated[list[Zone], Field(min_length=1, max_length=MAX_ZONES)]
    rates: Annotated[list[ShippingRate], Field(min_length=1, max_length=MAX_RATES)]
    min_days: Days | None = None
    max_days: Days | None = None
    tax_class: TaxClass = "standard"


class ShippingMethodPatch(_MethodFields):
    """Any of a method's fields; `active: false` withdraws it (baskets that chose it must choose again)."""

    name: Text(100) | SkipJsonSchema[None] = None
    zones: Annotated[list[Zone], Field(min_length=1, max_length=MAX_ZONES)] | SkipJsonSchema[None] = None
    rates: Annotated[list[ShippingRate], Field(min_length=1, max_length=MAX_RATES)] | SkipJsonSchema[None] = None
    min_days: Days | SkipJsonSchema[None] = None
    max_days: Days | SkipJsonSchema[None] = None
    tax_class: TaxClass | SkipJsonSchema[None] = None
    active: bool | SkipJsonSchema[None] = None
    # The version read: a stale one answers 409 (without it, the change applies to the method as it is).
    version: Annotated[int, Field(ge=1), SchemaHint(maximum=2**31 - 1)] | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _changes_something(self) -> ShippingMethodPatch:
        if not self.changes():
            raise ValueError("give at least one field to change")
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"fields cannot be null: {', '.join(sorted(nulls))}")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set if name != "version"}


class ShippingMethod(ApiModel):
    id: str
    name: str
    zones: list[str]
    rates: list[ShippingRate]
    min_days: int | None = None
    max_days: int | None = None
    tax_class: str = "standard"
    active: bool = True
    version: int = 1
    created_at: Timestamp
    updated_at: Timestamp

    def serves(self, address: PostalAddress) -> bool:
        """Whether it delivers to `address`: a zone names its country (serving each region of it) or its region."""
        return any(zone in self.zones for zone in address.zones())

    def rate_in(self, currency: str) -> ShippingRate | None:
        return next((rate for rate in self.rates if rate.currency == currency), None)

    def offered(self, address: PostalAddress, currency: str) -> bool:
        """Whether a basket in `currency` going to `address` may use it."""
        return self.active and self.serves(address) and self.rate_in(currency) is not None

    def amount(self, currency: str, goods: int) -> int:
        """What it costs in `currency` (it must have a rate in it) for goods worth `goods` after the discount."""
        rate = self.rate_in(currency)
        return 0 if rate.free_over is not None and goods >= rate.free_over else rate.amount


class ShippingOption(ApiModel):
    """A method a basket may use, at what it costs that basket."""

    id: str
    name: str
    amount: int
    currency: str
    min_days: int | None = None
    max_days: int | None = None


class ShippingOptions(ApiModel):
    items: list[ShippingOption]


class ChosenShipping(ApiModel):
    """The method a basket (or an order) ships with, and what it costs it."""

    id: str
    name: str
    amount: int
    tax_class: str = "standard"


class ShippingChoice(ApiModel):
    id: Annotated[str, Field(min_length=1, max_length=64)]
