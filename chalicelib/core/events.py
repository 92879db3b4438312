"""The event envelope every domain event travels in, and the only code that calls PutEvents."""
from __future__ import annotations

from typing import Any, ClassVar, Iterable

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from chalicelib.core.aws import client
from chalicelib.core.ids import iso, new_id
from chalicelib.core.logs import correlation_id_var, get_logger
from chalicelib.core.observability import trace_context
from chalicelib.core.settings import settings

SOURCE = "shop"
_PUT_EVENTS_BATCH = 10  # the PutEvents limit per call


class EventData(BaseModel):
    """The `data` of one event type, named by its class. Subclasses name the entity the audit files it under."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)

    event_type: ClassVar[str]
    entity_type: ClassVar[str]  # ORDER, PRODUCT, USER, CHECKOUT or PROMOTION (audit's EntityType)
    entity_id_field: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # `_OrderEvent` and the like: what a domain's events share
            cls.event_type = cls.__name__
            EVENT_TYPES[cls.event_type] = cls

    @property
    def entity_id(self) -> str:
        return str(getattr(self, self.entity_id_field))


# Every event type, by name: publishers and consumers validate `data` against it.
EVENT_TYPES: dict[str, type[EventData]] = {}


class InvalidEvent(ValueError):
    pass


class Envelope(BaseModel):
    """`detail` of every event on the bus."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str = Field(default_factory=new_id)
    type: str
    version: int = 1
    occurredAt: str = Field(default_factory=iso)
    correlationId: str | None = None
    # The publisher's span as an X-Ray trace header (Root=...;Parent=...;Sampled=...), where it traced:
    # consumers continue the trace from it. Optional, so events without it stay valid.
    traceContext: str | None = Field(default=None, max_length=256)
    actor: str = "system"
    data: dict[str, Any]

    def parsed(self) -> EventData:
        """The data as its event type's model; InvalidEvent for unknown types or bad data."""
        # A consumer's container may never have imported the publishing domain: learn every type once.
        model = EVENT_TYPES.get(self.type) or load_event_types().get(self.type)
        if model is None:
            raise InvalidEvent(f"unknown event type {self.type!r}")
        try:
            return model.model_validate(self.data)
        except Exception as exc:
            raise InvalidEvent(f"invalid {self.type} data: {exc}") from None


def envelope(data: EventData, *, actor: str = "system", correlation_id: str | None = None,
             event_id: str | None = None, occurred_at: str | None = None) -> Envelope:
    """A new event in the current correlation; pass `event_id` to make republishing dedupable."""
    extra: dict[str, Any] = {"id": event_id} if event_id else {}
    if occurred_at:
        extra["occurredAt"] = occurred_at
    traced = trace_context()
    if traced:
        extra["traceContext"] = traced
    return Envelope(type=data.event_type, version=data.schema_version, actor=actor,
                    data=data.model_dump(mode="json", by_alias=True),
                    correlationId=correlation_id or correlation_id_var.get(), **extra)


def unpublishable(event: Envelope) -> str | None:
    """Why `event` must never go on the bus (its consumers would refuse it), or None if it may."""
    try:
        event.parsed()
    except InvalidEvent as exc:
        return str(exc)
    return None


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
    for event in pending:
        event.parsed()  # never put an event on the bus that its consumers would refuse
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


def load_event_types() -> dict[str, type[EventData]]:
    """Import every domain's `events` module so EVENT_TYPES names them all."""
    import importlib
    import pkgutil

    import chalicelib

    for package in pkgutil.iter_modules(chalicelib.__path__):
        if package.ispkg and package.name != "core":
            try:
                importlib.import_module(f"chalicelib.{package.name}.events")
            except ModuleNotFoundError as exc:
                if exc.name != f"chalicelib.{package.name}.events":
                    raise
    return EVENT_TYPES


def event_json_schema(event_type: str) -> dict[str, Any]:
    """The JSON schema of one event type: the envelope with its `data` spelled out."""
    from typing import Literal

    from pydantic import create_model

    model = EVENT_TYPES[event_type]
    typed = create_model(f"{event_type}Event", __base__=Envelope,
                         type=(Literal[event_type], ...), data=(model, ...))  # type: ignore[call-overload]
    schema = typed.model_json_schema(by_alias=True)
    schema["$id"] = f"https://shop.example/events/{event_type}.schema.json"
    schema["title"] = event_type
    schema["description"] = (model.__doc__ or f"{event_type} event").strip()
    return schema
