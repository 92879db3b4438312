"""Sharded index partitions: written in the item's shard, read as one listing in sort-key order, page by page,
with nothing missed or repeated, items from before the sharding included."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.core import dynamo, shards
from chalicelib.core.errors import BadRequest

BASE = "TESTLIST"


def _put(base: str, item_id: str, sort_key: str, shard_count: int, *, legacy: bool = False) -> None:
    partition = base if legacy else shards.sharded(base, item_id, shard_count)
    dynamo.ddb().put_item(TableName=dynamo.table_name(), Item=dynamo.to_item(
        {"PK": f"THING#{item_id}", "SK": "THING", "GSI2PK": partition, "GSI2SK": sort_key}))


def _walk(limit: int, forward: bool, shard_count: int, sort_between=None) -> list[str]:
    seen, cursor = [], None
    for _ in range(200):
        page = shards.query_page(BASE, shard_count, index="GSI2", limit=limit, cursor=cursor, forward=forward,
                                 sort_between=sort_between)
        assert len(page.items) <= limit
        seen += [item["GSI2SK"] for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("the listing never ended")


def test_an_item_stays_in_its_shard_and_ids_spread_evenly():
    assert shards.sharded(BASE, "order-1", 32) == shards.sharded(BASE, "order-1", 32)
    counts = [0] * 32
    for number in range(6400):
        counts[shards.shard_of(f"{number:032x}", 32)] += 1
    assert min(counts) > 120 and max(counts) < 280, counts
    assert shards.sharded(BASE, "x", 1) == BASE  # one shard: the key as it always was


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pages_over_every_shard_list_each_item_once_in_order(client, data):
    shard_count = data.draw(st.sampled_from([2, 4, 32]))
    count = data.draw(st.integers(0, 45))
    rng = random.Random(data.draw(st.integers(0, 10_000)))
    base_items = []
    for number in range(count):
        item_id = f"{rng.getrandbits(64):016x}"
        sort_key = f"2026-12-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00.000Z#{item_id}"
        _put(BASE, item_id, sort_key, shard_count, legacy=number % 5 == 0)  # some from before the sharding
        base_items.append(sort_key)
    try:
        limit = data.draw(st.integers(1, 12))
        assert _walk(limit, True, shard_count) == sorted(base_items)
        assert _walk(limit, False, shard_count) == sorted(base_items, reverse=True)
        low, high = "2026-12-08", "2026-12-20"
        within = sorted(key for key in base_items if low <= key <= high)
        assert _walk(limit, True, shard_count, (low, high)) == within
    finally:
        for key in base_items:
            dynamo.ddb().delete_item(TableName=dynamo.table_name(), Key=dynamo.key(
                f"THING#{key.rsplit('#', 1)[1]}", "THING"))


def test_a_cursor_of_another_listing_or_edited_is_refused(client):
    for number in range(5):
        _put(BASE, f"item-{number}", f"2026-12-0{number + 1}#item-{number}", 4)
    page = shards.query_page(BASE, 4, index="GSI2", limit=2)
    assert page.next_cursor
    for other in (lambda: shards.query_page("OTHERLIST", 4, index="GSI2", limit=2, cursor=page.next_cursor),
                  lambda: shards.query_page(BASE, 4, index="GSI2", limit=2, cursor=page.next_cursor, forward=False),
                  lambda: shards.query_page(BASE, 4, index="GSI2", limit=2, cursor=page.next_cursor[:-2] + "xx")):
        with pytest.raises(BadRequest) as refused:
            other()
        assert refused.value.code == "INVALID_CURSOR"
