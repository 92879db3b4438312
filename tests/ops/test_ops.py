"""Operators can see what failed, put it back, and replay a window of events."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3

from tools import ops


def test_dlq_list_show_and_redrive_back_to_the_queue(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName="shop-local-orders-dlq")["QueueUrl"]
    for number in range(3):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"n": number}))
    assert ops.dlq_counts("local", sqs)["orders"] == 3
    shown = ops.dlq_show("local", "orders", sqs)
    assert sorted(json.loads(m["body"])["n"] for m in shown) == [0, 1, 2]
    assert ops.dlq_counts("local", sqs)["orders"] == 3  # peeking leaves them there
    assert ops.dlq_redrive("local", "orders", sqs, boto3.client("events", region_name="us-east-1")) == 3
    assert ops.dlq_counts("local", sqs)["orders"] == 0
    source = sqs.get_queue_url(QueueName="shop-local-orders")["QueueUrl"]
    moved = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["n"] for m in moved) == [0, 1, 2]


def test_every_dead_letter_queue_of_the_stack_can_be_listed_and_each_consumers_redriven_to_its_queue():
    from tools.merge_template import DLQS, QUEUES, template

    named = {template()["Resources"][dlq]["Properties"]["QueueName"]["Fn::Sub"] for dlq in DLQS}
    assert named == {f"shop-${{Stage}}-{name}-dlq" for name in ops.DLQS}
    consumed = {template()["Resources"][f"{queue}Queue"]["Properties"]["QueueName"]["Fn::Sub"] for queue in QUEUES}
    assert {f"shop-${{Stage}}-{name}" for name in ops.BACK_TO_QUEUE} == consumed


def test_bus_dlq_redrive_republishes_the_event(aws, monkeypatch):
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName="shop-local-events-dlq")["QueueUrl"]
    detail = {"id": "e1", "type": "OrderCreated", "data": {}}
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"detail-type": "OrderCreated", "detail": detail}))
    sent = []

    class Bus:
        def put_events(self, Entries):
            sent.extend(Entries)
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}]}

    assert ops.dlq_redrive("local", "events", sqs, Bus()) == 1
    assert sent[0]["DetailType"] == "OrderCreated" and json.loads(sent[0]["Detail"]) == detail
    assert sent[0]["EventBusName"] == "shop-local"


def test_a_notification_that_kept_failing_goes_back_to_the_notifiers_queue(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName="shop-local-notify-dlq")["QueueUrl"]
    body = json.dumps({"detail-type": "LowStock", "source": "shop", "detail": {"id": "e2", "type": "LowStock"}})
    sqs.send_message(QueueUrl=dlq, MessageBody=body)
    assert ops.dlq_redrive("local", "notify", sqs, None) == 1
    queue = sqs.get_queue_url(QueueName="shop-local-notify")["QueueUrl"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]] == [body]


def test_failed_sweeps_are_listed_but_never_redriven(aws, capsys):
    import pytest

    sqs = boto3.client("sqs", region_name="us-east-1")
    assert ops.dlq_counts("local", sqs)["housekeeping"] == 0
    with pytest.raises(ValueError):
        ops.dlq_redrive("local", "housekeeping", sqs, None)
    with pytest.raises(SystemExit):
        ops.main(["dlq", "redrive", "--stage", "local", "--queue", "housekeeping"])


def test_replay_starts_from_the_stage_archive(aws):
    events = boto3.client("events", region_name="us-east-1")
    bus = events.describe_event_bus(Name="shop-local")
    events.create_archive(ArchiveName="shop-local-events", EventSourceArn=bus["Arn"])
    end = datetime.now(timezone.utc)
    result = ops.replay("local", end - timedelta(hours=1), end, events)
    assert result["replay"].startswith("shop-local-") and result["state"] in ("STARTING", "RUNNING", "COMPLETED")


def test_command_line_requires_a_queue_for_redrive(capsys):
    import pytest

    with pytest.raises(SystemExit):
        ops.main(["dlq", "redrive", "--stage", "local"])
