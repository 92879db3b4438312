"""Transactional outbox: events written in the same transaction as the change they announce.

A record carrying `outbox_event` and the GSI3 key `OUTBOX` is an event not yet on the bus.
The writer publishes right after committing and clears the mark; if that fails, the
scheduled sweeper finds the record through GSI3 and publishes it later. Consumers are
idempotent by event id, so publishing twice is harmless; losing an event is not.

An event no consumer would take (unreadable, an unknown type, data its model refuses) is never
published: its record is parked, moved to the GSI3 partition `OUTBOXPARKED` with the reason beside
the event, so it no longer holds back the events queued after it and stays for a person to read.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from chalicelib.core import dynamo, metrics, shards
from chalicelib.core.events import Envelope, PublishError, publish, unpublishable
from chalicelib.core.ids import iso, now
from chalicelib.core.logs import get_logger

PARTITION = "OUTBOX"
# Every event enters the queue and leaves it (two index writes of its record) inside the writes of the order path:
# spread over shards by the event's id (chalicelib/core/shards.py), read merged oldest first by the sweeper.
SHARDS = 256
PARKED_PARTITION = "OUTBOXPARKED"  # GSI3: events that can never be published, for a person to read
_REASON_LENGTH = 1000
_EVENT_SK = "EVENT"
_RECORD_PREFIX = "OUTBOX#"  # an event's record of its own, for changes with no record to carry it
_KEEP_PUBLISHED_DAYS = 7


def outbox_fields(event: Envelope) -> dict[str, Any]:
    """Attributes that mark a record as carrying an unpublished event."""
    return {"outbox_event": event.model_dump_json(), "GSI3PK": shards.sharded(PARTITION, event.id, SHARDS),
            "GSI3SK": f"{event.occurredAt}#{event.id}"}


class EventAlreadyKept(Exception):
    """The outbox holds an event with this id already: the change it announces was written before."""


def outbox_put(event: Envelope) -> dynamo.Write:
    """A transaction item holding one event on its own (for changes with no record of their own). It has no
    expiry until it is published (`_published` gives it one): an event waiting out a long outage is never
    taken by TTL."""
    item = {"PK": f"{_RECORD_PREFIX}{event.id}", "SK": _EVENT_SK, "type": "OUTBOX", **outbox_fields(event)}
    return dynamo.put(item, refused=EventAlreadyKept(event.id))


def rewrite_kept_event(item: dict[str, Any], rewrite: Callable[[str], str], update: dynamo.Update,
                       conditions: list[str], values: dict[str, Any]) -> None:
    """Add to `update` the event `item` keeps (not yet on the bus) rewritten, conditioned on it still being as
    read: one published meanwhile is gone, the condition refuses, and the caller reads the item again."""
    kept = item.get("outbox_event")
    if kept is None:
        conditions.append("attribute_not_exists(outbox_event)")
        return
    update.set("outbox_event", rewrite(kept))
    conditions.append("outbox_event = :kept_as_read")
    values[":kept_as_read"] = kept


def record_key_of(event: Envelope) -> tuple[str, str]:
    return f"{_RECORD_PREFIX}{event.id}", _EVENT_SK


def outbox_puts(events: list[Envelope]) -> list[dynamo.Write]:
    """Transaction items keeping `events` until they are on the bus: add them to the write they announce."""
    return [outbox_put(event) for event in events]


def announce(events: list[Envelope | tuple[str, str, Envelope]], also: list[Envelope] | None = None) -> int:
    """After the commit that kept `events`: publish them and clear their marks.

    An event is kept by `outbox_puts` (give the event) or on a record of its own, such as a
    checkout (give `(pk, sk, event)`). Never raises: whatever the bus or the table refuses now,
    the sweeper publishes later. `also` rides along best effort (events nothing keeps, e.g. alerts).
    """
    pending = [kept if isinstance(kept, tuple) else (*record_key_of(kept), kept) for kept in events]
    try:
        return publish_and_mark(pending, also=also)
    except Exception:
        get_logger("outbox").exception("events kept for the sweeper",
                                       extra={"eventIds": [event.id for _, _, event in pending]})
        return 0


def _published(pk: str, sk: str) -> dynamo.Write:
    """The write clearing a record's mark, on its own or in a transaction. An event's record of its own is
    kept _KEEP_PUBLISHED_DAYS from now, its publication; a record of something else (a checkout, a refund)
    keeps the expiry it has, if any."""
    change = dynamo.Update().remove("outbox_event", "GSI3PK", "GSI3SK")
    if pk.startswith(_RECORD_PREFIX):
        change.set("expiresAt", int((now() + timedelta(days=_KEEP_PUBLISHED_DAYS)).timestamp()))
    return dynamo.update(pk, sk, change, "attribute_exists(PK)")


def mark_published(pk: str, sk: str) -> None:
    try:
        dynamo.write(_published(pk, sk))
    except dynamo.TransactionRejected:  # already gone (TTL): nothing left to mark
        pass


# TransactWriteItems takes at most 100 items.
_MARKS_PER_CALL = 100


def mark_all_published(records: list[tuple[str, str]]) -> None:
    """Clear the marks of several records in one call per hundred (a transaction: it costs twice the
    writes of single updates and saves a round trip per event); one by one where a record is gone."""
    if len(records) == 1 or len(set(records)) != len(records):
        for pk, sk in records:
            mark_published(pk, sk)
        return
    for start in range(0, len(records), _MARKS_PER_CALL):
        chunk = records[start:start + _MARKS_PER_CALL]
        try:
            dynamo.transact([_published(pk, sk) for pk, sk in chunk])
        except dynamo.TransactionRejected:  # a record already gone (TTL): mark the others one by one
            for pk, sk in chunk:
                mark_published(pk, sk)


def park(pk: str, sk: str, reason: str) -> bool:
    """Take a record's event out of the queue for good, keeping it and `reason` for a person to read
    (GSI3 `OUTBOXPARKED`, same sort key; an event record of its own also loses its expiry).
    False if the record no longer waits (published or gone meanwhile) or could not be written."""
    log = get_logger("outbox")
    update = dynamo.Update().set_all({"GSI3PK": PARKED_PARTITION, "outbox_parked": reason[:_REASON_LENGTH],
                                      "outbox_parked_at": iso()})
    if pk.startswith(_RECORD_PREFIX):
        update.remove("expiresAt")
    try:
        dynamo.ddb().update_item(TableName=dynamo.table_name(), Key=dynamo.key(pk, sk), **update.request(
            "(#GSI3PK = :queued OR begins_with(#GSI3PK, :queued_shard))",  # still queued, in its shard or from before
            values={":queued": PARTITION, ":queued_shard": f"{PARTITION}#"}))
    except ClientError as exc:
        if not dynamo.condition_failed(exc):
            log.exception("an unpublishable event could not be parked", extra={"pk": pk, "sk": sk, "reason": reason})
        return False
    log.error("event parked: it can never be published", extra={"pk": pk, "sk": sk, "reason": reason})
    metrics.count("OutboxEventsParked")
    return True


@dataclass
class Republished:
    """What one pass over the queue did: records read, events published, events parked."""

    read: int = 0
    published: int = 0
    parked: int = 0


def _publish_and_mark(pending: list[tuple[str, str, Envelope]], also: list[Envelope]) -> Republished:
    done = Republished(read=len(pending))
    publishable: list[tuple[str, str, Envelope]] = []
    for pk, sk, event in pending:
        reason = unpublishable(event)
        if reason is None:
            publishable.append((pk, sk, event))
        else:
            done.parked += park(pk, sk, reason)
    extras = []
    for event in also:  # kept nowhere: an event no consumer would take is only logged
        reason = unpublishable(event)
        if reason is None:
            extras.append(event)
        else:
            get_logger("outbox").error("event dropped: it can never be published",
                                       extra={"eventId": event.id, "reason": reason})
    if not publishable and not extras:
        return done
    try:
        publish([event for _, _, event in publishable] + extras)
        failed_ids: set[str] = set()
    except PublishError as exc:
        failed_ids = {event.id for event in exc.failed}
    accepted = [(pk, sk) for pk, sk, event in publishable if event.id not in failed_ids]
    mark_all_published(accepted)
    done.published = len(accepted)
    if failed_ids:
        get_logger("outbox").warning("events left for the sweeper", extra={"eventIds": sorted(failed_ids)})
    return done


def publish_and_mark(pending: list[tuple[str, str, Envelope]], also: list[Envelope] | None = None) -> int:
    """Publish events kept in records, clearing the mark of each one the bus accepted.

    `also` rides along in the same PutEvents call, best effort (nothing keeps it). An event no
    consumer would take is never put on the bus: its record is parked (see `park`).
    Returns how many kept events were published; the rest stay marked for the sweeper.
    """
    return _publish_and_mark(pending, list(also or [])).published


def _waiting(older_than: timedelta, limit: int) -> tuple[list[tuple[str, str, Envelope]], list[tuple[str, str, str]]]:
    """The oldest records waiting longer than `older_than` (the writer may still be at work): those whose
    event reads as an envelope, and (key, reason) of those whose event does not."""
    cutoff = iso(now() - older_than)
    page = shards.query_page(PARTITION, SHARDS, index="GSI3", limit=limit, sort_between=("0", cutoff))
    readable: list[tuple[str, str, Envelope]] = []
    unreadable: list[tuple[str, str, str]] = []
    for item in page.items:
        if not item.get("outbox_event"):
            continue
        try:
            readable.append((item["PK"], item["SK"], Envelope.model_validate_json(item["outbox_event"])))
        except ValidationError as exc:
            unreadable.append((item["PK"], item["SK"], f"unreadable event: {exc}"))
    return readable, unreadable


def unpublished(older_than: timedelta, limit: int = 100) -> list[tuple[str, str, Envelope]]:
    """Records whose event has waited longer than `older_than` (the writer may still be at work)."""
    return _waiting(older_than, limit)[0]


def republish(older_than: timedelta, limit: int = 100) -> Republished:
    """One pass of the sweeper over the oldest `limit` records waiting longer than `older_than`: each
    event is published and its mark cleared, or parked if no consumer would take it, or left (the
    bus refused it) for the next pass. One bad record never holds back the others."""
    readable, unreadable = _waiting(older_than, limit)
    parked = sum(park(pk, sk, reason) for pk, sk, reason in unreadable)
    done = _publish_and_mark(readable, [])
    return Republished(read=len(readable) + len(unreadable), published=done.published, parked=done.parked + parked)

