"""The worker delivers queues, bus events and the schedule to the app's handlers as Lambda would."""
from __future__ import annotations

import json
import time
import types

import pytest
from chalice import Chalice, Rate

from local.worker import Delivery, from_app


@pytest.fixture(scope="module")
def sqs(client_for):
    return client_for("sqs")


@pytest.fixture
def queue(sqs, request):
    name = f"worker-{request.node.name}"[:70].replace("[", "-").replace("]", "")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def send(sqs, url: str, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)


def drain(sqs, url: str, wait: float = 2.5) -> list[str]:
    """Bodies visible again once the visibility timeout has passed."""
    time.sleep(wait)
    seen = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            return sorted(seen)
        seen += [m["Body"] for m in messages]


def test_records_reported_as_failed_stay_and_the_rest_are_deleted(sqs, queue):
    url, arn = queue
    send(sqs, url, "ok-1", "bad", "ok-2")
    events = []

    def handler(event, context):
        events.append(event)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] == "bad"]}

    delivery = Delivery("consumer", handler, url, arn, batch_size=10, kind="sqs")
    while delivery.run_once(sqs):
        pass
    assert drain(sqs, url) == ["bad"]
    record = events[0]["Records"][0]
    assert {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
            "eventSource", "eventSourceARN", "awsRegion"} <= set(record)
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_a_handler_that_raises_keeps_its_batch_and_the_worker_goes_on(sqs, queue):
    url, arn = queue
    send(sqs, url, "one", "two")

    def handler(event, context):
        raise RuntimeError("boom")

    delivery = Delivery("crashing", handler, url, arn, batch_size=10, kind="sqs")
    assert delivery.run_once(sqs) == 2
    assert drain(sqs, url) == ["one", "two"]


def test_handlers_of_the_app_are_found_and_fed(client_for, stack):
    sqs, events = client_for("sqs"), client_for("events")
    queue_url = sqs.create_queue(QueueName="app-orders")["QueueUrl"]
    app = Chalice(app_name="throwaway")
    calls: dict[str, list] = {"sqs": [], "bus": [], "schedule": []}

    @app.on_sqs_message(queue="app-orders", batch_size=5)
    def consume(event):
        calls["sqs"] += [record.body for record in event]

    @app.on_cw_event({"source": ["shop"], "detail-type": ["Ping"]})
    def on_ping(event):
        calls["bus"].append(event.detail)

    @app.schedule(Rate(1, unit=Rate.MINUTES))
    def tick(event):
        calls["schedule"].append(event.to_dict()["detail-type"])

    module = types.SimpleNamespace(app=app, consume=consume, on_ping=on_ping, tick=tick)
    worker = from_app(module, sqs=sqs, events=events, bus_name=stack.summary()["event_bus_name"],
                      prefix="test-worker", tick_seconds=0.3)
    worker.start()
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
        events.put_events(Entries=[{"EventBusName": "shop-local", "Source": "shop", "DetailType": "Ping",
                                    "Detail": json.dumps({"n": 1})}])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(calls.values()):
            time.sleep(0.1)
    finally:
        worker.stop()
    assert calls["sqs"] == ["hello"]
    assert calls["bus"] == [{"n": 1}]
    assert calls["schedule"][0] == "Scheduled Event"
