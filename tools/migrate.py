"""Move the stock of products stored before variants into their variants' sale records.

    python -m tools.migrate --stage dev            # dry run: says what it would move
    python -m tools.migrate --stage dev --apply    # moves them
    python -m tools.migrate --stage dev --apply --resume <cursor>

A product item from before holds `price`, `currency` and `stock` and no `variants`. The shop reads such a product
correctly and moves it itself the first time it reads it (docs/decisions.md); this command moves the rest, so no
sale ever writes a product item again. Each product is moved in one transaction conditioned on the stock and
version it read, so a sale or an edit in between makes it read that product again; a product moved already is
left alone: running it twice, or alongside the shop, moves each product once. It reads the table a page at a
time (a Scan filtered to products from before: a one-off, not a path of the shop) and prints, after each page,
the cursor that resumes after it.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import pathlib
import sys
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = 100
MOVE_ATTEMPTS = 5


def table_of(stage: str) -> str:
    """The stage's table, as its Chalice configuration names it."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    try:
        return config["stages"][stage]["environment_variables"]["TABLE_NAME"]
    except KeyError:
        raise SystemExit(f"no stage {stage!r} with a TABLE_NAME in .chalice/config.json") from None


def _cursor(last_key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(last_key).encode()).decode() if last_key else None


def _key(cursor: str | None) -> dict[str, Any] | None:
    return json.loads(base64.urlsafe_b64decode(cursor.encode())) if cursor else None


def migrate(*, apply: bool, resume: str | None = None, say: Callable[[str], None] = print) -> dict[str, int]:
    """Move every product from before (or count them, unless `apply`). Returns the counts."""
    from chalicelib.catalogue import stored
    from chalicelib.core import dynamo
    from chalicelib.core.dynamo import TransactionContended

    counts = {"products_from_before": 0, "moved": 0, "moved_meanwhile": 0}
    start = _key(resume)
    while True:
        request: dict[str, Any] = {
            "TableName": dynamo.table_name(), "Limit": PAGE,
            "FilterExpression": "#type = :product AND attribute_not_exists(#variants)",
            "ExpressionAttributeNames": {"#type": "type", "#variants": "variants"},
            "ExpressionAttributeValues": {":product": {"S": "PRODUCT"}}, "ConsistentRead": True}
        if start:
            request["ExclusiveStartKey"] = start
        page = dynamo.ddb().scan(**request)
        for found in page.get("Items", []):
            item = dynamo.from_item(found)
            counts["products_from_before"] += 1
            if apply:
                counts["moved" if _move(item, stored, dynamo, TransactionContended) else "moved_meanwhile"] += 1
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        say(f"page done: {counts}; resume with --resume {_cursor(start)}")
    say(("moved: " if apply else "dry run (--apply moves them): ") + json.dumps(counts))
    return counts


def _move(item: dict[str, Any], stored: Any, dynamo: Any, contended: type[Exception]) -> bool:
    """Move one product; False when someone (the shop reading it) moved it first."""
    product_key = (item["PK"], item["SK"])
    for _attempt in range(MOVE_ATTEMPTS):
        if not stored.is_from_before(item):
            return False
        try:
            dynamo.transact(stored.move_from_before(item))
            return True
        except (stored.MovedMeanwhile, contended):
            found = dynamo.get(*product_key, consistent=True)
            if found is None:
                return False
            item = dynamo.from_item(found)
    raise SystemExit(f"{item['id']} kept changing; run the command again (it resumes where products remain)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.migrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, help="local, dev or prod: the table its configuration names")
    parser.add_argument("--apply", action="store_true", help="move them (without it: only count them)")
    parser.add_argument("--resume", help="the cursor a page's line printed, to go on after it")
    arguments = parser.parse_args(argv)
    os.environ["TABLE_NAME"] = table_of(arguments.stage)
    migrate(apply=arguments.apply, resume=arguments.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
