"""Key design of notifications (see docs/access-patterns.md): in their user's partition, one per event."""
from __future__ import annotations

from chalicelib.users.keys import user_pk

__all__ = ["feed_partition", "feed_sort", "notification_key", "notification_sk", "user_pk"]


def notification_sk(notification_id: str) -> str:
    return f"NOTIFICATION#{notification_id}"


def notification_key(user_id: str, notification_id: str) -> tuple[str, str]:
    return user_pk(user_id), notification_sk(notification_id)


def feed_partition(user_id: str) -> str:
    """GSI1: a user's notifications, newest first by `feed_sort`."""
    return f"NOTIFICATIONS#{user_id}"


def feed_sort(created_at: str, notification_id: str) -> str:
    return f"{created_at}#{notification_id}"
