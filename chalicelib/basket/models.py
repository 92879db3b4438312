"""Basket wire models."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chalicelib.core.models import ApiModel, Currency, PricedLine, Timestamp
from chalicelib.promotions.models import AppliedPromotion

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


class BasketOut(ApiModel):
    items: list[BasketLine]
    subtotal: int
    currency: str
    updated_at: Timestamp | None = None
    # The applied code, re-priced on every read (discount 0 and an `issue` once it no longer applies).
    promotion: AppliedPromotion | None = None
    discount: int = 0
    total: int  # subtotal - discount
