"""Order rules: creation from checkouts, who may see what, and every status change."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from chalicelib.core import metrics
from chalicelib.core.auth import Caller
from chalicelib.core.dynamo import Page, TransactionContended, Write
from chalicelib.core.errors import Conflict, still_changing
from chalicelib.core.events import Envelope, InvalidEvent, envelope
from chalicelib.core.idempotency import answered_before, request_hash
from chalicelib.core.ids import iso, now
from chalicelib.core.logs import get_logger
from chalicelib.core.models import PostalAddress
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce
from chalicelib.core.settings import settings
from chalicelib.orders import keys
from chalicelib.orders.events import CheckoutRequested, OrderCreated
from chalicelib.orders.models import (
    CUSTOMER_CANCELLABLE,
    ERASED_BUYER,
    AdminOrderQuery,
    OrderChange,
    OrderListQuery,
    OrderPayment,
    PaymentState,
    RedemptionHeld,
    StatusChange,
    StoredOrder,
    can_move,
    order_not_found,
)
from chalicelib.orders.repository import CheckoutRepository, OrderChanged, OrderRepository
from chalicelib.orders.shipments import Shipment, ShipmentRequest
from chalicelib.users import account_status
from chalicelib.users.personal_data import PersonalData
from chalicelib.users.repository import AccountInactive, PeopleErased, UserRepository

_EXPORT_LIMIT = 1000


class InvalidCheckoutEvent(InvalidEvent):
    """A CheckoutRequested event that can never become an order (it belongs in the DLQ)."""


class OrderService:
    def __init__(self, orders: OrderRepository, checkouts: CheckoutRepository, users: UserRepository,
                 personal_data: PersonalData):
        self.orders = orders
        self.checkouts = checkouts
        self.users = users
        self.personal_data = personal_data  # what other domains hold about a person through an order

    # --- creation (from the queue) ---------------------------------------------------

    def create_from_checkout(self, event: Envelope, addresses: dict[str, PostalAddress | None] | None = None,
                             *, kept: bool = False) -> tuple[StoredOrder, bool, Envelope]:
        """Create the order a CheckoutRequested event asks for; a repeat finds the first one.

        `addresses`: checkout id -> shipping address, read for a whole queue batch at once
        (`shipping_addresses_of`); a checkout it does not name is read on its own.
        Returns (order, created now?, the OrderCreated event: its id is fixed per order, so consumers drop
        a repeat). The queue's consumer publishes it either way (a redelivery announces again). With `kept`
        (no queue delivery behind the caller, e.g. a payment ahead of it), the order's own write keeps it in
        the outbox and it is published here, after the commit, like every other event.
        """
        if event.type != "CheckoutRequested":
            raise InvalidCheckoutEvent(f"unexpected event type {event.type}")
        try:
            data = event.parsed()
        except InvalidEvent as exc:
            raise InvalidCheckoutEvent(str(exc)) from None
        if data.order_id != keys.order_id_for(data.checkout_id):
            raise InvalidCheckoutEvent("order id does not belong to the checkout")
        moment = iso()
        # Nothing to pay (a 100% discount): paid as it is made, no payment window, no provider; its stock and
        # its redemption stay taken, as for any paid order.
        paid = data.total == 0
        due = None if paid else iso(now() + timedelta(minutes=settings().payment_window_minutes))
        # The address travels on no event: the checkout record holds it until this order takes it.
        order = StoredOrder(id=data.order_id, user_id=data.user_id, status="PAID" if paid else "PENDING",
                            items=data.items,
                      status_reason="nothing to pay" if paid else None,
                      subtotal=data.subtotal, discount=data.discount, total=data.total,
                      shipping_method=data.shipping_method, shipping=data.shipping, tax=data.tax,
                      prices_include_tax=data.prices_include_tax, tax_lines=data.tax_lines,
                      promotion_code=data.promotion_code, currency=data.currency,
                      shipping_address=addresses[data.checkout_id] if data.checkout_id in (addresses or {})
                      else self.checkouts.shipping_address(data.checkout_id),
                      checkout_id=data.checkout_id, payment_due_at=due, created_at=data.created_at,
                      updated_at=moment, holds_allowance=data.holds_allowance,
                      redemption=RedemptionHeld(data.promotion_code, data.promotion_once_per_customer)
                      if data.promotion_code else None)
        def announcement_of(made: StoredOrder) -> Envelope:
            return self._announcement(made, event.correlationId)

        stored, created = self._create(order, keeping=announcement_of if kept else None)
        announcement = announcement_of(stored)
        if kept and created:
            announce([announcement])
        return stored, created, announcement

    @staticmethod
    def _announcement(order: StoredOrder, correlation_id: str | None) -> Envelope:
        """OrderCreated for `order` as stored: id and time come from it, so a repeat is the same event."""
        return envelope(OrderCreated(order_id=order.id, user_id=order.user_id, checkout_id=order.checkout_id,
                                     status=order.status, subtotal=order.subtotal, currency=order.currency,
                                     items=order.items),
                        actor=order.user_id, correlation_id=correlation_id,
                        event_id=keys.event_id_for("OrderCreated", order.id), occurred_at=order.updated_at)

    def checkout_in_flight(self, order_id: str) -> tuple[Envelope, dict[str, PostalAddress | None]] | None:
        """The CheckoutRequested event (and address) of an order the queue has not created yet, rebuilt from
        its checkout record as the checkout published it; None when no checkout names the order. Read only
        where the order is missing (a payment that arrived first): `create_from_checkout` takes both."""
        record = self.checkouts.of_order(order_id)
        if record is None:
            return None
        event = envelope(CheckoutRequested.from_record(record), actor=record["user_id"], correlation_id=record.get("correlation_id"),
                         event_id=keys.event_id_for("CheckoutRequested", record["checkout_id"]),
                         occurred_at=record["created_at"])
        address = record.get("shipping_address")
        return event, {record["checkout_id"]: PostalAddress.model_validate(address) if address else None}

    def shipping_addresses_of(self, checkout_ids: list[str]) -> dict[str, PostalAddress | None]:
        """The addresses of a batch's checkouts, in one read (the address travels on no event)."""
        return self.checkouts.shipping_addresses(checkout_ids) if checkout_ids else {}

    def _create(self, order: StoredOrder,
                keeping: Callable[[StoredOrder], Envelope] | None = None) -> tuple[StoredOrder, bool]:
        """The order, and in the same write the address off its checkout record, unless its buyer was
        erased meanwhile: then the order is made anonymised (the erasure has run or runs without it).
        With `keeping`, the write also keeps the event it makes of the order as written (the outbox)."""
        def kept(made: StoredOrder) -> list[Envelope]:
            return [keeping(made)] if keeping else []

        try:
            return self.orders.create(order, companions=[self.users.not_erased(order.user_id),
                                                         self.checkouts.address_removal(order.checkout_id)],
                                      events=kept(order))
        except PeopleErased:
            pass
        country = order.shipping_address.country if order.shipping_address else ""
        # Nobody is left to hold an allowance for (the promotion's count is not personal: it stays held), and the
        # checkout record keeps nothing of the buyer either.
        anonymous = order.model_copy(update={"user_id": ERASED_BUYER, "shipping_address": None,
                                             "holds_allowance": False})
        return self.orders.create(anonymous,
                                  companions=[self.checkouts.buyer_removal(order.checkout_id)],
                                  extra={"shipping_country": country}, events=kept(anonymous))

    # --- reads -----------------------------------------------------------------------

    def get_for(self, who: Caller, order_id: str) -> StoredOrder:
        order = self.orders.get(order_id)
        # Another user's order is indistinguishable from one that does not exist.
        if order is None or (order.user_id != who.user_id and not who.is_admin):
            raise order_not_found(order_id)
        return order

    def list_own(self, who: Caller, query: OrderListQuery) -> Page:
        return self.orders.of_user(who.user_id, query.from_, query.to, query.status, query.limit, query.cursor)

    def list_by_status(self, query: AdminOrderQuery) -> Page:
        return self.orders.with_status(query.status, query.limit, query.cursor)

    # --- transitions -----------------------------------------------------------------

    def cancel_own(self, who: Caller, order_id: str) -> StoredOrder:
        order = self.orders.get(order_id)
        if order is None or order.user_id != who.user_id:
            raise order_not_found(order_id)
        if order.status not in CUSTOMER_CANCELLABLE:
            raise Conflict(f"An order that is {order.status} can no longer be cancelled.", code="ILLEGAL_TRANSITION")
        try:  # written only while the customer's account is active
            return self.move(order, "CANCELLED", actor=who.user_id, reason="cancelled by customer",
                             companions=[self.users.active(who.user_id)])
        except AccountInactive:
            raise account_status.inactive(who.user_id) from None

    def set_status(self, staff: Caller, order_id: str, change: StatusChange) -> StoredOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise order_not_found(order_id)
        if change.version is not None and change.version != order.version:
            raise Conflict("The order was changed by someone else; reload it.", code="VERSION_CONFLICT")
        if change.status == "PARTIALLY_SHIPPED":
            raise Conflict("An order is PARTIALLY_SHIPPED by its shipments (POST /admin/orders/{id}/shipments).",
                           code="ILLEGAL_TRANSITION", details=[{"field": "status", "issue": "made_by_shipments",
                                                                "message": "ship some of its units instead"}])
        return self.move(order, change.status, actor=staff.user_id, reason=change.reason, retry=False)

    def move(self, order: StoredOrder, target: str, *, actor: str, reason: str | None = None,
             retry: bool = True, companions: list[Write] | None = None) -> StoredOrder:
        """Apply one state-machine step; 409 if it is not legal from where the order is now.

        With `retry`, a change that lost a race is judged again from the order's new state (a
        customer's cancel still cancels an order paid meanwhile, flagging the refund); without,
        the caller (staff, who saw a version) is told to reload.
        """
        for _attempt in range(3):
            if not can_move(order.status, target):
                raise Conflict(f"An order cannot go from {order.status} to {target}.", code="ILLEGAL_TRANSITION",
                               details=[{"field": "status", "issue": "illegal_transition",
                                         "message": f"{order.status} -> {target}"}])
            try:
                return self._step(order, target, actor=actor, reason=reason, companions=companions)
            except OrderChanged as changed:
                if changed.current is None:
                    raise order_not_found(order.id) from None
                if not retry and changed.current.status != order.status:
                    raise Conflict(f"The order is now {changed.current.status}; reload it.",
                                   code="VERSION_CONFLICT") from None
                order = changed.current
            except TransactionContended:
                break
        raise still_changing("The order")

    def expire(self, order: StoredOrder) -> bool:
        """Cancel an order the sweeper judged overdue, only if it is still exactly as judged.

        Never judged again: whatever happened since (a payment, a cancel) is left as it is.
        """
        if order.status != "PENDING":
            return False
        try:
            self._step(order, "CANCELLED", actor="system", reason="payment window expired")
        except OrderChanged:
            return False
        return True

    def _step(self, order: StoredOrder, target: str, *, actor: str, reason: str | None,
              companions: list[Write] | None = None) -> StoredOrder:
        return self._save(order.step(target, iso(), actor=actor, reason=reason), companions)

    def _save(self, change: OrderChange, companions: list[Write] | None = None) -> StoredOrder:
        moved = self.orders.save(change, companions or [])
        self._count_money_owed(change.before, moved)
        announce(list(change.events))
        return moved

    # --- shipments -------------------------------------------------------------------

    def ship(self, staff: Caller, order_id: str, idempotency_key: str, request: ShipmentRequest) -> Shipment:
        """Hand a parcel of the order's units to a carrier, in one write conditioned on the order as read; the same
        key and body answer the same shipment (another body: 422)."""
        shipment_id = keys.shipment_id_for(order_id, idempotency_key)
        this_hash = request_hash(request)

        def write(order: StoredOrder | None) -> Shipment:
            if order is None:
                raise order_not_found(order_id)
            made = order.shipment(shipment_id)
            if made is not None:  # a retry of a request that was written
                return answered_before(made, made.request_hash, this_hash)
            change = order.ship(shipment_id, request.units, iso(), actor=staff.user_id, carrier=request.carrier,
                                tracking_number=request.tracking_number, tracking_url=request.tracking_url,
                                request_hash=this_hash)
            self._save(change)
            return change.shipment_added

        return self._judged_again(order_id, write)

    def deliver(self, staff: Caller, order_id: str, shipment_id: str) -> Shipment:
        """The carrier delivered a shipment; the order is DELIVERED once every unit has shipped and arrived."""
        def write(order: StoredOrder | None) -> Shipment:
            if order is None:
                raise order_not_found(order_id)
            change = order.deliver(shipment_id, iso(), actor=staff.user_id)
            return self._save(change).shipment(shipment_id)

        return self._judged_again(order_id, write)

    def _judged_again(self, order_id: str, write: Callable[[StoredOrder | None], Shipment]) -> Shipment:
        """`write` from the order as read; a write another change got in before is judged again from the order as
        the refused write found it."""
        def contended(order: StoredOrder | None) -> Shipment:
            try:
                return write(order)
            except TransactionContended:
                raise still_changing("The order") from None

        return read_then_write(lambda: self.orders.get(order_id), contended, lost=OrderChanged,
                               seen_in=lambda changed: changed.current, attempts=5,
                               gave_up=lambda: still_changing("The order"))

    @staticmethod
    def _count_money_owed(before: StoredOrder, after: StoredOrder) -> None:
        owed_before = before.held() - before.keeps()
        owed_after = after.held() - after.keeps()
        if owed_after > max(owed_before, 0):
            metrics.count("MoneyOwedBack", owed_after - max(owed_before, 0))

    # --- payments and housekeeping ---------------------------------------------------

    def find(self, order_id: str) -> StoredOrder | None:
        return self.orders.get(order_id)

    def record_payment(self, order: StoredOrder, payment: OrderPayment, target: str | None, ledger_item: Write,
                       events: list[Envelope], *, state: PaymentState | None = None,
                       disputed: bool = False) -> StoredOrder:
        """Apply (or only note) a provider's verdict on `order` as read, with its ledger record, in one write.

        Raises what the ledger record's refusal names (a repeat), or OrderChanged (judge again from the order as
        it is now). The state moves only to `target`, if given.
        """
        captured = payment.amount if payment.type == "payment.succeeded" else 0
        change = order.transition(target or order.status, iso(), actor="payment-provider", captured=captured,
                                  payment=payment, reason=f"provider event {payment.id}" if target else None,
                                  state=state, disputed=disputed)
        change = change.announcing(events)
        moved = self.orders.save(change, [ledger_item])
        self._count_money_owed(order, moved)
        announce(list(change.events))
        return moved

    def expire_overdue(self, *, limit: int = 100, time_left: Callable[[], float] | None = None) -> dict[str, int]:
        """Cancel orders still unpaid past the payment window (their stock comes back).

        Each order on its own: one that fails is logged, counted and skipped. Stops when the
        index has no more, or when `time_left()` (seconds) runs low.
        """
        report = {"cancelled": 0, "failed": 0}
        cursor, before = None, iso()
        while time_left is None or time_left() > 0:
            page = self.orders.payment_overdue(before, limit, cursor)
            for order in page.items:
                if time_left is not None and time_left() <= 0:
                    return report
                try:
                    report["cancelled"] += self.expire(order)
                except Exception:
                    report["failed"] += 1
                    get_logger("orders").exception("an overdue order could not be cancelled",
                                                   extra={"orderId": order.id})
            cursor = page.next_cursor
            if not cursor:
                break
        return report

    # --- personal data ---------------------------------------------------------------

    def export_for(self, user_id: str) -> list[dict]:
        orders, cursor = [], None
        while len(orders) < _EXPORT_LIMIT:
            page = self.orders.of_user(user_id, None, None, None, 100, cursor)
            orders += [o.model_dump(mode="json", by_alias=True) for o in page.items]
            cursor = page.next_cursor
            if not cursor:
                break
        return orders

    def anonymise_for(self, user_id: str, has_time: Callable[[], bool] = lambda: True) -> bool:
        """Erasure: every checkout and order of the user kept for the books without the person, each while
        `has_time()`; True once none is left. What other domains hold about the person in each (returns,
        refunds, audit records) goes first: a checkout or an order leaves the user's index last, so a later
        run starts from what is left and misses nothing."""
        for record in self.checkouts.of_user(user_id):  # its order made or not (still queued at the erasure)
            if not has_time():
                return False
            self.personal_data.forget_about("CHECKOUT", record["checkout_id"], user_id)
            self.checkouts.forget_buyer(record["checkout_id"], user_id)
        for order in self.orders.every_order_of(user_id):
            if not has_time():
                return False
            self.personal_data.forget_about("ORDER", order.id, user_id)
            if self.checkouts.names(order.checkout_id, user_id):  # made before checkouts were listed under buyers
                self.personal_data.forget_about("CHECKOUT", order.checkout_id, user_id)
                self.checkouts.forget_buyer(order.checkout_id, user_id)
            self.orders.anonymise(order, iso())
        self.orders.forget_allowance(user_id)
        return True
