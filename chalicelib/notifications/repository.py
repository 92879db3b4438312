"""Notifications in DynamoDB: keyed by event id (idempotent), listed newest first through GSI1."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core.dynamo import (Page, condition_failed, ddb, from_item, key, put_if_absent, query_page, table_name,
                                    to_attr)
from chalicelib.notifications.models import Notification
from chalicelib.users.keys import user_pk


def _sk(notification_id: str) -> str:
    return f"NOTIFICATION#{notification_id}"


def feed_partition(user_id: str) -> str:
    return f"NOTIFICATIONS#{user_id}"


def _notification(item: dict[str, Any]) -> Notification:
    return Notification.model_validate({k: v for k, v in item.items() if k in Notification.model_fields})


class NotificationRepository:
    def add(self, notification: Notification, expires_at: int) -> bool:
        """Store once per id; False if it was already there (a repeated event)."""
        item = {"PK": user_pk(notification.user_id), "SK": _sk(notification.id), "type": "NOTIFICATION",
                "expiresAt": expires_at, **notification.model_dump(),
                "GSI1PK": feed_partition(notification.user_id),
                "GSI1SK": f"{notification.created_at}#{notification.id}"}
        return put_if_absent(item)

    def feed(self, user_id: str, limit: int, cursor: str | None) -> Page:
        page = query_page(feed_partition(user_id), index="GSI1", limit=limit, cursor=cursor, forward=False)
        page.items = [_notification(item) for item in page.items]
        return page

    def mark_read(self, user_id: str, notification_id: str, read_at: str) -> Notification | None:
        try:
            result = ddb().update_item(
                TableName=table_name(), Key=key(user_pk(user_id), _sk(notification_id)),
                UpdateExpression="SET read_at = if_not_exists(read_at, :now)",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":now": to_attr(read_at)}, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return _notification(from_item(result["Attributes"]))

    def delete_all_of(self, user_id: str) -> None:
        cursor = None
        while True:
            page = query_page(feed_partition(user_id), index="GSI1", limit=100, cursor=cursor)
            for item in page.items:
                ddb().delete_item(TableName=table_name(), Key=key(item["PK"], item["SK"]))
            cursor = page.next_cursor
            if not cursor:
                return
