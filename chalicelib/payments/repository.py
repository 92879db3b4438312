"""The payment ledger in DynamoDB: one record per verified provider event, written once, never changed;
and refunds, each in its order's partition.

Records needing a person (an unknown order, an amount or currency that is not the order's)
also sit in a review listing (GSI2, newest first).
"""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import dynamo
from chalicelib.core.dynamo import Page, TransactionContended, Update, Write
from chalicelib.core.events import Envelope
from chalicelib.core.lines import Lines
from chalicelib.core.outbox import outbox_fields, outbox_puts, rewrite_kept_event
from chalicelib.orders.keys import order_pk
from chalicelib.payments.keys import REFUND_SK_PREFIX, payment_event_pk, refund_sk
from chalicelib.payments.models import LedgerEntry, Refund
from chalicelib.users.personal_data import ERASED, without

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
        item = dynamo.get(payment_event_pk(provider_event_id), SK, consistent=True)
        return _entry(dynamo.from_item(item)) if item else None

    def put_item(self, entry: LedgerEntry) -> Write:
        """The transaction item recording `entry`, refused (PaymentAlreadyRecorded) if its event id is recorded
        already."""
        item = {"PK": payment_event_pk(entry.id), "SK": SK, "type": "PAYMENTEVENT", "payment_type": entry.type,
                **entry.model_dump(exclude={"id", "type"})}
        if entry.outcome == "REVIEW":
            item.update(GSI2PK=REVIEW_PARTITION, GSI2SK=f"{entry.received_at}#{entry.id}")
        return dynamo.put(item, refused=PaymentAlreadyRecorded(entry.id))

    def record(self, entry: LedgerEntry, events: list[Envelope]) -> None:
        """Record an entry that changes no order, with its events. Raises PaymentAlreadyRecorded."""
        dynamo.transact([self.put_item(entry), *outbox_puts(events)])

    def for_review(self, limit: int, cursor: str | None) -> Page:
        page = dynamo.query_page(REVIEW_PARTITION, index="GSI2", limit=limit, cursor=cursor, forward=False)
        page.items = [_entry(item) for item in page.items]
        return page


class RefundExists(Exception):
    """A refund with this id is recorded already (the same request key, sent again or concurrently)."""


class RefundChanged(Exception):
    """The refund is no longer REQUESTED: settled meanwhile."""


def _refund(item: dict[str, Any]) -> Refund:
    return dynamo.model_from_item(Refund, item)


class RefundRepository:
    """Refunds, in their order's partition (`ORDER#<id>` / `REFUND#<id>`), listed by a Query of it."""

    def get(self, order_id: str, refund_id: str) -> tuple[Refund, dict[str, Any]] | None:
        """The refund and what it stored beside the wire fields (request hash, restock, list position)."""
        item = dynamo.get(order_pk(order_id), refund_sk(refund_id), consistent=True)
        if not item:
            return None
        plain = dynamo.from_item(item)
        return _refund(plain), plain

    def of_order(self, order_id: str, limit: int, cursor: str | None) -> Page:
        page = dynamo.query_page(order_pk(order_id), limit=limit, cursor=cursor, sort_prefix=REFUND_SK_PREFIX)
        page.items = [_refund(item) for item in page.items]
        return page

    def put_item(self, refund: Refund, *, request_hash: str, restock: Lines, position: int | None,
                 user_id: str, event: Envelope, return_id: str | None = None) -> Write:
        """The transaction item recording a new refund (RefundExists if its id is taken), carrying its
        RefundRequested event (outbox)."""
        return dynamo.put({"PK": order_pk(refund.order_id), "SK": refund_sk(refund.id), "type": "REFUND",
                    **refund.model_dump(mode="json"), "request_hash": request_hash, "user_id": user_id,
                    "restock": restock.stored() or None, "position": position, "return_id": return_id,
                    **outbox_fields(event)}, refused=RefundExists)

    def settle_item(self, order_id: str, refund_id: str, status: str, settled_at: str,
                    provider_event_id: str) -> Write:
        """The transaction item settling a refund the provider confirmed or refused, once (RefundChanged)."""
        return dynamo.update(order_pk(order_id), refund_sk(refund_id),
                             Update().set_all({"status": status, "settled_at": settled_at,
                                        "provider_event_id": provider_event_id}),
                             "#status = :requested", values={":requested": "REQUESTED"}, refused=RefundChanged)

    def forget_customer(self, order_id: str, user_id: str) -> None:
        """Erasure: the order's refunds keep the money and staff's reason, not the link to the customer (nor
        their id in a RefundRequested still waiting in the outbox). Conditioned on what was read: a refund whose
        event was published meanwhile is read again."""
        for _attempt in range(3):
            left = [item for item in dynamo.every_item(order_pk(order_id))
                    if item["SK"].startswith(REFUND_SK_PREFIX) and item.get("user_id") == user_id]
            if not left:
                return
            for item in left:
                change, conditions = Update().set("user_id", ERASED), ["user_id = :customer"]
                values: dict[str, Any] = {":customer": user_id}
                rewrite_kept_event(item, lambda text: without(text, user_id), change, conditions, values)
                try:
                    dynamo.ddb().update_item(TableName=dynamo.table_name(), Key=dynamo.key(item["PK"], item["SK"]),
                                             **change.request(" AND ".join(conditions), values=values))
                except ClientError as exc:
                    if not dynamo.condition_failed(exc):
                        raise
        raise TransactionContended(f"the refunds of order {order_id} kept changing")

    def commit(self, writes: list[Write]) -> None:
        """Write a refund's transaction: the refund, its order's reservation, what is written alongside, any
        restock. Raises what a refused write names (RefundExists, OrderNotAsRead, ...)."""
        dynamo.transact(writes)
