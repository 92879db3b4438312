"""Events the users domain publishes (ids only: no personal data travels on the bus)."""
from __future__ import annotations

from typing import Literal

from chalicelib.core.events import EventData


class _UserEvent(EventData):
    entity_type = "USER"
    entity_id_field = "user_id"
    user_id: str


class UserRegistered(_UserEvent):
    pass


class UserErased(_UserEvent):
    pass


class UserStatusChanged(_UserEvent):
    status: Literal["ACTIVE", "SUSPENDED"]


class MfaChanged(_UserEvent):
    """The account's second factor (TOTP) was turned on or off: audited, and its holder told."""

    enabled: bool


class SignUpRepeated(_UserEvent):
    """Someone registered again with the email of this (confirmed) account: its holder is told, the caller is
    answered as any registration is."""
