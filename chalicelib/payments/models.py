"""The payment provider's webhook body."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.lines import Lines
from chalicelib.core.models import MAX_AMOUNT, ApiModel, Currency, Money, SchemaHint, Text, Timestamp
from chalicelib.orders.lines import MAX_ORDER_LINES, LineUnits
from chalicelib.orders.models import LedgerType, PaymentOutcome, PaymentType, ProviderName, RefundStatus

ProviderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{1,128}$"), SchemaHint(maxLength=128)]


class PaymentEvent(ApiModel):
    """A payment's or a refund's outcome; a refund's names the refund (`refundId`), a payment's does not."""

    id: ProviderId
    type: PaymentType
    order_id: ProviderId
    refund_id: ProviderId | SkipJsonSchema[None] = None
    amount: Money
    currency: Currency

    @model_validator(mode="after")
    def _refund_named_by_refund_events_only(self) -> "PaymentEvent":
        if self.type.startswith("refund.") and self.refund_id is None:
            raise ValueError("refund events name their refund (refundId)")
        if self.type.startswith("payment.") and self.refund_id is not None:
            raise ValueError("payment events name no refund")
        return self


    def received(self) -> "ProviderEvent":
        """The event in the ledger's terms."""
        return ProviderEvent(id=self.id, type=self.type, order_id=self.order_id, refund_id=self.refund_id,
                             amount=self.amount, currency=self.currency)


class ProviderEvent(ApiModel):
    """A verified provider event in the ledger's terms, whichever provider sent it (never read from a body: each
    provider's webhook makes these from what it verified). `id` is the ledger's: unique across providers."""

    id: str
    type: LedgerType
    order_id: str
    known_order: bool = True  # False: the provider named no order of the shop's (`order_id` is its own object's)
    refund_id: str | None = None
    amount: int
    currency: str
    provider: ProviderName = "generic"
    provider_type: str | None = None  # the provider's own name for the event
    intent_id: str | None = None
    error: str | None = None  # why an attempt was declined, a refund failed, a dispute opened


class StartedPayment(ApiModel):
    """What the browser needs to take the card (Stripe.js `confirmPayment` with the client secret): given to
    the order's owner only."""

    provider: ProviderName
    payment_intent_id: str
    client_secret: str
    publishable_key: str
    amount: int  # the order's total, in the minor unit of its currency
    currency: str
    status: str  # the provider's own word: requires_payment_method, processing, succeeded...


class RefundRequest(ApiModel):
    """Refund money captured for an order: all still refundable unless `amount` says less."""

    amount: Annotated[int, Field(ge=1, le=MAX_AMOUNT)] | SkipJsonSchema[None] = None
    reason: Text(200)
    restock: Annotated[list[LineUnits], Field(max_length=MAX_ORDER_LINES)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _each_product_once(self) -> "RefundRequest":
        if len(self.restock_lines) != len(self.restock):
            raise ValueError("restock names each product once")
        return self

    @property
    def restock_lines(self) -> Lines:
        """The units to put back on the shelf, as every domain passes them."""
        return Lines.of(self.restock)


class Refund(ApiModel):
    id: str
    order_id: str
    amount: int
    currency: str
    status: RefundStatus
    reason: str
    created_at: Timestamp


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
    type: LedgerType
    order_id: str
    amount: int
    currency: str
    outcome: PaymentOutcome
    reason: str | None = None
    order_status: str | None = None
    refund_due: bool = False
    received_at: Timestamp
