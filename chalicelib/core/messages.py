"""Reading events out of queue messages: EventBridge delivers its whole event as the SQS body."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from pydantic import ValidationError

from chalicelib.core import metrics
from chalicelib.core.events import Envelope, InvalidEvent
from chalicelib.core.logs import correlation_id_var, get_logger
from chalicelib.core.observability import consuming


class PoisonMessage(ValueError):
    """A message that no retry can make valid: report it so it ends in the dead-letter queue."""


def envelope_of(body: str | dict[str, Any]) -> Envelope:
    """The envelope in an SQS body: either an EventBridge event (envelope in `detail`) or the envelope."""
    try:
        data = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        raise PoisonMessage("body is not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("detail"), dict):
        data = data["detail"]
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        raise PoisonMessage(f"not an event envelope: {exc.error_count()} error(s)") from None


def consume(records: Iterable[dict[str, Any]], handle: Callable[[Envelope], Any],
            log_name: str) -> tuple[list[str], dict[str, Any]]:
    """Run `handle` on each record's event, in the event's correlation and trace.

    Returns (ids of failed messages, results by message id). One bad message never fails
    the batch: poison is reported (it reaches the DLQ after the queue's retries), and so is
    a message whose handling raised (it is retried).
    """
    log = get_logger(log_name)
    failures: list[str] = []
    results: dict[str, Any] = {}
    for record in records:
        message_id = record["messageId"]
        try:
            event = envelope_of(record["body"])
            event.parsed()  # validate before acting: an invalid event is poison
        except (PoisonMessage, InvalidEvent) as exc:
            log.error("invalid event sent back for the dead-letter queue",
                      extra={"messageId": message_id, "why": str(exc)})
            metrics.count("InvalidEvents")
            failures.append(message_id)
            continue
        token = correlation_id_var.set(event.correlationId)
        try:
            with consuming(event.type, event.traceContext):
                results[message_id] = handle(event)
        except InvalidEvent as exc:
            log.error("event refused by its handler", extra={"messageId": message_id, "why": str(exc)})
            metrics.count("InvalidEvents")
            failures.append(message_id)
        except Exception:
            log.exception("event handling failed; the message will be retried",
                          extra={"messageId": message_id, "eventId": event.id, "eventType": event.type})
            failures.append(message_id)
        finally:
            correlation_id_var.reset(token)
    return failures, results


def each_event(records: Iterable[dict[str, Any]], handle: Callable[[Envelope], Any], log_name: str) -> dict[str, Any]:
    """`consume` for a queue's function: the partial-batch answer naming the messages to retry."""
    failures, _ = consume(records, handle, log_name)
    return batch_response(failures)


def batch_response(failures: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """The partial-batch answer SQS understands (ReportBatchItemFailures)."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}
