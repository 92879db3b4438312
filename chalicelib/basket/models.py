"""Basket wire models."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chalicelib.core.lines import Line
from chalicelib.core.models import ApiModel, Timestamp
from chalicelib.promotions.models import AppliedPromotion

MAX_LINES = 50
MAX_QUANTITY = 99

Quantity = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]


class QuantityChange(ApiModel):
    """Set a line's quantity; 0 removes it. Prices are never accepted from clients."""

    quantity: Quantity


class BasketLine(ApiModel):
    product_id: str
    name: str
    unit_price: int
    quantity: int
    line_total: int
    available: bool = True

    @classmethod
    def priced(cls, line: Line, name: str, unit_price: int, available: bool) -> BasketLine:
        """The basket's line for `line`, at `unit_price`."""
        return cls(product_id=line.product_id, name=name, unit_price=unit_price, quantity=line.quantity,
                   line_total=unit_price * line.quantity, available=available)


class BasketOut(ApiModel):
    items: list[BasketLine]
    subtotal: int
    currency: str | None
    updated_at: Timestamp | None = None
    # The applied code, re-priced on every read (discount 0 and an `issue` once it no longer applies).
    promotion: AppliedPromotion | None = None
    discount: int = 0
    total: int  # subtotal - discount
