"""Events of returns, filed under their order (as refunds are). No free text a customer wrote travels on them."""
from __future__ import annotations

from chalicelib.core.events import EventData
from chalicelib.orders.lines import LineUnits


class _ReturnEvent(EventData):
    entity_type = "ORDER"
    entity_id_field = "order_id"
    order_id: str
    user_id: str
    return_id: str
    lines: list[LineUnits]


class ReturnRequested(_ReturnEvent):
    """A customer asked to send units back."""


class ReturnReceived(_ReturnEvent):
    """The parcel arrived: its units are back on the shelf, and their value asked back from the provider
    (`refundId`, `amount`; none when nothing was left to pay back)."""

    refund_id: str | None = None
    amount: int = 0
    currency: str


class ReturnRejected(_ReturnEvent):
    """Staff refused the return; its units may be asked for again."""
