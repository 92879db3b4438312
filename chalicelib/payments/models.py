"""The payment provider's webhook body."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from chalicelib.core.models import ApiModel, Currency, Money

ProviderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{1,128}$")]


class PaymentEvent(ApiModel):
    id: ProviderId
    type: Literal["payment.succeeded", "payment.failed"]
    order_id: ProviderId
    amount: Money
    currency: Currency


class PaymentAck(ApiModel):
    received: bool = True
    duplicate: bool = False
    order_id: str
    order_status: str
