"""The payment ledger in DynamoDB: one record per verified provider event, written once, never changed.

Records needing a person (an unknown order, an amount or currency that is not the order's)
also sit in a review listing (GSI2, newest first).
"""
from __future__ import annotations

from typing import Any

from chalicelib.core.dynamo import (
    Page,
    TransactionRejected,
    ddb,
    from_item,
    key,
    query_page,
    table_name,
    to_item,
    transact_write,
)
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_puts
from chalicelib.orders.keys import payment_event_pk
from chalicelib.payments.models import LedgerEntry

SK = "PAYMENTEVENT"
REVIEW_PARTITION = "PAYMENTREVIEW"


class PaymentAlreadyRecorded(Exception):
    """The provider's event id is in the ledger already (a repeat, or a concurrent delivery)."""


def _entry(item: dict[str, Any]) -> LedgerEntry:
    if "payment_type" not in item:  # recorded before the ledger kept outcomes: it moved its order
        item = {**item, "payment_type": "payment.succeeded" if item.get("status") == "PAID" else "payment.failed",
                "outcome": "APPLIED", "order_status": item.get("status"), "amount": 0, "currency": ""}
    return LedgerEntry(id=item["PK"].split("#", 1)[1], type=item["payment_type"], order_id=item["order_id"],
                       amount=item["amount"], currency=item["currency"], outcome=item["outcome"],
                       reason=item.get("reason"), order_status=item.get("order_status"),
                       refund_due=item.get("refund_due", False), received_at=item["received_at"])


class PaymentLedger:
    def get(self, provider_event_id: str) -> LedgerEntry | None:
        item = ddb().get_item(TableName=table_name(), Key=key(payment_event_pk(provider_event_id), SK),
                              ConsistentRead=True).get("Item")
        return _entry(from_item(item)) if item else None

    def put_item(self, entry: LedgerEntry) -> dict[str, Any]:
        """The transaction item recording `entry`, refused if its event id is recorded already."""
        item = {"PK": payment_event_pk(entry.id), "SK": SK, "type": "PAYMENTEVENT", "payment_type": entry.type,
                **entry.model_dump(exclude={"id", "type"})}
        if entry.outcome == "REVIEW":
            item.update(GSI2PK=REVIEW_PARTITION, GSI2SK=f"{entry.received_at}#{entry.id}")
        return {"Put": {"TableName": table_name(), "Item": to_item(item),
                        "ConditionExpression": "attribute_not_exists(PK)"}}

    def record(self, entry: LedgerEntry, events: list[Envelope]) -> None:
        """Record an entry that changes no order, with its events. Raises PaymentAlreadyRecorded."""
        try:
            transact_write([self.put_item(entry), *outbox_puts(events)])
        except TransactionRejected as rejected:
            if rejected.failed(0):
                raise PaymentAlreadyRecorded(entry.id) from None
            raise

    def for_review(self, limit: int, cursor: str | None) -> Page:
        page = query_page(REVIEW_PARTITION, index="GSI2", limit=limit, cursor=cursor, forward=False)
        page.items = [_entry(item) for item in page.items]
        return page
