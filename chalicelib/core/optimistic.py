"""Optimistic concurrency: read, decide, write conditioned on what was read; on a lost race, again."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Seen = TypeVar("Seen")
Result = TypeVar("Result")

_UNREAD: Any = object()


def read_then_write(read: Callable[[], Seen], write: Callable[[Seen], Result], *,
                    lost: type[Exception] | tuple[type[Exception], ...], attempts: int,
                    gave_up: Callable[[], Exception], seen: Seen = _UNREAD) -> Result:
    """`write(read())` until `write` stops raising `lost` (someone changed the item between the
    read and the conditional write), at most `attempts` times; then `gave_up()` is raised.

    `seen` is a first read the caller already made (the first attempt writes from it). Anything
    else `read` or `write` raises (not found, a rule refusing the change) ends the loop at once.
    """
    for attempt in range(attempts):
        current = seen if attempt == 0 and seen is not _UNREAD else read()
        try:
            return write(current)
        except lost:
            continue
    raise gave_up()
