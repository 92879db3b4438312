"""Items every checkout reads and staff rarely change (tax rates by zone, shipping methods), kept in the container
for `SETTINGS_CACHE_SECONDS` (30 by default; 0 reads them every time).

Read by every basket and checkout of a destination, a zone's rates or a popular method is one partition key
value for the whole shop: about 3,000 reads a second (`make capacity`), a ceiling no sharding of writes lifts.
Kept here, each container reads each at most once per period. A change staff make in this container is seen at
once (its write forgets the item); one made in another container within the period (shipping priced at the rate
read then, at most that old). The checkout already charges what the customer saw at its own read.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

Key = tuple[str, str]
_ABSENT: Any = object()  # read, and not there: also worth keeping
_items: dict[Key, tuple[float, Any]] = {}
_lock = threading.Lock()


def _ttl() -> float:
    from chalicelib.core.settings import settings

    return float(settings().settings_cache_seconds)


def split(keys: Iterable[Key]) -> tuple[dict[Key, dict[str, Any]], list[Key]]:
    """(items kept and still fresh, found ones only; the keys to read)."""
    now, hits, misses = time.monotonic(), {}, []
    with _lock:
        for key in keys:
            kept = _items.get(key)
            if kept is not None and kept[0] > now:
                if kept[1] is not _ABSENT:
                    hits[key] = kept[1]
            else:
                misses.append(key)
    return hits, misses


def keep(keys: Iterable[Key], found: dict[Key, dict[str, Any]], ttl: float | None = None) -> None:
    """Keep what a read of `keys` found (and what it did not), for `ttl` seconds (SETTINGS_CACHE_SECONDS)."""
    ttl = _ttl() if ttl is None else min(ttl, _ttl())
    if ttl <= 0:
        return
    expires = time.monotonic() + ttl
    with _lock:
        for key in keys:
            _items[key] = (expires, found.get(key, _ABSENT))


def forget(*keys: Key) -> None:
    """This container changed these items: read them again next time."""
    with _lock:
        for key in keys:
            _items.pop(key, None)


def clear() -> None:
    with _lock:
        _items.clear()
