"""The account status every authenticated request checks, remembered per container for a bounded time.

A suspended or erased account's ID token stays valid until it expires (an hour), so the app reads
the account's status on every user and admin request. Remembering it for
`ACCOUNT_STATUS_TTL_SECONDS` (60 by default; 0 reads every time) makes that check free on most
requests: a status changed in another container is seen within the bound, one changed in this
container (suspension, reactivation, erasure) at once, because that path forgets it here.
Bounded in size (least recently used first out), so a container never holds more than
`MAX_ENTRIES` accounts.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from chalicelib.core.errors import Unauthorized
from chalicelib.core.ids import now
from chalicelib.core.settings import settings

MAX_ENTRIES = 10_000

_seen: OrderedDict[str, tuple[float, str | None]] = OrderedDict()  # user id -> (read at, status)
_lock = threading.Lock()


def status_of(user_id: str, read: Callable[[str], str | None]) -> str | None:
    """The account's status as read at most `account_status_ttl_seconds` ago; `read` fetches it."""
    bound = settings().account_status_ttl_seconds
    moment = now().timestamp()
    with _lock:
        hit = _seen.get(user_id)
        # A clock that went back (tests, or a host's correction) never stretches the bound.
        if hit is not None and 0 <= moment - hit[0] < bound:
            _seen.move_to_end(user_id)
            return hit[1]
    status = read(user_id)
    if bound > 0:
        with _lock:
            _seen[user_id] = (moment, status)  # dated from before the read: never older than it says
            _seen.move_to_end(user_id)
            while len(_seen) > MAX_ENTRIES:
                _seen.popitem(last=False)
    return status


def refusal() -> Unauthorized:
    """The answer to a request of a suspended or erased account."""
    return Unauthorized("This account is not active.", code="ACCOUNT_INACTIVE")


def inactive(user_id: str) -> Unauthorized:
    """The answer to a write its condition refused because the account is no longer active, though the check
    remembered it active: forgotten here, so the account's next request is refused at once."""
    forget(user_id)
    return refusal()


def forget(user_id: str | None = None) -> None:
    """After this container changed an account's status (or, with no id, everything: tests)."""
    with _lock:
        if user_id is None:
            _seen.clear()
        else:
            _seen.pop(user_id, None)


def remembered() -> int:
    """How many accounts this container holds."""
    return len(_seen)
