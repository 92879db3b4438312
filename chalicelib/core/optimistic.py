"""Optimistic concurrency: read, decide, write conditioned on what was read; on a lost race, again."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Seen = TypeVar("Seen")
Result = TypeVar("Result")

_UNREAD: Any = object()


def read_then_write(read: Callable[[], Seen], write: Callable[[Seen], Result], *,
                    lost: type[Exception] | tuple[type[Exception], ...], attempts: int,
                    gave_up: Exception | Callable[[], Exception], seen: Seen = _UNREAD,
                    seen_in: Callable[[Any], Seen] | None = None) -> Result:
    """`write(read())` until `write` stops raising `lost` (someone changed the item between the
    read and the conditional write), at most `attempts` times; then `gave_up` (or what it makes) is raised.

    `seen` is a first read the caller already made (the first attempt writes from it); `seen_in`
    takes the item from a lost race's exception (as the refused write found it), so the next
    attempt writes from that instead of reading again. Anything else `read` or `write` raises
    (not found, a rule refusing the change) ends the loop at once.
    """
    for _attempt in range(attempts):
        current = read() if seen is _UNREAD else seen
        try:
            return write(current)
        except lost as race:
            seen = seen_in(race) if seen_in is not None else _UNREAD
    raise gave_up if isinstance(gave_up, Exception) else gave_up()
