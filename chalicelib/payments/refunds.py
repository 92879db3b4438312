"""Refunds: staff ask for money back, once per request key, never beyond what was captured; the
provider confirms or refuses each one through the payment webhook."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.core import metrics
from chalicelib.core.auth import Caller
from chalicelib.core.dynamo import Page, TransactionContended, Write, model_from_item
from chalicelib.core.errors import Conflict, ServiceUnavailable, still_changing
from chalicelib.core.events import Envelope, envelope
from chalicelib.core.idempotency import answered_before, request_hash
from chalicelib.core.ids import iso
from chalicelib.core.lines import Lines
from chalicelib.core.models import PageQuery
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce
from chalicelib.orders import keys
from chalicelib.orders.models import RESTOCKABLE, OrderRefund, StoredOrder, order_not_found
from chalicelib.orders.repository import OrderChanged, OrderNotAsRead, OrderRepository
from chalicelib.payments import keys as payment_keys
from chalicelib.payments.events import RefundRequested
from chalicelib.payments.models import LedgerEntry, PaymentAck, ProviderEvent, Refund, RefundRequest
from chalicelib.payments.repository import (
    PaymentAlreadyRecorded,
    PaymentLedger,
    RefundChanged,
    RefundExists,
    RefundRepository,
)
from chalicelib.payments.service import acknowledgement, answer_repeat, recorded

_ATTEMPTS = 5


@dataclass(frozen=True)
class Planned:
    """A refund judged against its order as read, ready to be written."""

    refund: Refund
    restock: Lines
    event: Envelope
    writes: list[Write]


def refundable(order: StoredOrder) -> int:
    """Captured, less refunds requested or confirmed (a failed one gives its amount back)."""
    return order.captured_amount - order.tally("refund_reserved")


class RefundService:
    def __init__(self, orders: OrderRepository, refunds: RefundRepository, ledger: PaymentLedger):
        self.orders = orders
        self.refunds = refunds
        self.ledger = ledger

    # --- staff asking for money back ----------------------------------------------------

    def request(self, staff: Caller, order_id: str, idempotency_key: str, request: RefundRequest) -> Refund:
        """Reserve and record a refund in one conditional write; the same key and body answer the same refund."""
        refund_id = payment_keys.refund_id_for(order_id, idempotency_key)
        this_hash = request_hash(request)
        restock = request.restock_lines

        def write(order: StoredOrder | None) -> Refund:
            if order is None:
                raise order_not_found(order_id)
            try:
                planned = self.plan(order, refund_id, request.amount, request.reason, restock, actor=staff.user_id,
                                    request_hash=this_hash)
            except Conflict:
                # A retry of a request that was written finds nothing left to refund: answer it as written.
                replay = self._replay(order_id, refund_id, this_hash)
                if replay:
                    return replay
                raise
            try:
                self.write(planned)
            except RefundExists:
                replay = self._replay(order_id, refund_id, this_hash)
                if replay:
                    return replay
                raise Conflict("The refund could not be recorded; try again.", code="CONCURRENT_CHANGE") from None
            except TransactionContended:
                raise still_changing("The order") from None
            return planned.refund

        # Another refund or a transition got in first: judged again from the order as the refused write found it.
        return read_then_write(lambda: self.orders.get(order_id), write, lost=OrderNotAsRead,
                               seen_in=lambda changed: changed.current, attempts=_ATTEMPTS,
                               gave_up=still_changing("The order"))

    def plan(self, order: StoredOrder, refund_id: str, amount: int | None, reason: str, restock: Lines, *,
             actor: str, request_hash: str, return_id: str | None = None,
             companions: list[Write] | None = None) -> Planned:
        """Judge a refund of `amount` (all still refundable if None) against `order` as read: 409 beyond it."""
        left = refundable(order)
        if order.captured_amount <= 0 or (amount is None and left <= 0):
            raise Conflict("Nothing was captured for this order that is not refunded or being refunded already.",
                           code="NOTHING_TO_REFUND")
        amount = left if amount is None else amount
        if amount > left:
            raise Conflict(f"At most {left} {order.currency} of this order can still be refunded.",
                           [{"field": "amount", "issue": "exceeds_payment", "refundable": left,
                             "message": f"at most {left}"}], code="REFUND_EXCEEDS_PAYMENT")
        self.check_restock(order, restock)
        now = iso()
        refund = Refund(id=refund_id, order_id=order.id, amount=amount, currency=order.currency,
                        status="REQUESTED", reason=reason, created_at=now)
        requested = RefundRequested(order_id=order.id, user_id=order.user_id, refund_id=refund_id, amount=amount,
                                    currency=order.currency, reason=reason, return_id=return_id)
        event = envelope(requested, actor=actor, event_id=keys.event_id_for("RefundRequested", refund_id))
        reservation = order.reserve_refund(OrderRefund(id=refund_id, amount=amount, currency=order.currency,
                                                       status="REQUESTED", created_at=now), restock, now)
        writes = [self.refunds.put_item(refund, request_hash=request_hash, restock=restock,
                                        position=reservation.refunds_seen if reservation.listed else None,
                                        user_id=order.user_id, event=event, return_id=return_id),
                  self.orders.refund_reservation(reservation),
                  *(companions or []), *self.orders.restock_items(restock)]
        return Planned(refund, restock, event, writes)

    def write(self, planned: Planned) -> None:
        """Commit a planned refund, then publish its event. Raises RefundExists, OrderNotAsRead, or what a
        companion's refusal names."""
        self.refunds.commit(planned.writes)
        metrics.count("RefundsRequested")
        metrics.count("RefundRequestedAmount", planned.refund.amount)
        announce([(*keys_of(planned.refund), planned.event)])

    @staticmethod
    def check_restock(order: StoredOrder, restock: Lines) -> None:
        if not restock:
            return
        over = order.units_beyond_what_is_left(restock, "restock", keys.restocked_attribute)
        if order.status not in RESTOCKABLE:
            raise Conflict(f"Units of an order that is {order.status} are not out of the warehouse: nothing to restock.",
                           code="RESTOCK_NOT_ALLOWED")
        if over:
            raise Conflict("More units than the order holds would go back on the shelf.", [
                {"field": "restock", **line.named(), "issue": "exceeds_order", "requested": line.quantity,
                 "available": room, "message": f"at most {room} more"} for line, room in over],
                code="RESTOCK_EXCEEDS_ORDER")

    def _replay(self, order_id: str, refund_id: str, this_hash: str) -> Refund | None:
        found = self.refunds.get(order_id, refund_id)
        return answered_before(found[0] if found else None, found[1].get("request_hash") if found else None, this_hash)

    def list_for_order(self, order_id: str, query: PageQuery) -> Page:
        if self.orders.get(order_id) is None:
            raise order_not_found(order_id)
        return self.refunds.of_order(order_id, query.limit, query.cursor)

    # --- the provider's answer (through the payment webhook) -------------------------------

    def record(self, event: ProviderEvent,
               seen: tuple[StoredOrder | None, dict[str, Any] | None] | None = None) -> PaymentAck:
        """Record a refund's confirmation or refusal once; settle the refund and its order in the same write.
        An unknown refund, or an amount or currency not the refund's, is recorded for review. `seen`: the order
        and the refund's item as the caller just read them (the first attempt writes from them)."""
        def write(read: tuple[StoredOrder | None, dict[str, Any] | None]) -> PaymentAck:
            order, item = read
            refund = model_from_item(Refund, item) if item and order else None
            received = iso()
            succeeded = event.type == "refund.succeeded"
            verdict = "SUCCEEDED" if succeeded else "FAILED"
            outcome, reason = "APPLIED", None
            if refund is None:
                outcome, reason = "REVIEW", "unknown refund"
            elif (event.amount, event.currency) != (refund.amount, refund.currency):
                outcome, reason = "REVIEW", (f"expected {refund.amount} {refund.currency}, "
                                             f"got {event.amount} {event.currency}")
            elif refund.status == verdict:  # the same verdict again, under another event id
                outcome, reason = "IGNORED", f"refund was {refund.status} already"
            elif refund.status != "REQUESTED":  # the provider contradicts itself: money may have moved twice
                outcome, reason = "REVIEW", f"refund was {refund.status} already; this verdict says {verdict}"
            try:
                if outcome != "APPLIED":
                    entry = LedgerEntry(id=event.id, type=event.type, order_id=event.order_id, amount=event.amount,
                                        currency=event.currency, outcome=outcome, reason=reason,
                                        order_status=order.status if order else None,
                                        refund_due=order.refund_due if order else False, received_at=received)
                    events = [recorded(entry, order)]
                    self.ledger.record(entry, events)
                    announce(events)
                else:
                    entry = self._settle(order, refund, item, event, succeeded, received)
            except PaymentAlreadyRecorded:
                repeat = answer_repeat(self.ledger, event.id)
                if repeat is None:
                    raise  # recorded, not yet readable: look again
                return repeat
            if outcome == "REVIEW":
                metrics.count("PaymentsForReview")
            elif outcome == "APPLIED":
                metrics.count("RefundsSucceeded" if succeeded else "RefundsFailed")
            else:
                metrics.count("PaymentsNotApplied")
            return acknowledgement(entry, duplicate=False)

        # A lost race (the order or the refund changed, the ledger record is not readable yet) is judged again
        # from a new read.
        return read_then_write(lambda: self.orders.get_many(event.order_id, payment_keys.refund_sk(event.refund_id)),
                               write, **({"seen": seen} if seen is not None else {}),
                               lost=(OrderChanged, TransactionContended, RefundChanged, PaymentAlreadyRecorded),
                               attempts=_ATTEMPTS, gave_up=lambda: ServiceUnavailable(
                                   "The refund could not be recorded yet; please retry.", code="PAYMENT_CONTENDED"))

    def _settle(self, order: StoredOrder, refund: Refund, item: dict[str, Any], event: ProviderEvent, succeeded: bool,
                received: str) -> LedgerEntry:
        change = order.settle_refund(refund.id, refund.amount, succeeded, received)
        entry = LedgerEntry(id=event.id, type=event.type, order_id=order.id, amount=event.amount,
                            currency=event.currency, outcome="APPLIED", order_status=order.status,
                            refund_due=change.after.refund_due, received_at=received)
        status = "SUCCEEDED" if succeeded else "FAILED"
        events = [recorded(entry, order)]
        self.orders.save(change.announcing(events),
                         [self.ledger.put_item(entry),
                          self.refunds.settle_item(order.id, refund.id, status, received, event.id)])
        announce(events)
        return entry


def keys_of(refund: Refund) -> tuple[str, str]:
    return payment_keys.refund_key(refund.order_id, refund.id)
