"""The local event worker: what Lambda's event sources do in AWS, done against the emulator.

It reads the app's own event sources, so a new handler in app.py is picked up without
editing this file: SQS handlers get their queue's messages in real SQS-shaped events (only
the records they did not report as failed are deleted), bus-rule handlers get the bus's
events through a local queue, and scheduled handlers are ticked.

Whose keys: an SQS event source is polled with the client given as `consumer_sqs` (make run
passes the function's own, as Lambda's event source mapping polls with the function's role);
the rest (looking queues up, the local queues standing in for rules that invoke a function)
is plumbing, done with the `sqs` and `events` clients given (the emulator's operator).
"""
from __future__ import annotations

import json
import threading
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from chalice.app import CloudWatchEventConfig, ScheduledEventConfig, SQSEventConfig
from chalice.local import LambdaContext

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def _context(name: str) -> LambdaContext:
    return LambdaContext(function_name=name, memory_size=512, max_runtime_ms=60_000)


def _lambda_attributes(attributes: dict) -> dict:
    """SQS API message attributes (`StringValue`) as Lambda presents them (`stringValue`)."""
    return {name: {key[0].lower() + key[1:]: value for key, value in attribute.items()}
            for name, attribute in attributes.items()}


def _bus_event(body: str) -> dict:
    """The EventBridge event a rule hands to Lambda (the emulator leaves out `account`)."""
    event = json.loads(body)
    event.setdefault("account", ACCOUNT)
    event.setdefault("region", REGION)
    event.setdefault("resources", [])
    return event


def _sqs_record(message: dict, queue_arn: str) -> dict:
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": _lambda_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
            "awsRegion": REGION}


class Delivery:
    """One event source: a queue polled for one handler (with `sqs`, unless `run_once` is given another)."""

    def __init__(self, name: str, handler: Callable, queue_url: str, queue_arn: str, batch_size: int,
                 kind: str, sqs: Any = None):
        self.name, self.handler, self.queue_url, self.queue_arn = name, handler, queue_url, queue_arn
        self.batch_size, self.kind, self.sqs = batch_size, kind, sqs

    def run_once(self, sqs: Any = None) -> int:
        sqs = sqs or self.sqs
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=min(self.batch_size, 10),
                                       WaitTimeSeconds=1, AttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        done = self._handle(messages)
        if done:
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        return len(messages)

    def _handle(self, messages: list[dict]) -> list[dict]:
        """The messages that were handled; the rest reappear after the visibility timeout."""
        if self.kind == "sqs":
            event = {"Records": [_sqs_record(m, self.queue_arn) for m in messages]}
            try:
                result = self.handler(event, _context(self.name)) or {}
            except Exception:
                print(f"[worker] {self.name} failed; its batch will be retried\n{traceback.format_exc()}", flush=True)
                return []
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            return [m for m in messages if m["MessageId"] not in failed]
        handled = []
        for message in messages:  # bus rule -> Lambda: one event per invocation
            try:
                self.handler(_bus_event(message["Body"]), _context(self.name))
                handled.append(message)
            except Exception:
                print(f"[worker] {self.name} failed on one event; it will be retried\n{traceback.format_exc()}",
                      flush=True)
        return handled


class Worker:
    def __init__(self, deliveries: list[Delivery], schedules: list[tuple[str, Callable]], tick_seconds: float,
                 sqs: Any):
        self.deliveries, self.schedules, self.tick_seconds, self.sqs = deliveries, schedules, tick_seconds, sqs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for delivery in self.deliveries:
            self._spawn(f"poll-{delivery.name}", self._poll, delivery)
        if self.schedules:
            self._spawn("schedule", self._tick)

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _spawn(self, name: str, target: Callable, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll(self, delivery: Delivery) -> None:
        while not self._stop.is_set():
            try:
                delivery.run_once(delivery.sqs or self.sqs)
            except Exception:  # the emulator going away at shutdown, a transient error, a denied poll
                if not self._stop.is_set():
                    print(f"[worker] polling for {delivery.name} failed; retrying\n{traceback.format_exc(limit=1)}",
                          flush=True)
                if self._stop.wait(1):
                    return

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            for name, handler in self.schedules:
                event = {"version": "0", "id": uuid.uuid4().hex, "detail-type": "Scheduled Event",
                         "source": "aws.events", "account": ACCOUNT,
                         "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
                         "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"], "detail": {}}
                try:
                    handler(event, _context(name))
                except Exception:
                    print(f"[worker] schedule {name} failed\n{traceback.format_exc()}", flush=True)


def from_app(app_module: Any, *, sqs: Any, events: Any, bus_name: str, prefix: str,
             tick_seconds: float = 60, functions: set[str] | None = None, consumer_sqs: Any = None) -> Worker:
    """A worker for every SQS, bus-rule and schedule handler the app defines (or those named in `functions`).

    Bus-rule handlers get a local rule on the project's bus (as the deployed template binds
    them) delivering to a local queue with a dead-letter queue.
    """
    deliveries, schedules = [], []
    for source in app_module.app.event_sources:
        if functions is not None and source.name not in functions:
            continue
        handler = getattr(app_module, source.handler_string.split(".", 1)[1])
        if isinstance(source, SQSEventConfig):
            url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
            # Reading the queue's attributes, polling and deleting: what Lambda's mapping does with the role.
            poller = consumer_sqs or sqs
            deliveries.append(Delivery(source.name, handler, url, _arn(poller, url), source.batch_size, "sqs",
                                       sqs=poller))
        elif isinstance(source, CloudWatchEventConfig):
            url = _rule_queue(sqs, events, bus_name, f"{prefix}-{source.name}", source.event_pattern)
            deliveries.append(Delivery(source.name, handler, url, _arn(sqs, url), 10, "bus", sqs=sqs))
        elif isinstance(source, ScheduledEventConfig):
            schedules.append((source.name, handler))
    return Worker(deliveries, schedules, tick_seconds, sqs)


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _rule_queue(sqs: Any, events: Any, bus_name: str, name: str, pattern: dict) -> str:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": "10",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": _arn(sqs, dlq), "maxReceiveCount": 3})})["QueueUrl"]
    events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": "local-worker", "Arn": _arn(sqs, url)}])
    return url



