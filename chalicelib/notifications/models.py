"""Notification wire models."""
from __future__ import annotations

from chalicelib.core.models import ApiModel, Timestamp


class Notification(ApiModel):
    id: str
    user_id: str
    kind: str
    title: str
    body: str
    subject_id: str | None = None
    created_at: Timestamp
    read_at: Timestamp | None = None
