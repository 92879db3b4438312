"""Return rules: only what was delivered, within the window, never more than was bought; received (restocked
and refunded) or rejected once."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.core import metrics
from chalicelib.core.auth import Caller
from chalicelib.core.dynamo import Page, TransactionContended
from chalicelib.core.errors import Conflict, NotFound, still_changing
from chalicelib.core.events import Envelope, EventData, envelope
from chalicelib.core.idempotency import answered_before, request_hash
from chalicelib.core.ids import iso, now
from chalicelib.core.lines import Lines
from chalicelib.core.models import PageQuery
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce, outbox_puts
from chalicelib.core.settings import settings
from chalicelib.orders import keys
from chalicelib.orders.models import StoredOrder, order_not_found
from chalicelib.orders.repository import OrderNotAsRead, OrderRepository
from chalicelib.payments.keys import return_refund_id_for
from chalicelib.payments.refunds import RefundService, refundable
from chalicelib.payments.repository import RefundExists
from chalicelib.returns import keys as return_keys
from chalicelib.returns.events import ReturnReceived, ReturnRejected, ReturnRequested
from chalicelib.returns.models import Rejection, Return, ReturnQuery, ReturnRequest
from chalicelib.returns.repository import ReturnDecided, ReturnExists, ReturnRepository
from chalicelib.users import account_status
from chalicelib.users.repository import AccountInactive

_ATTEMPTS = 5


def _already_decided(ret: Return) -> Conflict:
    return Conflict(f"The return is {ret.status} already.", code="RETURN_ALREADY_DECIDED")


class ReturnService:
    def __init__(self, orders: OrderRepository, returns: ReturnRepository, refunds: RefundService):
        self.orders = orders
        self.returns = returns
        self.refunds = refunds

    # --- customers ----------------------------------------------------------------------

    def request(self, who: Caller, order_id: str, idempotency_key: str, request: ReturnRequest) -> Return:
        """Record a return of delivered units, once per request key: the same key and body answer the same return."""
        lines = request.units
        return_id = return_keys.return_id_for(order_id, idempotency_key)
        this_hash = request_hash(request)

        def write(order: StoredOrder | None) -> Return:
            if order is None or order.user_id != who.user_id:
                raise order_not_found(order_id)
            try:
                window_opened = self._check(order, lines)
            except Conflict:
                # A retry of a request that was written finds its units being returned already: answer it.
                replay = self._replay(who, return_id, this_hash)
                if replay:
                    return replay
                raise
            ret = Return(id=return_id, order_id=order.id, lines=request.lines, reason=request.reason,
                         status="REQUESTED", created_at=iso())
            events = [self._event(ReturnRequested, ret, order.user_id, who.user_id)]
            try:
                self.returns.record(ret, who.user_id, this_hash,
                                    self.orders.return_reservation(order.reserve_return(lines, window_opened)), events)
            except ReturnExists:
                replay = self._replay(who, return_id, this_hash)
                if replay:
                    return replay
                raise Conflict("The return could not be recorded; try again.", code="CONCURRENT_CHANGE") from None
            except TransactionContended:
                raise still_changing("The order") from None
            except AccountInactive:
                raise account_status.inactive(who.user_id) from None
            announce(events)
            metrics.count("ReturnsRequested")
            return ret

        # Another return got in first: judged again from the order as the refused write found it.
        return read_then_write(lambda: self.orders.get(order_id), write, lost=OrderNotAsRead,
                               seen_in=lambda changed: changed.current, attempts=_ATTEMPTS,
                               gave_up=still_changing("The order"))

    def _replay(self, who: Caller, return_id: str, this_hash: str) -> Return | None:
        found = self.returns.get_stored(return_id)
        if found is None or found[1].get("user_id") != who.user_id:
            return None
        return answered_before(found[0], found[1].get("request_hash"), this_hash)

    @staticmethod
    def _event(kind: type[EventData], ret: Return, user_id: str, actor: str, **data: Any) -> Envelope:
        """A return's event; its id is fixed per return and kind, so consumers drop a repeat."""
        return envelope(kind(order_id=ret.order_id, user_id=user_id, return_id=ret.id, lines=ret.lines, **data),
                        actor=actor, event_id=keys.event_id_for(kind.event_type, ret.id))

    @staticmethod
    def _check(order: StoredOrder, lines: Lines) -> str:
        """The start of the return window (409s when the order cannot be returned as asked)."""
        if order.status != "DELIVERED":
            raise Conflict(f"Only a delivered order can be returned; this one is {order.status}.",
                           code="ORDER_NOT_DELIVERED")
        window_opened = iso(now() - timedelta(days=settings().return_window_days))
        if (order.delivered_at or order.updated_at) < window_opened:
            raise Conflict(f"Returns close {settings().return_window_days} days after delivery.",
                           code="RETURN_WINDOW_CLOSED")
        over = order.units_beyond_what_is_left(lines, "lines", keys.returning_attribute)
        if over:
            raise Conflict("More units than were bought (less those being returned) would be returned.", [
                {"field": "lines", **line.named(), "issue": "exceeds_order", "requested": line.quantity,
                 "available": room, "message": f"at most {room}"} for line, room in over],
                code="RETURN_EXCEEDS_ORDER")
        return window_opened

    def list_for_order(self, who: Caller, order_id: str, query: PageQuery) -> Page:
        order = self.orders.get(order_id)
        if order is None or (order.user_id != who.user_id and not who.is_admin):
            raise order_not_found(order_id)
        return self.returns.of_order(order_id, query.limit, query.cursor)

    # --- staff --------------------------------------------------------------------------

    def list_by_status(self, query: ReturnQuery) -> Page:
        return self.returns.with_status(query.status, query.limit, query.cursor)

    def _requested(self, return_id: str) -> Return:
        found = self.returns.get(return_id)
        if found is None:
            raise NotFound(f"Return {return_id} was not found.")
        ret = found[0]
        if ret.status != "REQUESTED":
            raise _already_decided(ret)
        return ret

    def receive(self, staff: Caller, return_id: str) -> Return:
        """Restock the lines once and ask for the refund of their value (what is left of it to refund),
        with the return's move to RECEIVED and its event, in one write."""
        ret = self._requested(return_id)
        lines = ret.units

        def write(order: StoredOrder | None) -> Return:
            if order is None:
                raise order_not_found(ret.order_id)
            moment = iso()
            # What the units paid, counted after those back already: parcels refund exactly what was paid.
            amount = min(order.value_back(lines), max(refundable(order), 0))
            refund_id = return_refund_id_for(ret.id) if amount > 0 else None
            decided = self.returns.decide_item(ret, "RECEIVED", moment, refund_id=refund_id)
            events = [self._event(ReturnReceived, ret, order.user_id, staff.user_id, refund_id=refund_id,
                                  amount=amount, currency=order.currency)]
            try:
                if refund_id:
                    planned = self.refunds.plan(order, refund_id, amount, f"return {ret.id}", lines,
                                                actor=staff.user_id, request_hash=f"return:{ret.id}",
                                                return_id=ret.id, companions=[decided, *outbox_puts(events)])
                    self.refunds.write(planned)
                else:
                    RefundService.check_restock(order, lines)
                    self.returns.receive(self.orders.refund_reservation(order.reserve_refund(None, lines, moment)),
                                         decided, self.orders.restock_items(lines), events)
            except (RefundExists, ReturnDecided):
                raise _already_decided(self._requested(return_id)) from None  # received or rejected meanwhile
            except TransactionContended:
                raise still_changing("The order") from None
            announce(events)
            metrics.count("ReturnsReceived")
            return ret.model_copy(update={"status": "RECEIVED", "decided_at": moment, "refund_id": refund_id})

        # Another refund or a transition got in first: judged again from the order as the refused write found it.
        return read_then_write(lambda: self.orders.get(ret.order_id), write, lost=OrderNotAsRead,
                               seen_in=lambda changed: changed.current, attempts=_ATTEMPTS,
                               gave_up=still_changing("The order"))

    def reject(self, staff: Caller, return_id: str, rejection: Rejection) -> Return:
        """Refuse a return: its units are no longer being returned (the customer may ask again)."""
        found = self.returns.get(return_id)
        if found is None:
            raise NotFound(f"Return {return_id} was not found.")
        ret, buyer = found
        if ret.status != "REQUESTED":
            raise _already_decided(ret)
        moment = iso()
        lines = ret.units
        events = [self._event(ReturnRejected, ret, buyer, staff.user_id)]
        try:
            self.returns.reject(self.returns.decide_item(ret, "REJECTED", moment, rejection_reason=rejection.reason),
                                self.orders.return_release(ret.order_id, lines), events)
        except ReturnDecided:
            raise _already_decided(self._requested(return_id)) from None
        announce(events)
        metrics.count("ReturnsRejected")
        return ret.model_copy(update={"status": "REJECTED", "decided_at": moment,
                                      "rejection_reason": rejection.reason})
