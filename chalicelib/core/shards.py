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

import hashlib
from typing import TYPE_CHECKING, Any

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


def encode_cursor(after: str, base: str, forward: bool) -> str:
    from chalicelib.core import dynamo

    return dynamo.sign_cursor({"a": after, "p": base, "f": forward})


def decode_cursor(cursor: str, base: str, forward: bool) -> str:
    from chalicelib.core import dynamo

    data = dynamo.open_cursor(cursor)
    after = data.get("a")
    if data.get("p") != base or data.get("f") is not forward or not isinstance(after, str) \
            or not 0 < len(after) <= 1024:  # another listing's, or of the other direction
        raise dynamo.invalid_cursor()
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
    bounds = {"sort_between": (low, high)} if low is not None and high is not None else \
        {"sort_from": low} if low is not None else {"sort_to": high} if high is not None else {}
    merged: list[tuple[str, dict[str, Any]]] = []
    more = False
    for partition in partitions(base, shards):
        shard = dynamo.query_page(partition, index=index, limit=limit + (after is not None), forward=forward,
                                  **bounds)
        more = more or shard.next_cursor is not None
        merged.extend((item[sk_name], item) for item in shard.items if item[sk_name] != after)
    merged.sort(key=lambda entry: entry[0], reverse=not forward)
    page = merged[:limit]
    next_cursor = encode_cursor(page[-1][0], base, forward) if page and (len(merged) > limit or more) else None
    return dynamo.Page(items=[item for _sort, item in page], next_cursor=next_cursor)
