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
    moment = (moment or now()).astimezone(timezone.utc)
    # Written field by field: strftime's %Y does not pad years before 1000, which would break both
    # the date-time format and the sort order.
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")
