"""Events of the payment ledger."""
from __future__ import annotations

from chalicelib.core.events import EventData
from chalicelib.orders.models import LedgerType, PaymentOutcome


class PaymentRecorded(EventData):
    """A verified provider event entered the ledger, with what it did (filed under its order)."""

    entity_type = "ORDER"
    entity_id_field = "order_id"
    order_id: str
    user_id: str | None = None  # None when the order is unknown
    provider_event_id: str
    payment_type: LedgerType
    amount: int
    currency: str
    outcome: PaymentOutcome
    reason: str | None = None
    order_status: str | None = None
    refund_due: bool = False


class RefundRequested(EventData):
    """Staff asked for money back (a refund, or a received return's); the provider confirms it by webhook."""

    entity_type = "ORDER"
    entity_id_field = "order_id"
    order_id: str
    user_id: str
    refund_id: str
    amount: int
    currency: str
    reason: str
    return_id: str | None = None
