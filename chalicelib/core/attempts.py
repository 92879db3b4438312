"""Failed attempts, counted per key, and the wait a key must keep once it has failed too often.

A guess answered wrongly (a password, a TOTP code, a promotion code) counts against each of its keys:
an account, an account from one client address, a customer. A key that has failed `free` times may try
again only 1 s after its last failure, then 2 s, 4 s, ... (at most `max_wait`); `reset_after` seconds
without a failure and it starts afresh, and a success clears it. Refused attempts are not asked of
anyone and do not count: a client that keeps guessing keeps waiting.

Keys are stored hashed (`ATTEMPTS#<sha256>`): the table holds no email or address for them, and each
counter expires (TTL) a day after its last failure. Checking costs one BatchGetItem; a failure one
UpdateItem per key; a success after failures one DeleteItem per key.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chalicelib.core import dynamo
from chalicelib.core.errors import TooManyRequests
from chalicelib.core.ids import now

_SK = "ATTEMPTS"
_KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Limit:
    """How a kind of key is held back: `free` failures, then waits doubling from 1 s up to `max_wait`."""

    scope: str
    free: int
    max_wait: int = 900
    reset_after: int = 900

    def wait(self, failures: int, last_failure: float, moment: float) -> int:
        """Seconds still to wait at `moment` after `failures` (the last at `last_failure`)."""
        if moment - last_failure >= self.reset_after or failures < self.free:
            return 0
        return max(0, int(last_failure + min(2 ** (failures - self.free), self.max_wait) - moment + 0.999))


Key = tuple[Limit, str]  # a limit and what it counts (an account, an account and an address, a customer)


class TooManyAttempts(TooManyRequests):
    def __init__(self, seconds: int, message: str):
        super().__init__(message, code="TOO_MANY_ATTEMPTS")
        self.headers = {"Retry-After": str(seconds)}


def _pk(counted: Key) -> str:
    limit, subject = counted
    return "ATTEMPTS#" + hashlib.sha256(f"{limit.scope}\n{subject}".encode()).hexdigest()


class Attempts:
    """The counters of a few keys, read once per guess."""

    def __init__(self, keys: list[Key]):
        self.keys = keys
        self._seen: dict[str, dict[str, Any]] = {}

    def wanted(self) -> list[tuple[str, str]]:
        """The counters' keys, for a caller that reads them with its own items (one BatchGetItem)."""
        return [(_pk(k), _SK) for k in self.keys]

    def check(self, found: dict[tuple[str, str], dict[str, Any]] | None = None,
              message: str = "Too many failed attempts; try again later.") -> None:
        """Raise TooManyAttempts (429, Retry-After) while any key must wait; remember what was read. `found`:
        the counters as the caller read them (`wanted()`), else they are read here."""
        wanted = self.wanted()
        if found is None:
            found = dynamo.batch_get(wanted)
        self._seen = {pair[0]: found[pair] for pair in wanted if pair in found}
        moment = now().timestamp()
        wait = max((limit.wait(int(item.get("failures", 0)), int(item.get("last_failure", 0)) / 1000, moment)
                    for limit, item in ((k[0], self._seen.get(_pk(k))) for k in self.keys) if item), default=0)
        if wait:
            raise TooManyAttempts(wait, message)

    def failed(self) -> None:
        """One more failure on every key (a key quiet for its limit's `reset_after` starts again at one)."""
        moment = int(now().timestamp() * 1000)
        for counted in self.keys:
            _count(counted, moment)

    def succeeded(self) -> None:
        """Clear the keys that had failures (nothing to write for the others)."""
        for pk in self._seen:
            dynamo.ddb().delete_item(TableName=dynamo.table_name(), Key=dynamo.key(pk, _SK))


def _count(counted: Key, moment: int) -> None:
    """One more failure on a key at `moment` (epoch milliseconds, as `last_failure` is kept)."""
    limit, pk = counted[0], _pk(counted)
    quiet = moment - limit.reset_after * 1000
    for _ in range(3):
        if _add_to_recent(pk, moment, quiet) or _start(pk, moment, quiet):
            return
    # Every attempt lost a race with another failure of the same key: that one was counted, so is the key.


def _add_to_recent(pk: str, moment: int, quiet: int) -> bool:
    """Count on a counter whose last failure is recent; False when there is none (or it is quiet)."""
    counted, _ = dynamo.conditional_update(
        Key=dynamo.key(pk, _SK), UpdateExpression="ADD failures :one SET last_failure = :now, expiresAt = :expires",
        ConditionExpression="last_failure > :quiet",
        ExpressionAttributeValues={":one": dynamo.to_attr(1), ":now": dynamo.to_attr(moment),
                                   ":quiet": dynamo.to_attr(quiet), ":expires": dynamo.to_attr(moment // 1000 + _KEEP_SECONDS)})
    return counted


def _start(pk: str, moment: int, quiet: int) -> bool:
    """This failure is the key's first (none before, or only quiet ones); False when another failure started
    a counter meanwhile (then this one counts on it)."""
    return dynamo.applied(dynamo.put({"PK": pk, "SK": _SK, "type": "ATTEMPTS", "failures": 1, "last_failure": moment,
                        "expiresAt": moment // 1000 + _KEEP_SECONDS},
                                     "attribute_not_exists(PK) OR last_failure <= :quiet", values={":quiet": quiet}))
