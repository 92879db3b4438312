"""Index partitions spread over shards.

DynamoDB serves about 1,000 write units a second per partition key value, on the table and on each index, and an
index that cannot keep up throttles the table's writes. A key every order shares and the order path writes (the
orders of one status, those awaiting payment) would cap the whole shop at what one partition takes. Such a key
is written as `<base>#<shard>`, the shard chosen from the item's own id (stable: an item stays in its shard as it
is updated), and read as the merge of every shard's Query in sort-key order.

Paging a merge needs no per-shard state: every sharded index's sort key ends with the item's id, so it is unique
in the base partition, and the next page is every shard's items strictly after the last one returned. The cursor
is that sort key, bound to the base partition and signed like every cursor.

The unsharded partition (`<base>` itself) is read as one more shard: items written before their key was sharded
stay listed until `python -m tools.migrate_shards` has moved them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import BadRequest

if TYPE_CHECKING:
    from chalicelib.core.dynamo import Page


_COUNTS: dict[str, int] = {}  # base -> shards, as written: what `make capacity` spreads a key's load over


def counts() -> dict[str, int]:
    """The shard count of every sharded base partition written in this process so far."""
    return dict(_COUNTS)


def shard_of(item_id: str, shards: int) -> int:
    """The shard an item's id falls in: stable, and even over ids however they are made."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=4).digest(), "big") % shards


def sharded(base: str, item_id: str, shards: int) -> str:
    """The partition key value an item of `base` is written under."""
    if shards <= 1:
        return base
    _COUNTS[base] = shards
    return f"{base}#{shard_of(item_id, shards):02d}"


def partitions(base: str, shards: int) -> list[str]:
    """Every partition a reader of `base` queries: the unsharded one (items from before), then each shard."""
    if shards <= 1:
        return [base]
    _COUNTS[base] = shards
    return [base, *(f"{base}#{shard:02d}" for shard in range(shards))]


def is_unsharded(value: str, base: str) -> bool:
    return value == base


def _invalid() -> BadRequest:
    return BadRequest("The cursor is invalid.", [{"field": "cursor", "location": "query", "issue": "invalid",
                                                  "message": "invalid cursor"}], code="INVALID_CURSOR")


def encode_cursor(after: str, base: str, forward: bool) -> str:
    from chalicelib.core import dynamo

    payload = json.dumps({"a": after, "p": base, "f": forward}, separators=(",", ":"), sort_keys=True)
    mac = hmac.new(dynamo.cursor_key(), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(f"{mac}{payload}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, base: str, forward: bool) -> str:
    from chalicelib.core import dynamo

    dynamo.cursor_key()  # a stage that cannot sign answers that, not "invalid cursor"
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        mac, payload = raw[:32], raw[32:]
        expected = hmac.new(dynamo.cursor_key(), payload.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(expected.encode(), mac.encode()):
            raise ValueError("signature")
        data = json.loads(payload)
        after = data["a"]
        if data["p"] != base or data["f"] is not forward or not isinstance(after, str) or not 0 < len(after) <= 1024:
            raise ValueError("another listing's")
    except Exception:
        raise _invalid() from None
    return after


def query_page(base: str, shards: int, *, index: str, limit: int = 20, cursor: str | None = None,
               forward: bool = True, sort_between: tuple[str, str] | None = None) -> Page:
    """One page of `base`'s items over all its shards, in sort-key order (ascending if `forward`), within
    `sort_between` (inclusive) if given: each shard's Query of at most `limit` items after the cursor, merged."""
    from chalicelib.core import dynamo

    after = decode_cursor(cursor, base, forward) if cursor else None
    low, high = sort_between if sort_between else (None, None)
    if after is not None:  # from the last item returned (inclusive, dropped below: sort keys are unique)
        low, high = (after, high) if forward else (low, after)
    _pk, sk_name = dynamo.INDEXES[index]
    merged: list[tuple[str, dict[str, Any]]] = []
    more = False
    for partition in partitions(base, shards):
        items, truncated = _query(partition, index, limit + (after is not None), forward, low, high)
        more = more or truncated
        merged.extend((item[sk_name], item) for item in items if item[sk_name] != after)
    merged.sort(key=lambda entry: entry[0], reverse=not forward)
    page = merged[:limit]
    next_cursor = encode_cursor(page[-1][0], base, forward) if page and (len(merged) > limit or more) else None
    return dynamo.Page(items=[item for _sort, item in page], next_cursor=next_cursor)


def _query(partition: str, index: str, limit: int, forward: bool, low: str | None,
           high: str | None) -> tuple[list[dict[str, Any]], bool]:
    """One shard's items within the bounds (inclusive), at most `limit`; and whether it holds more."""
    from chalicelib.core import dynamo

    pk_name, sk_name = dynamo.INDEXES[index]
    names = {"#pk": pk_name}
    values: dict[str, Any] = {":pk": {"S": partition}}
    condition = "#pk = :pk"
    if low is not None or high is not None:
        names["#sk"] = sk_name
    if low is not None and high is not None:
        condition += " AND #sk BETWEEN :lo AND :hi"
        values[":lo"], values[":hi"] = {"S": low}, {"S": high}
    elif low is not None:
        condition += " AND #sk >= :lo"
        values[":lo"] = {"S": low}
    elif high is not None:
        condition += " AND #sk <= :hi"
        values[":hi"] = {"S": high}
    result = dynamo.ddb().query(TableName=dynamo.table_name(), IndexName=index, KeyConditionExpression=condition,
                                ExpressionAttributeNames=names, ExpressionAttributeValues=values, Limit=limit,
                                ScanIndexForward=forward)
    return [dynamo.from_item(item) for item in result.get("Items", [])], bool(result.get("LastEvaluatedKey"))
