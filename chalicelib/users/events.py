"""Events the users domain publishes (ids only: no personal data travels on the bus)."""
from __future__ import annotations

from typing import Literal

from chalicelib.core.events import EventData


class _UserEvent(EventData):
    entity_type = "USER"
    entity_id_field = "user_id"
    user_id: str


class UserRegistered(_UserEvent):
    event_type = "UserRegistered"


class UserErased(_UserEvent):
    event_type = "UserErased"


class UserStatusChanged(_UserEvent):
    event_type = "UserStatusChanged"
    status: Literal["ACTIVE", "SUSPENDED"]
