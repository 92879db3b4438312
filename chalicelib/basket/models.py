"""Basket wire models."""
from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.models import ApiModel, Currency, PostalAddress, PricedLine, Timestamp
from chalicelib.promotions.models import AppliedPromotion
from chalicelib.shipping.models import ChosenShipping
from chalicelib.tax.models import TaxLine

MAX_LINES = 50
MAX_QUANTITY = 99

Quantity = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]


class QuantityChange(ApiModel):
    """Set a line's quantity; 0 removes it. Prices are never accepted from clients."""

    quantity: Quantity


class BasketCurrency(ApiModel):
    """The currency the basket is priced in: every line is re-priced in it."""

    currency: Currency


class BasketLine(PricedLine):
    variant_id: str
    # False when the variant or its product is no longer sold, or has no price in the basket's currency: left
    # out of the subtotal, and refused by the checkout.
    available: bool = True


class AddressRef(ApiModel):
    """A saved address, by its id in the shopper's address book."""

    address_id: Annotated[str, Field(min_length=1, max_length=64)]


def _either_address(schema: dict, model: type) -> None:
    """The schema: one of the two shapes (each by reference, as the fields below put them in the document)."""
    properties = schema.pop("properties")
    schema.pop("additionalProperties", None)
    schema["oneOf"] = [properties["given"], properties["saved"]]


class BasketAddress(ApiModel):
    """Where the basket ships to: an address, or `{"addressId"}` of a saved one. The body is validated as the one
    its keys name (`shape_of`); this model only describes it (its fields bring both shapes into the document)."""

    model_config = ConfigDict(json_schema_extra=_either_address)
    given: PostalAddress | SkipJsonSchema[None] = None
    saved: AddressRef | SkipJsonSchema[None] = None

    @staticmethod
    def shape_of(data: dict) -> type[ApiModel]:
        return AddressRef if "addressId" in data else PostalAddress


class BasketOut(ApiModel):
    """A basket priced as it would be bought now. Without a shipping address, no tax is reckoned and nothing is
    charged for shipping; `shippingMethod` is the one chosen while it still serves the address in the basket's
    currency (else null, and the shopper chooses again)."""

    items: list[BasketLine]
    subtotal: int
    currency: str
    updated_at: Timestamp | None = None
    # The applied code, re-priced on every read (discount 0 and an `issue` once it no longer applies).
    promotion: AppliedPromotion | None = None
    discount: int = 0
    shipping_address: PostalAddress | None = None
    shipping_method: ChosenShipping | None = None
    shipping: int = 0
    tax: int = 0
    prices_include_tax: bool = False
    tax_lines: list[TaxLine] = []
    total: int  # subtotal - discount + shipping (+ tax when prices exclude it)
