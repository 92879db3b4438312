"""Turning order and stock events into notifications, once per event, and reading them back.

A notification is stored once per event; its email is sent at least once. The email is marked
pending with the notification and settled only once the mailer took it, so a delivery of the event
that fails to send raises (Lambda retries it, then parks it in the on-failure destination) and
the next delivery finds the email still pending and sends it.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from chalicelib.catalogue.events import LowStock
from chalicelib.core import metrics
from chalicelib.core.dynamo import Page
from chalicelib.core.errors import NotFound
from chalicelib.core.events import Envelope, EventData
from chalicelib.core.gateways import ProviderError, identity_provider, mailer
from chalicelib.core.ids import iso, now
from chalicelib.core.logs import get_logger
from chalicelib.core.models import PageQuery
from chalicelib.core.settings import settings
from chalicelib.notifications.models import Notification
from chalicelib.notifications.repository import EMAIL_PENDING, EMAIL_SENT, EMAIL_SKIPPED, NotificationRepository
from chalicelib.orders.events import OrderCreated, OrderStatusChanged, ShipmentCreated
from chalicelib.users import account_status
from chalicelib.users.events import MfaChanged, SignUpRepeated
from chalicelib.users.personal_data import ERASED
from chalicelib.users.repository import AccountInactive, UserRepository

# How long a delivery holds a pending email it is sending: far beyond the notifier's timeout, so a claim
# outlives only a sender that died, and the event's next delivery sends it then.
EMAIL_CLAIM_SECONDS = 120
_STATUS_WORDS = {
    "PAID": ("Payment received", "We received your payment for order {order}. We are preparing it."),
    "DELIVERED": ("Order delivered", "Order {order} was delivered. Enjoy!"),
    "CANCELLED": ("Order cancelled", "Order {order} was cancelled."),
    "PAYMENT_FAILED": ("Payment failed", "The payment for order {order} failed; the order was not placed."),
}


# What the holder of an account is told when its security changes (so a change they did not make is noticed).
_NOT_YOU = " If this was not you, reset your password now and tell us."
_ACCOUNT_WORDS = {
    "MFA_ON": ("Two-step sign-in turned on", "Signing in to your account now asks for your authenticator's code."),
    "MFA_OFF": ("Two-step sign-in turned off",
                "Signing in to your account no longer asks for your authenticator's code." + _NOT_YOU),
    "SIGN_UP_REPEATED": ("Someone tried to register with your email",
                         "Someone tried to create an account with your email address, which already has one. "
                         "If it was you, sign in, or reset your password if you forgot it; otherwise there is "
                         "nothing to do."),
}


def _short(order_id: str) -> str:
    return order_id[:8].upper()


def _shipped_words(shipped: ShipmentCreated) -> dict[str, str]:
    """What the customer is told of a parcel: which part of the order, and the carrier and tracking to follow it."""
    order = _short(shipped.order_id)
    partly = shipped.order_status == "PARTIALLY_SHIPPED"
    body = f"Part of order {order} is on its way" if partly else f"Order {order} is on its way"
    if shipped.carrier:
        body += f" with {shipped.carrier}"
    body += "."
    if shipped.tracking_number:
        body += f" Tracking number: {shipped.tracking_number}."
    if shipped.tracking_url:
        body += f" Follow it at {shipped.tracking_url}"
    return {"title": "Part of your order shipped" if partly else "Order shipped", "body": body}


class EmailNotSent(Exception):
    """SES refused or failed to take an email: the invocation fails so the event is delivered again."""


class NotificationService:
    def __init__(self, notifications: NotificationRepository, users: UserRepository):
        self.notifications = notifications
        self.users = users

    def handle(self, event: Envelope) -> int:
        """Record the notifications an event calls for and send their emails; returns how many were new.

        Raises EmailNotSent if any email could not be sent (after trying every one of them).
        """
        data = event.parsed()
        sending = settings().send_email
        created, unsent = 0, []
        for notification in self._notifications_for(event, data):
            new, email = self.notifications.add(notification, self._expiry(), EMAIL_PENDING if sending else None)
            created += new
            if email == EMAIL_PENDING:
                if not self._email(notification):
                    unsent.append(notification.id)
            elif not new:
                metrics.count("DuplicatesSuppressed")
            else:
                # Locally (and wherever email is off) the message is logged instead, without the address.
                get_logger("notifications").info("email not sent (sending is off)",
                                                 extra={"notificationId": notification.id, "kind": notification.kind})
        if unsent:
            raise EmailNotSent(f"{len(unsent)} email(s) not sent: {', '.join(unsent)}")
        return created

    def _notifications_for(self, event: Envelope, data: EventData) -> list[Notification]:
        moment = event.occurredAt
        if getattr(data, "user_id", None) == ERASED:  # an anonymised order: nobody to tell
            return []
        if isinstance(data, OrderCreated):
            return [Notification(id=event.id, user_id=data.user_id, kind="ORDER_CREATED", title="Order received",
                                 body=f"We received order {_short(data.order_id)}; "
                                      + ("it awaits payment." if data.status == "PENDING" else "nothing is left to pay."),
                                 subject_id=data.order_id, created_at=moment)]
        if isinstance(data, ShipmentCreated):  # each parcel once (its event's id), the order's status says nothing more
            return [Notification(id=event.id, user_id=data.user_id, kind="ORDER_SHIPPED", **_shipped_words(data),
                                 subject_id=data.order_id, created_at=moment)]
        if isinstance(data, OrderStatusChanged) and data.to_status in _STATUS_WORDS:
            title, body = _STATUS_WORDS[data.to_status]
            if data.refund_due:
                body += " A refund is on its way."
            return [Notification(id=event.id, user_id=data.user_id, kind=f"ORDER_{data.to_status}", title=title,
                                 body=body.format(order=_short(data.order_id)), subject_id=data.order_id,
                                 created_at=moment)]
        if isinstance(data, (MfaChanged, SignUpRepeated)):
            kind = "SIGN_UP_REPEATED" if isinstance(data, SignUpRepeated) else ("MFA_ON" if data.enabled else "MFA_OFF")
            title, body = _ACCOUNT_WORDS[kind]
            return [Notification(id=event.id, user_id=data.user_id, kind=kind, title=title, body=body,
                                 subject_id=data.user_id, created_at=moment)]
        if isinstance(data, LowStock):
            which = ", ".join(f"{name} {value}" for name, value in data.options.items())
            named = f"{data.name} ({which}{', ' if which and data.sku else ''}{data.sku or ''})" \
                if which or data.sku else data.name
            return [Notification(id=uuid.uuid5(uuid.NAMESPACE_URL, f"{event.id}:{admin}").hex, user_id=admin,
                                 kind="LOW_STOCK", title="Low stock",
                                 body=f"{named} is down to {data.stock} (threshold {data.threshold}).",
                                 subject_id=data.product_id, created_at=moment) for admin in self._admins()]
        return []

    @staticmethod
    def _admins() -> list[str]:
        """Staff user ids: the enabled members of the identity provider's admin group."""
        return identity_provider().user_ids_in_group("admin")

    def _email(self, notification: Notification) -> bool:
        """Send a pending email and settle it; False if SES did not take it (it stays pending). Two deliveries
        of one event at once (the bus and SQS deliver at least once) send it once: only the one that claims it
        sends it, and the other succeeds without sending."""
        log = get_logger("notifications")
        claimed_until = iso(now() + timedelta(seconds=EMAIL_CLAIM_SECONDS))
        if not self.notifications.claim_email(notification, iso(), claimed_until):
            log.info("email left to the delivery sending it", extra={"notificationId": notification.id})
            metrics.count("DuplicatesSuppressed")
            return True
        profile = self.users.get_profile(notification.user_id)
        if not settings().send_email or not profile or not profile.email or profile.status != "ACTIVE":
            # Nobody to send it to (suspended, erased, no address), or sending was turned off since.
            log.info("email skipped", extra={"notificationId": notification.id, "kind": notification.kind})
            self.notifications.settle_email(notification, EMAIL_SKIPPED, iso())
            return True
        try:
            mailer().send(profile.email, notification.title, notification.body)
        except ProviderError as exc:
            # The code only: the provider's messages may name the recipient's address.
            log.error("email not sent; it stays pending for the next delivery",
                      extra={"notificationId": notification.id, "kind": notification.kind, "error": exc.code})
            self.notifications.release_email(notification)
            return False
        self.notifications.settle_email(notification, EMAIL_SENT, iso())
        return True

    @staticmethod
    def _expiry() -> int:
        return int((now() + timedelta(days=settings().notification_retention_days)).timestamp())

    # --- reads -----------------------------------------------------------------------

    def feed(self, user_id: str, query: PageQuery) -> Page:
        return self.notifications.feed(user_id, query.limit, query.cursor)

    def mark_read(self, user_id: str, notification_id: str) -> Notification:
        try:
            found = self.notifications.mark_read(user_id, notification_id, iso())
        except AccountInactive:
            raise account_status.inactive(user_id) from None
        if found is None:  # unknown, or someone else's
            raise NotFound(f"Notification {notification_id} was not found.")
        return found

    def erase_for(self, user_id: str, has_time: Callable[[], bool] = lambda: True) -> bool:
        return self.notifications.delete_all_of(user_id, has_time)

    def export_for(self, user_id: str) -> list[dict]:
        items, cursor = [], None
        while len(items) < 1000:
            page = self.notifications.feed(user_id, 100, cursor)
            items += [n.model_dump(mode="json", by_alias=True) for n in page.items]
            cursor = page.next_cursor
            if not cursor:
                return items
        return items
