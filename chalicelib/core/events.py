"""The event envelope every domain event travels in, and the only code that calls PutEvents."""
from __future__ import annotations

from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core.aws import client
from chalicelib.core.ids import iso, new_id
from chalicelib.core.logs import correlation_id_var, get_logger
from chalicelib.core.settings import settings

SOURCE = "shop"
_PUT_EVENTS_BATCH = 10  # the PutEvents limit per call


class Envelope(BaseModel):
    """`detail` of every event on the bus."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_id)
    type: str
    version: int = 1
    occurredAt: str = Field(default_factory=iso)
    correlationId: str | None = None
    actor: str = "system"
    data: dict[str, Any]


def envelope(event_type: str, data: dict[str, Any], *, actor: str = "system",
             correlation_id: str | None = None, event_id: str | None = None) -> Envelope:
    """A new event in the current correlation; pass `event_id` to make republishing dedupable."""
    extra = {"id": event_id} if event_id else {}
    return Envelope(type=event_type, data=data, actor=actor,
                    correlationId=correlation_id or correlation_id_var.get(), **extra)


class PublishError(Exception):
    def __init__(self, failed: list[Envelope]):
        super().__init__(f"{len(failed)} event(s) were not accepted by the bus")
        self.failed = failed


def publish(events: Iterable[Envelope]) -> None:
    """Put events on the project's bus in as few calls as the API allows.

    Raises PublishError naming the events the bus did not accept, so callers with an
    outbox can keep them for a later retry.
    """
    pending = list(events)
    failed: list[Envelope] = []
    for start in range(0, len(pending), _PUT_EVENTS_BATCH):
        batch = pending[start:start + _PUT_EVENTS_BATCH]
        entries = [{"Source": SOURCE, "DetailType": e.type, "Detail": e.model_dump_json(),
                    "EventBusName": settings().event_bus_name} for e in batch]
        try:
            result = client("events").put_events(Entries=entries)
        except Exception:
            get_logger("events").exception("PutEvents failed", extra={"count": len(batch)})
            failed.extend(batch)
            continue
        if result.get("FailedEntryCount"):
            failed.extend(e for e, r in zip(batch, result["Entries"]) if r.get("ErrorCode"))
    if failed:
        raise PublishError(failed)


def publish_best_effort(events: Iterable[Envelope]) -> bool:
    """For notifications of changes already committed: a lost event is logged, never fatal."""
    try:
        publish(events)
        return True
    except PublishError as exc:
        get_logger("events").error("events not published",
                                   extra={"eventIds": [e.id for e in exc.failed],
                                          "types": [e.type for e in exc.failed]})
        return False
