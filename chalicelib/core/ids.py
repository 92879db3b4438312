"""Identifiers and timestamps, in one format everywhere."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone


def _system_clock() -> datetime:
    return datetime.now(timezone.utc)


_clock: Callable[[], datetime] = _system_clock


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the time every domain reads (tests advance it); None restores the system clock."""
    global _clock
    _clock = clock or _system_clock


def iso(moment: datetime | None = None) -> str:
    """UTC, millisecond precision, sortable as a string (used in sort keys)."""
    moment = moment or now()
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
