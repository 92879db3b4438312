"""Notifications in DynamoDB: keyed by event id (idempotent), listed newest first through GSI1.

Each one carries the state of its email (`email_status`): PENDING until sent, then SENT, or
SKIPPED when there is nobody to send it to; absent where sending is off.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import dynamo
from chalicelib.notifications import keys
from chalicelib.notifications.models import Notification

EMAIL_PENDING, EMAIL_SENT, EMAIL_SKIPPED = "PENDING", "SENT", "SKIPPED"


class NotificationExists(Exception):
    """The notification is stored already (the same event again), its email in this state."""

    def __init__(self, email_status: str | None):
        self.email_status = email_status


class NotificationMissing(Exception):
    """No such notification of the user's."""


def _notification(item: dict[str, Any]) -> Notification:
    return dynamo.model_from_item(Notification, item)


class NotificationRepository:
    def add(self, notification: Notification, expires_at: int, email_status: str | None) -> tuple[bool, str | None]:
        """Store once per id, with its email's state, unless its recipient was erased (an event delivered late,
        or replayed from the archive, writes nothing of theirs again). Returns (stored now?, the email state of
        the one stored): a repeated event learns whether its email is still to be sent, in the same call; for an
        erased recipient, (False, None)."""
        from chalicelib.users.repository import PeopleErased, UserRepository

        item = {"PK": keys.user_pk(notification.user_id), "SK": keys.notification_sk(notification.id),
                "type": "NOTIFICATION", "expiresAt": expires_at, **notification.model_dump(),
                "email_status": email_status, "GSI1PK": keys.feed_partition(notification.user_id),
                "GSI1SK": keys.feed_sort(notification.created_at, notification.id)}
        try:
            dynamo.transact([
                dynamo.put(item, refused=lambda found: NotificationExists((found or {}).get("email_status"))),
                UserRepository.not_erased(notification.user_id)])
        except NotificationExists as exists:
            return False, exists.email_status
        except PeopleErased:
            return False, None
        return True, email_status

    def claim_email(self, notification: Notification, at: str, until: str) -> bool:
        """Take a pending email to send it, until `until` (`at` is now): False while another delivery of the
        same event holds it, or once it is settled. A claim that was never settled (its sender died) lapses."""
        try:
            dynamo.ddb().update_item(
                TableName=dynamo.table_name(),
                Key=dynamo.key(*keys.notification_key(notification.user_id, notification.id)),
                **dynamo.Update().set("email_claimed_until", until).request(
                    "#email_status = :pending AND (attribute_not_exists(#email_claimed_until) "
                    "OR #email_claimed_until < :now)", names={"#email_status": "email_status"},
                    values={":pending": EMAIL_PENDING, ":now": at}))
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return False
            raise
        return True

    def release_email(self, notification: Notification) -> None:
        """Give a claimed email back, still pending, for the next delivery (it could not be sent now)."""
        dynamo.ddb().update_item(TableName=dynamo.table_name(),
                                 Key=dynamo.key(*keys.notification_key(notification.user_id, notification.id)),
                                 **dynamo.Update().remove("email_claimed_until").request("attribute_exists(PK)"))

    def settle_email(self, notification: Notification, status: str, at: str) -> None:
        """Record that the email was sent (or will never be): a later delivery of the event sends nothing."""
        try:
            dynamo.ddb().update_item(
                TableName=dynamo.table_name(),
                Key=dynamo.key(*keys.notification_key(notification.user_id, notification.id)),
                **dynamo.Update().set_all({"email_status": status, "email_settled_at": at}).request(
                    "#email_status = :pending", values={":pending": EMAIL_PENDING}))
        except ClientError as exc:
            if not dynamo.condition_failed(exc):  # settled already by a concurrent delivery, or erased since
                raise

    def feed(self, user_id: str, limit: int, cursor: str | None) -> dynamo.Page:
        page = dynamo.query_page(keys.feed_partition(user_id), index="GSI1", limit=limit, cursor=cursor, forward=False)
        page.items = [_notification(item) for item in page.items]
        return page

    def mark_read(self, user_id: str, notification_id: str, read_at: str) -> Notification | None:
        """Mark the user's notification read (None if there is no such notification of theirs), while their
        account is active (AccountInactive otherwise)."""
        from chalicelib.users.repository import UserRepository

        pk, sk = keys.notification_key(user_id, notification_id)
        try:
            dynamo.transact([UserRepository.active(user_id),
                             dynamo.update(pk, sk, dynamo.Update().set_if_absent("read_at", read_at),
                                           "attribute_exists(PK)", refused=NotificationMissing)])
        except NotificationMissing:
            return None
        found = dynamo.get(pk, sk)
        return _notification(dynamo.from_item(found)) if found else None

    def delete_all_of(self, user_id: str, has_time: Callable[[], bool] = lambda: True) -> bool:
        """Delete a user's notifications, each while `has_time()`; True once none is left."""
        for item in dynamo.every_item(keys.feed_partition(user_id), index="GSI1"):
            if not has_time():
                return False
            dynamo.ddb().delete_item(TableName=dynamo.table_name(), Key=dynamo.key(item["PK"], item["SK"]))
        return True
