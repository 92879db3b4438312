"""The payment ledger's rules: every verified provider event recorded once, the order moved only where it may."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.core import metrics
from chalicelib.core.dynamo import Page, TransactionContended
from chalicelib.core.errors import ServiceUnavailable
from chalicelib.core.events import Envelope, envelope
from chalicelib.core.ids import iso
from chalicelib.core.logs import get_logger
from chalicelib.core.models import PageQuery
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce
from chalicelib.orders import keys
from chalicelib.orders.models import OrderPayment, PaymentState, StoredOrder
from chalicelib.orders.repository import OrderChanged
from chalicelib.orders.service import OrderService
from chalicelib.payments.events import PaymentRecorded
from chalicelib.payments.models import LedgerEntry, PaymentAck, ProviderEvent
from chalicelib.payments.repository import PaymentAlreadyRecorded, PaymentLedger

if TYPE_CHECKING:
    from chalicelib.payments.refunds import RefundService

_ATTEMPTS = 5


@dataclass(frozen=True)
class Verdict:
    """What a verified provider event does to the order as read."""

    outcome: str  # APPLIED | REFUND_DUE | IGNORED | REVIEW
    target: str | None = None  # the status it moves the order to, if any
    reason: str | None = None


def judge(order: StoredOrder | None, event: ProviderEvent) -> Verdict:
    """The payment rules. Money is never refused: whatever cannot move the order is recorded with why."""
    if event.type == "provider.other":
        return Verdict("IGNORED", reason=f"{event.provider_type or 'this event'} is recorded, not acted on")
    if order is None:
        return Verdict("REVIEW", reason="unknown order")
    if event.type == "payment.disputed":  # whatever the order's state: staff answer it at the provider
        return Verdict("IGNORED", reason="disputed already") if order.disputed else Verdict("APPLIED")
    if (event.amount, event.currency) != (order.total, order.currency):  # the total: after any discount
        return Verdict("REVIEW", reason=f"expected {order.total} {order.currency}, "
                                        f"got {event.amount} {event.currency}")
    succeeded = event.type == "payment.succeeded"
    if order.status == "PENDING":
        if event.type == "payment.declined":  # the customer may try another card until the payment window ends
            return Verdict("APPLIED", reason=event.error)
        return Verdict("APPLIED", target="PAID" if succeeded else "PAYMENT_FAILED")
    if succeeded:  # paid late (after a cancel, an expiry or a failure) or twice
        return Verdict("REFUND_DUE", reason=f"order was {order.status} when the payment arrived")
    return Verdict("IGNORED", reason=f"order was {order.status} when the failure arrived")


def state_after(order: StoredOrder, event: ProviderEvent, verdict: Verdict) -> PaymentState | None:
    """Where the order's payment stands at its provider once `event` is applied (None: as it was)."""
    if event.type == "payment.succeeded":
        return PaymentState(provider=event.provider, status="SUCCEEDED")
    if verdict.outcome != "APPLIED":
        return None
    if event.type == "payment.declined":
        return PaymentState(provider=event.provider, status="DECLINED", last_error=event.error)
    if event.type == "payment.failed":
        return PaymentState(provider=event.provider, status="FAILED", last_error=event.error)
    return None


