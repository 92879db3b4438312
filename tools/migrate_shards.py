"""Move index entries written before their key was sharded into their shards (chalicelib/core/shards.py).

    python -m tools.migrate_shards [--apply] [--table NAME] [--state FILE] [--page-size N]
    make migrate-shards TABLE=shop-prod [APPLY=1]

A dry run by default: it reads the whole table and says what it would move, per key. With `--apply`, each item
is moved by one UpdateItem conditioned on the unsharded value it was read with, so an item its own writer moved
meanwhile (a status change writes the sharded key) is left as that writer left it. Resumable: the scan's
position is saved in `--state` after every page, and a run started again with the same file continues from there
(delete the file to start over). Idempotent: an item in its shard already is not touched, so running it twice
moves nothing the second time. Readers list unsharded entries too, so the shop serves throughout.

Aimed at the emulator with AWS_ENDPOINT_URL, at a stage's table with the usual AWS credentials.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Rule:
    """An index attribute whose unsharded value `base(value)` recognises, and the shard an item moves to."""

    name: str
    attribute: str
    unsharded: Callable[[str, dict[str, Any]], bool]
    shard: Callable[[dict[str, Any]], str]


def _order_id(item: dict[str, Any]) -> str:
    return item["PK"].split("#", 1)[1]


def _event_id(item: dict[str, Any]) -> str:
    return json.loads(item["outbox_event"])["id"]


def rules() -> list[Rule]:
    from chalicelib.audit.repository import LOG_PARTITION, LOG_SHARDS
    from chalicelib.basket import keys as basket_keys
    from chalicelib.core import outbox
    from chalicelib.core.shards import sharded
    from chalicelib.orders import keys

    def status_of(value: str) -> str:
        return value.split("#", 1)[1]

    def of_orders(test: Callable[[str], bool]) -> Callable[[str, dict[str, Any]], bool]:
        return lambda value, item: test(value) and item["PK"].startswith("ORDER#")

    return [
        Rule("ORDERSTATUS#<status>", "GSI2PK", of_orders(lambda value: value.startswith("ORDERSTATUS#")
                                                         and value.count("#") == 1),
             lambda item: keys.status_shard(status_of(item["GSI2PK"]), _order_id(item))),
        Rule(keys.PAYMENT_DUE, "GSI3PK", of_orders(lambda value: value == keys.PAYMENT_DUE),
             lambda item: keys.payment_due_shard(_order_id(item))),
        Rule(keys.REFUND_DUE, "GSI3PK", of_orders(lambda value: value == keys.REFUND_DUE),
             lambda item: keys.refund_due_shard(_order_id(item))),
        # An event waiting in the outbox, on a record of its own or on the record it announces: by the event's id.
        Rule(outbox.PARTITION, "GSI3PK", lambda value, item: value == outbox.PARTITION and "outbox_event" in item,
             lambda item: sharded(outbox.PARTITION, _event_id(item), outbox.SHARDS)),
        Rule(LOG_PARTITION, "GSI1PK",
             lambda value, item: value == LOG_PARTITION and item["PK"].startswith("AUDITEVENT#"),
             lambda item: sharded(LOG_PARTITION, item["PK"].split("#", 1)[1], LOG_SHARDS)),
        Rule(basket_keys.EXPIRY_PARTITION, "GSI3PK",
             lambda value, item: value == basket_keys.EXPIRY_PARTITION and "user_id" in item,
             lambda item: basket_keys.expiry_shard(item["user_id"])),
    ]


def migrate(ddb: Any, table: str, *, apply: bool, state: pathlib.Path | None = None, page_size: int = 500,
            max_pages: int | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Scan the table and move (or, without `apply`, count) every unsharded entry. Returns what it found."""
    found: Counter[str] = Counter()
    moved: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    start = json.loads(state.read_text()) if state is not None and state.exists() else None
    known = rules()
    pages = 0
    while True:
        request: dict[str, Any] = {"TableName": table, "Limit": page_size,
                                   "ProjectionExpression": "PK, SK, GSI1PK, GSI2PK, GSI3PK, outbox_event, user_id"}
        if start:
            request["ExclusiveStartKey"] = start
        result = ddb.scan(**request)
        for raw in result.get("Items", []):
            item = {name: value["S"] for name, value in raw.items() if "S" in value}
            for rule in known:
                value = item.get(rule.attribute)
                if value is None or not rule.unsharded(value, item):
                    continue
                found[rule.name] += 1
                if not apply:
                    continue
                target = rule.shard(item)
                try:
                    ddb.update_item(TableName=table, Key={"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}},
                                    UpdateExpression="SET #index = :sharded", ConditionExpression="#index = :seen",
                                    ExpressionAttributeNames={"#index": rule.attribute},
                                    ExpressionAttributeValues={":sharded": {"S": target}, ":seen": {"S": value}})
                    moved[rule.name] += 1
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                    skipped[rule.name] += 1  # its writer changed it meanwhile: written sharded already
        start = result.get("LastEvaluatedKey")
        pages += 1
        if state is not None and apply:  # a dry run moves nothing, so it leaves no position to continue from
            if start:
                state.write_text(json.dumps(start))
            elif state.exists():
                state.unlink()
        if not start:
            break
        if max_pages is not None and pages >= max_pages:
            say(f"stopped after {pages} page(s); run again with --state {state} to continue")
            break
    report = {"apply": apply, "found": dict(found), "moved": dict(moved), "changed_meanwhile": dict(skipped),
              "finished": start is None}
    for name in sorted(found):
        what = f"moved {moved[name]}, {skipped[name]} changed meanwhile" if apply else "would move"
        say(f"{name:<22} {found[name]:>8} unsharded: {what}")
    if not found:
        say("nothing unsharded" + ("" if start is None else " so far"))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apply", action="store_true", help="move the entries (default: a dry run)")
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME", "shop-local"))
    parser.add_argument("--state", type=pathlib.Path, default=pathlib.Path(".migrate-shards.json"),
                        help="where the scan's position is kept between runs")
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args(argv)
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    print(f"{'moving' if args.apply else 'dry run (--apply moves)'}: table {args.table}")
    report = migrate(ddb, args.table, apply=args.apply, state=args.state, page_size=args.page_size)
    return 0 if report["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
