"""Events of shipping methods: every change staff make, for the audit trail."""
from __future__ import annotations

from typing import Any

from chalicelib.core.events import EventData


class _ShippingMethodEvent(EventData):
    entity_type = "SHIPPINGMETHOD"
    entity_id_field = "method_id"
    method_id: str


class ShippingMethodCreated(_ShippingMethodEvent):
    name: str
    zones: list[str]
    rates: list[dict[str, Any]]
    tax_class: str
    version: int


class ShippingMethodUpdated(_ShippingMethodEvent):
    version: int
    changes: dict[str, Any]
