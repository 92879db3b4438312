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


# Every id the shop derives (checkouts, orders, returns, refunds, events) comes from this one namespace; ids
# derived from different sources still never meet: each derivation starts with its own tag, and a caller's
# text (an Idempotency-Key) only ever comes last, so no key can spell another source's id.
_DERIVED = uuid.UUID("5b0d7c1e-3f7e-4a55-9a43-6f1f0c6f9e21")


def derived_id(tag: str, *parts: str) -> str:
    """The id `tag` gives `parts`, the same each time (`derived_id("order", checkout_id)`): a retry, a redelivery
    or a second process finds the first one's record instead of making another."""
    return uuid.uuid5(_DERIVED, ":".join((tag, *parts))).hex


def tagged(tag: str) -> Callable[[str], str]:
    """The key of one kind of record: `tagged("ORDER")("42") == "ORDER#42"`."""
    def key(value: str) -> str:
        return f"{tag}#{value}"

    key.__qualname__ = key.__name__ = f"{tag.lower()}_key"
    return key


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
