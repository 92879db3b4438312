"""Return wire models and the return's one-way states."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from chalicelib.core.lines import Lines
from chalicelib.core.models import ApiModel, PageQuery, Text, Timestamp
from chalicelib.orders.lines import MAX_ORDER_LINES, LineUnits

ReturnStatus = Literal["REQUESTED", "RECEIVED", "REJECTED"]


class ReturnRequest(ApiModel):
    lines: Annotated[list[LineUnits], Field(min_length=1, max_length=MAX_ORDER_LINES)]
    reason: Text(500)

    @model_validator(mode="after")
    def _each_product_once(self) -> "ReturnRequest":
        if len(self.units) != len(self.lines):
            raise ValueError("lines name each product once")
        return self

    @property
    def units(self) -> Lines:
        """The units asked back, as every domain passes them."""
        return Lines.of(self.lines)


class Rejection(ApiModel):
    reason: Text(500)


class Return(ApiModel):
    id: str
    order_id: str
    lines: list[LineUnits]
    reason: str | None = None  # the customer's words; none once the customer's data was erased
    status: ReturnStatus
    created_at: Timestamp
    decided_at: Timestamp | None = None
    rejection_reason: str | None = None
    refund_id: str | None = None  # the refund a received return asked for (none when nothing was left to pay back)

    @property
    def units(self) -> Lines:
        """The units of this return, as every domain passes them."""
        return Lines.of(self.lines)


class ReturnQuery(PageQuery):
    status: ReturnStatus = "REQUESTED"
