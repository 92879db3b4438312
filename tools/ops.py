"""Operations on a deployed (or local) stack: dead-letter queues and event replay.

    python -m tools.ops dlq list    --stage prod
    python -m tools.ops dlq show    --stage prod --queue orders [--max 10]
    python -m tools.ops dlq redrive --stage prod --queue orders
    python -m tools.ops replay      --stage prod --start 2026-11-22T10:00:00Z --end 2026-11-22T11:00:00Z

Redriving puts messages back where they failed: a queue's DLQ into its queue; the bus rules'
DLQ (`events`) back onto the bus. The
housekeeping queue holds failed sweeps: shown and counted, never redriven, because the next
scheduled sweep redoes whatever a failed one left; so does `alarms` (alarm emails SNS could not
deliver: the alarm's state, not the old message, is what to look at). Replays resend archived events to the bus.
Every consumer is idempotent by event id, so a message handled twice changes nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any

import boto3

DLQS = ("orders", "audit", "erasures", "events", "notify", "housekeeping", "alarms", "images", "payments")
BACK_TO_QUEUE = {"orders", "audit", "erasures", "notify", "images", "payments"}
NOT_REDRIVEN = {"housekeeping", "alarms"}


def _queue_url(sqs: Any, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def dlq_counts(stage: str, sqs: Any) -> dict[str, int]:
    counts = {}
    for name in DLQS:
        try:
            url = _queue_url(sqs, f"shop-{stage}-{name}-dlq")
        except sqs.exceptions.QueueDoesNotExist:
            continue
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        counts[name] = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    return counts


def dlq_show(stage: str, queue: str, sqs: Any, limit: int = 10) -> list[dict]:
    """Peek: messages are released again at once (visibility 0), nothing is deleted."""
    url = _queue_url(sqs, f"shop-{stage}-{queue}-dlq")
    shown: list[dict] = []
    while len(shown) < limit:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(shown)),
                                       AttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        for message in messages:
            shown.append({"messageId": message["MessageId"], "receives": message["Attributes"].get(
                "ApproximateReceiveCount"), "body": message["Body"]})
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        if len(messages) < 10:
            break
    return shown


def dlq_redrive(stage: str, queue: str, sqs: Any, events: Any) -> int:
    """Move every message back to where it failed; returns how many moved."""
    if queue in NOT_REDRIVEN:
        raise ValueError(f"{queue}: nothing to redrive, the next scheduled run redoes the work")
    url = _queue_url(sqs, f"shop-{stage}-{queue}-dlq")
    target = _queue_url(sqs, f"shop-{stage}-{queue}") if queue in BACK_TO_QUEUE else None
    moved = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=60).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            if target:
                sqs.send_message(QueueUrl=target, MessageBody=message["Body"])
            else:
                _republish(stage, message["Body"], events)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # only once it is back
            moved += 1


def _republish(stage: str, body: str, events: Any) -> None:
    event = json.loads(body)  # a rule's DLQ holds the event itself
    detail = event.get("detail", event)
    result = events.put_events(Entries=[{"Source": "shop", "DetailType": detail["type"],
                                         "Detail": json.dumps(detail), "EventBusName": f"shop-{stage}"}])
    if result.get("FailedEntryCount"):
        raise RuntimeError(f"the bus refused the event: {result['Entries']}")


def replay(stage: str, start: datetime, end: datetime, events: Any) -> dict:
    archive = events.describe_archive(ArchiveName=f"shop-{stage}-events")
    bus = events.describe_event_bus(Name=f"shop-{stage}")
    name = f"shop-{stage}-{start:%Y%m%d%H%M%S}-{end:%Y%m%d%H%M%S}"
    result = events.start_replay(ReplayName=name, EventSourceArn=archive["ArchiveArn"], EventStartTime=start,
                                 EventEndTime=end, Destination={"Arn": bus["Arn"]})
    return {"replay": name, "state": result.get("State")}


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.ops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dlq = sub.add_parser("dlq", help="inspect or redrive a dead-letter queue")
    dlq.add_argument("action", choices=["list", "show", "redrive"])
    dlq.add_argument("--stage", required=True)
    dlq.add_argument("--queue", choices=DLQS)
    dlq.add_argument("--max", type=int, default=10)
    rep = sub.add_parser("replay", help="resend archived events of a time window to the bus")
    rep.add_argument("--stage", required=True)
    rep.add_argument("--start", required=True, type=_moment)
    rep.add_argument("--end", required=True, type=_moment)
    args = parser.parse_args(argv)
    sqs, events = boto3.client("sqs"), boto3.client("events")
    if args.command == "replay":
        print(json.dumps(replay(args.stage, args.start, args.end, events)))
    elif args.action == "list":
        print(json.dumps(dlq_counts(args.stage, sqs)))
    elif not args.queue:
        parser.error("--queue is required for show and redrive")
    elif args.action == "show":
        print(json.dumps(dlq_show(args.stage, args.queue, sqs, args.max), indent=2))
    elif args.queue in NOT_REDRIVEN:
        parser.error(f"{args.queue} failures are not redriven: the next scheduled run redoes the work")
    else:
        print(json.dumps({"redriven": dlq_redrive(args.stage, args.queue, sqs, events)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
