"""The payment provider's webhook body."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from chalicelib.core.models import ApiModel, Currency, Money, SchemaHint, Timestamp
from chalicelib.orders.models import PaymentOutcome, PaymentType

ProviderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{1,128}$"), SchemaHint(maxLength=128)]


class PaymentEvent(ApiModel):
    id: ProviderId
    type: Literal["payment.succeeded", "payment.failed"]
    order_id: ProviderId
    amount: Money
    currency: Currency


class PaymentAck(ApiModel):
    """Every verified event is acknowledged (2xx), with what it did; a repeat says so."""

    received: bool = True
    duplicate: bool = False
    outcome: PaymentOutcome
    order_id: str
    order_status: str | None = None  # None for an order the shop does not know
    refund_due: bool = False


class LedgerEntry(ApiModel):
    """One verified provider event as the ledger keeps it."""

    id: str
    type: PaymentType
    order_id: str
    amount: int
    currency: str
    outcome: PaymentOutcome
    reason: str | None = None
    order_status: str | None = None
    refund_due: bool = False
    received_at: Timestamp
