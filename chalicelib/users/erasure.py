"""The erasure consumer: UserErased messages in, nothing of the person left out, however much there is.

`DELETE /me` only disables the login and records the erasure; this function (`erase_users`, fed by
a bus rule through its own queue) does the bulk, a page at a time. When its invocation runs low on
time it stops between two items and sends the same event to its own queue again: the next invocation
starts from what is left (every step is idempotent), so a customer with thousands of orders is
erased over a few invocations and none of them times out.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from chalicelib.core import metrics
from chalicelib.core.aws import client
from chalicelib.core.events import Envelope, InvalidEvent
from chalicelib.core.logs import get_logger
from chalicelib.core.messages import each_event
from chalicelib.users.events import UserErased

if TYPE_CHECKING:
    from chalicelib.users.service import UserService

# No item is started with less than this left: one takes a few milliseconds, and the continuation
# still has to be sent.
RESERVE_MS = 1_000


def time_budget(remaining_ms: Callable[[], int] | None) -> Callable[[], bool]:
    """`has_time()` for the erasers, from the invocation's clock (none: no limit, as in a script)."""
    return lambda: remaining_ms is None or remaining_ms() > RESERVE_MS


def erase_users(records: Iterable[dict[str, Any]], users: UserService, *, queue_name: str,
                remaining_ms: Callable[[], int] | None = None) -> dict[str, list]:
    """Handle one SQS batch of UserErased events; the partial-batch response names only failures."""
    has_time = time_budget(remaining_ms)
    log = get_logger("users.erasure")

    def erase(event: Envelope) -> None:
        data = event.parsed()
        if not isinstance(data, UserErased):
            raise InvalidEvent(f"unexpected event type {event.type}")
        if users.complete_erasure(data.user_id, has_time):
            metrics.count("ErasuresCompleted")
            return
        continue_later(event, queue_name)
        log.info("erasure continues in the next invocation", extra={"userId": data.user_id, "eventId": event.id})
        metrics.count("ErasuresContinued")

    return each_event(records, erase, "users.erasure")


def continue_later(event: Envelope, queue_name: str) -> None:
    """The same event again, on the function's own queue. If this fails the message fails, and SQS
    delivers it again after its visibility timeout: the work is resumed either way."""
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=event.model_dump_json())
