"""Events of promotions: every change staff make, for the audit trail."""
from __future__ import annotations

from typing import Any

from chalicelib.core.events import EventData


class _PromotionEvent(EventData):
    entity_type = "PROMOTION"
    entity_id_field = "code"
    code: str


class PromotionCreated(_PromotionEvent):
    percent_off: int | None = None
    amount_off: int | None = None
    currency: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    max_redemptions: int | None = None
    min_subtotal: int | None = None
    once_per_customer: bool
    version: int


class PromotionUpdated(_PromotionEvent):
    version: int
    changes: dict[str, Any]
