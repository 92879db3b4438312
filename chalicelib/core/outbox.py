"""Transactional outbox: events written in the same transaction as the change they announce.

A record carrying `outbox_event` and the GSI3 key `OUTBOX` is an event not yet on the bus.
The writer publishes right after committing and clears the mark; if that fails, the
scheduled sweeper finds the record through GSI3 and publishes it later. Consumers are
idempotent by event id, so publishing twice is harmless; losing an event is not.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core.dynamo import (
    TransactionRejected,
    condition_failed,
    ddb,
    key,
    query_page,
    table_name,
    to_item,
    transact_write,
)
from chalicelib.core.events import Envelope, PublishError, publish
from chalicelib.core.ids import iso, now
from chalicelib.core.logs import get_logger

PARTITION = "OUTBOX"
_EVENT_SK = "EVENT"
_KEEP_PUBLISHED_DAYS = 7


def outbox_fields(event: Envelope) -> dict[str, Any]:
    """Attributes that mark a record as carrying an unpublished event."""
    return {"outbox_event": event.model_dump_json(), "GSI3PK": PARTITION,
            "GSI3SK": f"{event.occurredAt}#{event.id}"}


def outbox_put(event: Envelope) -> dict[str, Any]:
    """A transaction item holding one event on its own (for changes with no record of their own)."""
    expires = int((now() + timedelta(days=_KEEP_PUBLISHED_DAYS)).timestamp())
    item = {"PK": f"OUTBOX#{event.id}", "SK": _EVENT_SK, "type": "OUTBOX", "expiresAt": expires,
            **outbox_fields(event)}
    return {"Put": {"TableName": table_name(), "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(PK)"}}


def record_key_of(event: Envelope) -> tuple[str, str]:
    return f"OUTBOX#{event.id}", _EVENT_SK


def outbox_puts(events: list[Envelope]) -> list[dict[str, Any]]:
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


def mark_published(pk: str, sk: str) -> None:
    try:
        ddb().update_item(TableName=table_name(), Key=key(pk, sk),
                          UpdateExpression="REMOVE outbox_event, GSI3PK, GSI3SK",
                          ConditionExpression="attribute_exists(PK)")
    except ClientError as exc:
        if not condition_failed(exc):  # already gone (TTL): nothing left to mark
            raise


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
            transact_write([{"Update": {"TableName": table_name(), "Key": key(pk, sk),
                                        "UpdateExpression": "REMOVE outbox_event, GSI3PK, GSI3SK",
                                        "ConditionExpression": "attribute_exists(PK)"}} for pk, sk in chunk])
        except TransactionRejected:  # a record already gone (TTL): mark the others one by one
            for pk, sk in chunk:
                mark_published(pk, sk)


def publish_and_mark(pending: list[tuple[str, str, Envelope]], also: list[Envelope] | None = None) -> int:
    """Publish events kept in records, clearing the mark of each one the bus accepted.

    `also` rides along in the same PutEvents call, best effort (nothing keeps it).
    Returns how many kept events were published; the rest stay marked for the sweeper.
    """
    if not pending and not also:
        return 0
    try:
        publish([event for _, _, event in pending] + list(also or []))
        failed_ids: set[str] = set()
    except PublishError as exc:
        failed_ids = {event.id for event in exc.failed}
    accepted = [(pk, sk) for pk, sk, event in pending if event.id not in failed_ids]
    mark_all_published(accepted)
    published = len(accepted)
    if failed_ids:
        get_logger("outbox").warning("events left for the sweeper", extra={"eventIds": sorted(failed_ids)})
    return published


def unpublished(older_than: timedelta, limit: int = 100) -> list[tuple[str, str, Envelope]]:
    """Records whose event has waited longer than `older_than` (the writer may still be at work)."""
    cutoff = iso(now() - older_than)
    page = query_page(PARTITION, index="GSI3", limit=limit, sort_between=("0", cutoff))
    return [(item["PK"], item["SK"], Envelope.model_validate_json(item["outbox_event"]))
            for item in page.items if item.get("outbox_event")]