class PaymentService:
    def __init__(self, orders: OrderService, ledger: PaymentLedger, refunds: RefundService):
        self.orders = orders
        self.ledger = ledger
        self.refunds = refunds  # a refund's outcome is settled there

    def record(self, event: ProviderEvent) -> PaymentAck:
        """Record a verified event once, whatever the order's state; move the order only where the
        state machine allows. A race with another writer is judged again from the order as it is then.

        The ledger is read only when its record's condition (`attribute_not_exists`, in the same
        write) refuses a repeat: a first delivery, by far the common one, costs no ledger read."""
        if event.refund_id is not None:  # a refund's outcome: settled against the refund it names
            return self.refunds.record(event)

        def write(order: StoredOrder | None) -> PaymentAck:
            try:
                entry = self._write(order, event, judge(order, event))
            except PaymentAlreadyRecorded:
                repeat = answer_repeat(self.ledger, event.id)
                if repeat is None:
                    raise  # recorded, not yet readable: look again
                return repeat
            self._count(entry)
            return acknowledgement(entry, duplicate=False)

        # A lost race (the order changed, the ledger record is not readable yet) is judged again from a new read. An
        # event naming nothing of the shop's is judged with no order (recorded; for review where it moved money).
        return read_then_write(lambda: self._order_of(event.order_id) if event.known_order else None, write,
                               lost=(OrderChanged, TransactionContended, PaymentAlreadyRecorded),
                               attempts=_ATTEMPTS, gave_up=lambda: ServiceUnavailable(
                                   "The payment could not be recorded yet; please retry.", code="PAYMENT_CONTENDED"))

    def _order_of(self, order_id: str) -> StoredOrder | None:
        """The order as it is now. Missing, it may be on its way: a checkout accepted it and the queue has
        not made it yet; then it is made here, so the payment is applied, not left for review."""
        order = self.orders.find(order_id)
        if order is None:
            from chalicelib.orders.pipeline import create_ahead_of_the_queue

            order = create_ahead_of_the_queue(order_id, self.orders)
        return order

    def _write(self, order: StoredOrder | None, event: ProviderEvent, verdict: Verdict) -> LedgerEntry:
        received = iso()
        outcome_of = {"order_status": verdict.target or (order.status if order else None)}
        if order is None or verdict.outcome == "REVIEW" or event.type == "provider.other":
            entry = LedgerEntry(id=event.id, type=event.type, order_id=event.order_id, amount=event.amount,
                                currency=event.currency, outcome=verdict.outcome, reason=verdict.reason,
                                received_at=received, **outcome_of)
            events = [recorded(entry, order)]
            self.ledger.record(entry, events)
            announce(events)  # kept in the outbox by the same write; published now, like every writer's
            return entry
        payment = OrderPayment(id=event.id, type=event.type, amount=event.amount, currency=event.currency,
                               outcome=verdict.outcome, received_at=received)
        captured = event.amount if event.type == "payment.succeeded" else 0
        _held, refund_due = order.settle(verdict.target or order.status, captured)
        entry = LedgerEntry(id=event.id, type=event.type, order_id=order.id, amount=event.amount,
                            currency=event.currency, outcome=verdict.outcome, reason=verdict.reason,
                            refund_due=refund_due, received_at=received, **outcome_of)
        self.orders.record_payment(order, payment, verdict.target, self.ledger.put_item(entry),
                                   [recorded(entry, order)], state=state_after(order, event, verdict),
                                   disputed=event.type == "payment.disputed" and verdict.outcome == "APPLIED")
        return entry

    @staticmethod
    def _count(entry: LedgerEntry) -> None:
        if entry.outcome == "REVIEW":
            metrics.count("PaymentsForReview")
        elif entry.outcome == "APPLIED":
            metrics.count({"payment.succeeded": "PaymentsSucceeded", "payment.declined": "PaymentsDeclined",
                           "payment.disputed": "PaymentsDisputed"}.get(entry.type, "PaymentsFailed"))
            if entry.type == "payment.disputed":
                get_logger("payments").error("a charge was disputed: answer it at the provider",
                                             extra={"orderId": entry.order_id})
        else:
            metrics.count("PaymentsNotApplied")

    def for_review(self, query: PageQuery) -> Page:
        return self.ledger.for_review(query.limit, query.cursor)


def answer_repeat(ledger: PaymentLedger, event_id: str) -> PaymentAck | None:
    """A repeat of a recorded provider event, answered as its first delivery was recorded; None while
    the record is not readable yet."""
    known = ledger.get(event_id)
    if known is None:
        return None
    metrics.count("DuplicatesSuppressed")
    return acknowledgement(known, duplicate=True)


def recorded(entry: LedgerEntry, order: StoredOrder | None) -> Envelope:
    """The ledger's PaymentRecorded event for an entry (a payment's or a refund's), filed under its order."""
    data = PaymentRecorded(order_id=entry.order_id, user_id=order.user_id if order else None,
                           provider_event_id=entry.id, payment_type=entry.type, amount=entry.amount,
                           currency=entry.currency, outcome=entry.outcome, reason=entry.reason,
                           order_status=entry.order_status, refund_due=entry.refund_due)
    return envelope(data, actor="payment-provider", event_id=keys.event_id_for("PaymentRecorded", entry.id))


def acknowledgement(entry: LedgerEntry, *, duplicate: bool) -> PaymentAck:
    """What the provider is answered for a recorded event (a payment's or a refund's)."""
    return PaymentAck(duplicate=duplicate, outcome=entry.outcome, order_id=entry.order_id,
                      order_status=entry.order_status, refund_due=entry.refund_due)
