"""`make capacity` (tools/capacity.py): units as DynamoDB charges them, recorded per partition key value from
the items before and after each request, classed by the key design, and the ceilings and cost derived."""
from __future__ import annotations

import math

import pytest

from tools import capacity
from tools.capacity import (
    Index,
    Invocation,
    Load,
    Table,
    Usage,
    index_writes,
    item_size,
    key_rows,
    read_units,
    write_units,
    write_usage,
)


def S(text: str) -> dict[str, str]:
    return {"S": text}


GSI1 = Index("GSI1", "GSI1PK", "GSI1SK", "ALL", ("PK", "SK"))
TABLE = Table("shop", "PK", "SK", (GSI1, Index("GSI2", "GSI2PK", "GSI2SK", "KEYS_ONLY", ("PK", "SK"))))
KEY = {"PK": S("ORDER#1"), "SK": S("ORDER")}


def test_item_size_counts_names_and_values_as_dynamodb_does():
    assert item_size({"PK": S("ORDER#1")}) == 2 + 7
    assert item_size({"n": {"N": "123.450"}}) == 1 + 3 + 1  # five significant digits: three bytes, plus one
    assert item_size({"n": {"N": "-0.001"}}) == 1 + 1 + 1
    assert item_size({"ok": {"BOOL": True}, "no": {"NULL": True}}) == 2 + 1 + 2 + 1
    assert item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3
    assert item_size({"l": {"L": [S("ab"), {"N": "7"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"k": S("v")}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"ss": {"SS": ["é", "ab"]}}) == 2 + 2 + 2  # UTF-8 bytes
    assert item_size(None) == 0


def test_writes_cost_a_unit_a_kilobyte_and_reads_a_unit_four_kilobytes():
    assert [write_units(s) for s in (0, 1, 1024, 1025, 3000)] == [1, 1, 1, 2, 3]
    assert write_units(1025, transactional=True) == 4
    assert read_units(0, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(4097, consistent=False) == 1
    assert read_units(100, consistent=True, transactional=True) == 2


def test_an_index_is_written_when_an_item_enters_it_moves_in_it_leaves_it_or_changes_a_projected_attribute():
    listed = {**KEY, "GSI1PK": S("ORDERSTATUS#PENDING"), "GSI1SK": S("2026#1"), "total": {"N": "10"}}
    moved = {**listed, "GSI1PK": S("ORDERSTATUS#PAID")}
    assert index_writes(GSI1, None, listed) == [("ORDERSTATUS#PENDING", 1)]
    assert index_writes(GSI1, listed, KEY) == [("ORDERSTATUS#PENDING", 1)]
    assert index_writes(GSI1, listed, moved) == [("ORDERSTATUS#PENDING", 1), ("ORDERSTATUS#PAID", 1)]
    assert index_writes(GSI1, listed, {**listed, "total": {"N": "11"}}) == [("ORDERSTATUS#PENDING", 1)]
    assert index_writes(GSI1, listed, dict(listed)) == []
    assert index_writes(GSI1, KEY, {**KEY, "total": {"N": "1"}}) == []  # not in the (sparse) index
    keys_only = TABLE.index("GSI2")
    entry = {**KEY, "GSI2PK": S("PRODUCTS"), "GSI2SK": S("lamp")}
    assert index_writes(keys_only, {**entry, "stock": {"N": "5"}}, {**entry, "stock": {"N": "4"}}) == []


def test_a_write_of_one_and_a_half_kilobytes_costs_two_units_on_the_table_and_on_each_index_it_enters():
    item = {**KEY, "GSI1PK": S("OUTBOX"), "GSI1SK": S("e"), "body": S("x" * (1536 - item_size({**KEY, "GSI1PK": S("OUTBOX"),
                                                                                                   "GSI1SK": S("e"),
                                                                                                   "body": S("")})))}
    assert item_size(item) == 1536
    assert write_usage(TABLE, KEY, None, item, transactional=False, applied=True) == [
        Usage("table", "ORDER#1", wcu=2), Usage("GSI1", "OUTBOX", wcu=2)]
    assert write_usage(TABLE, KEY, None, item, transactional=True, applied=True) == [
        Usage("table", "ORDER#1", wcu=4), Usage("GSI1", "OUTBOX", wcu=2)]  # the transaction doubles the table's side


def test_an_index_move_costs_a_delete_on_the_old_partition_and_a_put_on_the_new_one():
    pending = {**KEY, "GSI1PK": S("ORDERSTATUS#PENDING"), "GSI1SK": S("2026#1"), "blob": S("y" * 1900)}  # under 2 KB
    paid = {**pending, "GSI1PK": S("ORDERSTATUS#PAID")}
    assert write_usage(TABLE, KEY, pending, paid, transactional=True, applied=True) == [
        Usage("table", "ORDER#1", wcu=4), Usage("GSI1", "ORDERSTATUS#PENDING", wcu=2), Usage("GSI1", "ORDERSTATUS#PAID", wcu=2)]


def test_eventually_consistent_reads_cost_half_and_transactional_reads_twice():
    assert [read_units(size, consistent=False) for size in (1, 4096, 4097, 8193)] == [0.5, 0.5, 1, 1.5]
    assert [read_units(size, consistent=True) for size in (1, 4096, 4097)] == [1, 1, 2]
    assert read_units(4097, consistent=True, transactional=True) == 4
    # a Query sums what its key condition reached before rounding: three 2 KB items are two units, not three
    items = [{"PK": S("p"), "b": S("z" * (2048 - 3))}] * 3
    assert capacity.query_usage("GSI1", "OUTBOX", items, consistent=False) == Usage("GSI1", "OUTBOX", rcu=1)


def test_a_transaction_doubles_the_table_write_and_not_the_index_write():
    after = {**KEY, "GSI1PK": S("OUTBOX"), "GSI1SK": S("2026#e")}
    assert write_usage(TABLE, KEY, None, after, transactional=True, applied=True) == [
        Usage("table", "ORDER#1", wcu=2), Usage("GSI1", "OUTBOX", wcu=1)]
    big = {**after, "blob": S("x" * 1500)}
    assert write_usage(TABLE, KEY, big, after, transactional=False, applied=True) == [
        Usage("table", "ORDER#1", wcu=2), Usage("GSI1", "OUTBOX", wcu=2)]  # the larger image counts


def test_a_refused_write_or_a_condition_check_costs_the_item_as_it_was_and_no_index():
    before = {**KEY, "GSI1PK": S("OUTBOX"), "GSI1SK": S("2026#e"), "stock": {"N": "3"}}
    assert write_usage(TABLE, KEY, before, {**KEY}, transactional=True, applied=False) == [
        Usage("table", "ORDER#1", wcu=2)]
    assert write_usage(TABLE, KEY, None, None, transactional=True, applied=False) == [
        Usage("table", "ORDER#1", wcu=2)]  # checking an item that is not there still costs the minimum


def test_a_write_changing_stock_is_a_stock_write():
    record = {"PK": S("STOCK#p.red"), "SK": S("STOCK"), "stock": {"N": "5"}}  # a variant's sale record
    sold = write_usage(TABLE, record, record, {**record, "stock": {"N": "4"}}, transactional=True, applied=True)
    renamed = write_usage(TABLE, record, record, {**record, "version": {"N": "2"}}, transactional=True, applied=True)
    assert sold[0].stock and not renamed[0].stock


def test_key_classes_come_from_the_key_design():
    from chalicelib.catalogue.keys import ALL_PRODUCTS, category_partition, product_pk
    from chalicelib.orders.keys import status_partition

    classify = capacity.Classifier(capacity.key_classes())
    assert classify(status_partition("PAID")) == "ORDERSTATUS#<status>"
    assert classify(product_pk("abc")) == "PRODUCT#<product_id>"
    assert classify(category_partition("kitchen")) == "CATEGORY#<category>"
    assert classify(ALL_PRODUCTS) == "PRODUCTS"
    assert classify("OUTBOX") == "OUTBOX" and classify("AUDITLOG") == "AUDITLOG"  # in core/outbox, audit/repository
    assert classify("AUDIT#ORDER#o1") == "AUDIT#<entity_type>#<entity_id>"
    # key functions made with `tagged("TAG")`, named as their callers name what they pass
    from chalicelib.catalogue.keys import stock_pk
    from chalicelib.orders.keys import allowance_pk, order_pk, user_orders_partition
    from chalicelib.payments.keys import REFUND_SK_PREFIX, payment_event_pk
    from chalicelib.shipping.keys import ALL_METHODS, method_pk
    from chalicelib.tax.keys import ALL_ZONES, zone_pk

    assert [classify(value) for value in (
        zone_pk("BE"), ALL_ZONES, method_pk("standard"), ALL_METHODS, stock_pk("p1.red"), payment_event_pk("evt_1"),
        f"{REFUND_SK_PREFIX}r1", order_pk("o1"), allowance_pk("u1"), user_orders_partition("u1"))] == [
        "TAXZONE#<zone>", "TAXZONES", "SHIPPINGMETHOD#<method_id>", "SHIPPINGMETHODS", "STOCK#<variant_id>",
        "PAYMENTEVENT#<provider_event_id>", "REFUND#<refund_id>", "ORDER#<order_id>", "UNPAID#<user_id>",
        "USERORDERS#<user_id>"]
    assert not classify.unclassified
    assert "no key module" in classify("SOMETHING-ELSE") and classify.unclassified == {"SOMETHING-ELSE"}


def test_a_key_added_to_a_keys_module_is_classified_without_editing_the_tool(tmp_path):
    (tmp_path / "widgets").mkdir(parents=True)
    (tmp_path / "widgets" / "keys.py").write_text(
        'SHELF = "WIDGETSHELF"\nPREFIX = "WIDGET#"\n\n\ndef widget_pk(widget_id):\n    return f"{PREFIX}{widget_id}"\n\n\n'
        'def bin_pk(colour, size):\n    return "BIN#" + colour + "#" + size\n\n\n'
        'crate_pk = tagged("CRATE")\nlabel_partition = tagged("LABEL")\n')
    (tmp_path / "widgets" / "service.py").write_text("def find(keys, label):\n    return keys.label_partition(label)\n")
    classify = capacity.Classifier(capacity.key_classes(tmp_path))
    assert [classify(v) for v in ("WIDGETSHELF", "WIDGET#w1", "BIN#red#xl", "CRATE#c1", "LABEL#fragile")] == [
        "WIDGETSHELF", "WIDGET#<widget_id>", "BIN#<colour>#<size>", "CRATE#<crate_id>", "LABEL#<label>"]


def _load(wcu=0.0, rcu=0.0, stock=0.0, orders=(1, 2)):
    """A partition's units per checkout, as two checkouts (of `orders`) took them."""
    return Load(wcu=2 * wcu, rcu=2 * rcu, stock_wcu=2 * stock, orders=set(orders), checkouts=2)


def test_the_ceiling_is_the_shared_partition_that_takes_the_fewest_checkouts():
    loads = {("GSI3", "OUTBOX"): _load(wcu=8), ("GSI2", "ORDERSTATUS#PAID"): _load(wcu=1),
             ("table", "ORDER#1"): _load(wcu=25, orders=(1,)), ("table", "PRODUCT#p"): _load(rcu=2)}
    rows = key_rows(loads, capacity.Classifier(capacity.key_classes()))
    limit = capacity.ceiling(rows)
    assert (limit.key_class, limit.index, limit.units, limit.max_per_s) == ("OUTBOX", "GSI3", "WCU", 125)
    by_class = {(r.key_class, r.units): r for r in rows}
    assert by_class[("PRODUCT#<product_id>", "RCU")].max_per_s == 1500  # 3,000 RCU/s over 2 per checkout
    own = by_class[("ORDER#<order_id>", "WCU")]
    assert (own.max_per_s, own.units_per_checkout) == (None, 50)  # one order's own: no ceiling; its order's units
    assert limit.partitions_for(10_000) == 80


def test_a_spread_skus_stock_items_are_one_load_each_taking_its_share(monkeypatch):
    """A hot SKU's runs, its stock on 1 item and on 20: each sale took 2 WCU from the item it chose (the sale record
    is the first of the 20) and read 0.5 RCU of each; the 20 items are one load, each its share."""
    from tools.capacity import Invocation, Usage

    monkeypatch.setattr(capacity, "STOCK_SPREAD", {"STOCK#v20": 20})
    run = []
    for order in range(1, 5):
        run.append(Invocation(capacity.hot_scenario(1), "checkout", "api_handler", order, usages=[
            Usage("table", "STOCK#v1", wcu=2, rcu=0.5, stock=True), Usage("GSI1", "CATEGORY#c", wcu=1)]))
        chosen = "STOCK#v20" if order == 1 else f"STOCK#v20#{order:02d}"
        run.append(Invocation(capacity.hot_scenario(20), "checkout", "api_handler", order, usages=[
            Usage("table", chosen, wcu=2, stock=True), Usage("GSI1", "CATEGORY#c", wcu=1),
            *(Usage("table", "STOCK#v20" if shard == 0 else f"STOCK#v20#{shard:02d}", rcu=0.5)
              for shard in range(20))]))
    classify = capacity.Classifier(capacity.key_classes())
    hot = capacity.hot_sku(run, classify, (1, 20), counts={"STOCK#v20": 20})
    assert hot["1"]["stock_limit"].max_per_s == 500  # 2 WCU a sale on one item
    stock = hot["20"]["stock_limit"]
    assert stock.key_class == "STOCK#<variant_id>#<shard of 20>"
    assert stock.units == "RCU" and stock.max_per_s == 6000  # every checkout reads each item: 0.5 RCU
    assert {r.units: r.max_per_s for r in hot["20"]["rows"] if r.key_class == stock.key_class}["WCU"] == 10_000
    assert hot["20"]["limit"].key_class == "CATEGORY#<category>"  # 1,000 checkouts/s: what limits it now
    with pytest.raises(capacity.ModelError):
        capacity.hot_sku([Invocation(capacity.HOT, "checkout", "api_handler", 1, usages=[Usage("table", "STOCK#v1",
                                                                                               rcu=1)])],
                         classify, (1,))


def test_a_missed_target_names_the_key_that_limits_it_and_the_next_step():
    loads = {("GSI3", "OUTBOX"): _load(wcu=8), ("table", "TAXZONE#BE"): _load(rcu=1.5),
             ("table", "STOCK#p"): _load(wcu=2, stock=2)}
    rows = key_rows(loads, capacity.Classifier(capacity.key_classes()))
    limit = capacity.limit_of(capacity.ceiling(rows), 10_000, rows, frozenset({"STOCK#<variant_id>"}))
    assert (limit["key_class"], limit["met"]) == ("OUTBOX", False)
    assert limit["next_step"].startswith("shard OUTBOX on GSI3 over >= 80 partition key values")
    below = {row["key_class"]: row for row in limit["below_target"]}
    assert below["TAXZONE#<zone>"]["max_per_s"] == 2000 and below["TAXZONE#<zone>"]["next_step"].startswith("cache")
    assert below["STOCK#<variant_id>"]["partitions_needed"] == 20
    assert "stockShards" in below["STOCK#<variant_id>"]["next_step"]
    met = capacity.limit_of(capacity.ceiling(rows), 100, rows)
    assert met["met"] and "next_step" not in met and not met["below_target"]


def test_an_order_costs_what_each_billed_item_counts_at_its_price():
    deployment = capacity.Deployment({"api_handler": 1024, "notify": 256}, "arm64", {"notify": 10}, 500, True)
    http = Invocation("shop", "POST /basket/checkout", "api_handler", 1, wall_ms=30.4, aws_ms=20.0, log_bytes=1000,
                      events=1, event_bytes=1000, usages=[Usage("table", "ORDER#1", wcu=4, rcu=1)])
    http.requests["dynamodb.TransactWriteItems"] = 1
    queued = Invocation("shop", "notify", "notify", 1, messages=2, wall_ms=5.0, aws_ms=5.0)
    usage = capacity.usage_per_order([http, queued], deployment)
    assert usage["api_gateway_requests"] == 1 and usage["lambda_requests"] == 1.2
    assert usage["sqs_requests"] == pytest.approx(2 * 1.2)  # sent by the rule, a receive and a delete per batch
    # its code's 10.4 ms on the CPU share 1,024 MB buys, the transaction's assumed wait, whole milliseconds
    assert usage["lambda_gb_seconds"] == pytest.approx(math.ceil(10.4 * 1769 / 1024 + 12) / 1000)
    assert usage["log_bytes"] == 1000 + 500 + 1.2 * capacity.LAMBDA_PLATFORM_LOG_BYTES
    priced = capacity.cost(usage, "arm64")
    assert priced["api_gateway"]["usd_per_1000_orders"] == pytest.approx(0.0035)
    assert priced["dynamodb_writes"]["usd_per_1000_orders"] == pytest.approx(4 * 0.625 / 1000)
    assert priced["eventbridge_events"]["usd_per_1000_orders"] == pytest.approx(0.001)


def test_the_recorder_charges_each_request_from_the_items_before_and_after_it(monkeypatch):
    import boto3
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                                               for n in ("PK", "SK", "GSI1PK", "GSI1SK")],
                         KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                         GlobalSecondaryIndexes=[{"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"},
                                                  "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                                                                {"AttributeName": "GSI1SK", "KeyType": "RANGE"}]}])
        recorder = capacity.Recorder(boto3.client("dynamodb", region_name="us-east-1"))
        big = "x" * 5000
        with recorder.installed(), recorder.operation("shop", "op", function="f", order=1) as invocation:
            ddb.put_item(TableName="t", Item={"PK": S("A#1"), "SK": S("A"), "GSI1PK": S("QUEUE"), "GSI1SK": S("1"),
                                              "body": S(big)})
            ddb.update_item(TableName="t", Key={"PK": S("A#1"), "SK": S("A")},
                            UpdateExpression="REMOVE GSI1PK, GSI1SK, body")
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": {"PK": S("B#1"), "SK": S("B"), "GSI1PK": S("QUEUE"),
                                                    "GSI1SK": S("2")}}},
                {"ConditionCheck": {"TableName": "t", "Key": {"PK": S("A#1"), "SK": S("A")},
                                    "ConditionExpression": "attribute_exists(PK)"}}])
            with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
                ddb.put_item(TableName="t", Item={"PK": S("B#1"), "SK": S("B")},
                             ConditionExpression="attribute_not_exists(PK)")
            ddb.get_item(TableName="t", Key={"PK": S("A#1"), "SK": S("A")}, ProjectionExpression="SK")
            ddb.query(TableName="t", IndexName="GSI1", KeyConditionExpression="GSI1PK = :q",
                      FilterExpression="GSI1SK = :none", ExpressionAttributeValues={":q": S("QUEUE"), ":none": S("z")})
        ddb.put_item(TableName="t", Item={"PK": S("C#1"), "SK": S("C")})  # outside an operation: not recorded
    assert invocation.usages == [
        Usage("table", "A#1", wcu=5), Usage("GSI1", "QUEUE", wcu=5),  # 5 KB in, on the table and the index
        Usage("table", "A#1", wcu=5), Usage("GSI1", "QUEUE", wcu=5),  # the larger image; its entry deleted
        Usage("table", "B#1", wcu=2), Usage("GSI1", "QUEUE", wcu=1),  # transactional Put: the table's side doubled
        Usage("table", "A#1", wcu=2),  # the ConditionCheck
        Usage("table", "B#1", wcu=1),  # refused: the item as it was
        Usage("table", "A#1", rcu=0.5),  # eventually consistent, whatever it projects
        Usage("GSI1", "QUEUE", rcu=0.5),  # what the key condition reached, before the filter
    ]
    assert invocation.requests == {"dynamodb.PutItem": 2, "dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1,
                                   "dynamodb.GetItem": 1, "dynamodb.Query": 1}
    assert [i.operation for i in recorder.invocations] == ["op"]


@pytest.fixture
def transactions_undo_their_own_items(monkeypatch):
    """For this test only, the emulator's DynamoDB as `make capacity` and the local stack run it
    (local/consistency.py): a transaction copies the items it names, not whole tables; a Query reads its partition."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    from local import consistency

    for owner, name in ((models, "copy"), (models.DynamoDBBackend, "transact_write_items"), (Table, "query")):
        monkeypatch.setattr(owner, name, getattr(owner, name))  # put back after the test
    consistency._undo_only_touched_items()
    consistency._query_only_what_a_key_can_match()


def test_make_capacity_records_an_orders_whole_life_and_writes_the_issues_shape(client,
                                                                                 transactions_undo_their_own_items):
    from app import app

    invocations = capacity.measure(client, orders=2, warm_up=False)
    result, text, classify = capacity.build(invocations, app)
    operations = {(i.scenario, i.operation) for i in invocations}
    for step in ("PUT /basket/items/{variant_id}", "PUT /basket/shipping-address", "PUT /basket/shipping-method",
                 "POST /basket/checkout", "create_orders", "record_audit", "notify", "POST /webhooks/payments",
                 "POST /admin/orders/{order_id}/shipments", capacity.SWEEP):
        assert (capacity.SHOP, step) in operations, step
    assert (capacity.UNPAID, "housekeeping (expires the unpaid order)") in operations
    assert (capacity.UNPAID, "payment_provider") in operations  # the cancelled order's intent
    assert {(capacity.REFUND, "POST /admin/orders/{order_id}/refunds"), (capacity.REFUND, "payment_provider")} \
        <= operations
    assert not classify.unclassified and not [i.unmodelled for i in invocations if i.unmodelled]
    assert set(result) == {"ceilings", "keys", "cost_per_1000_orders_usd", "cost_breakdown"}
    ceilings = result["ceilings"]
    assert set(ceilings) == {"shop_checkouts_per_s", "hot_sku_checkouts_per_s", "limited_by"}
    assert set(ceilings["hot_sku_checkouts_per_s"]) == {"1", "10", "20", "50"}
    shared = [row for row in result["keys"] if row["max_per_s"] is not None]
    assert ceilings["shop_checkouts_per_s"] == min(row["max_per_s"] for row in shared)
    assert all({"key_class", "index", "units_per_checkout", "max_per_s"} <= set(row) for row in result["keys"])
    # A hot SKU can never take more than the shop's shared keys allow; its stock writes were found.
    assert all(value <= ceilings["shop_checkouts_per_s"] for value in ceilings["hot_sku_checkouts_per_s"].values())
    assert ceilings["limited_by"]["hot_sku"]["1"]["stock_items"]["max_per_s"]
    # every order's index entries are shared (sharded keys: one class, each shard its share); the settings every
    # checkout reads are kept per container (core/read_cache.py), so the run reads each once: no order shares them
    shared_classes = {row["key_class"] for row in result["keys"] if row["shared"]}
    from chalicelib.core.outbox import SHARDS
    from chalicelib.orders.keys import STATUS_SHARDS

    assert {f"ORDERSTATUS#<status>#<shard of {STATUS_SHARDS}>", f"OUTBOX#<shard of {SHARDS}>"} <= shared_classes
    assert not {"TAXZONE#<zone>", "SHIPPINGMETHOD#<method_id>"} & shared_classes
    stock = ceilings["limited_by"]["hot_sku"]["1"]["stock_items"]
    assert stock["key_class"] == "STOCK#<variant_id>" and "measured" in ceilings["limited_by"]["stock_sharding"]
    spread = ceilings["limited_by"]["hot_sku"]["20"]["stock_items"]
    assert spread["key_class"] == "STOCK#<variant_id>#<shard of 20>"  # the code wrote its stock on several items
    assert ceilings["limited_by"]["hot_sku_stock_recorded"]["20"]["partitions"] > 1
    assert result["cost_per_1000_orders_usd"] > 0 and "Ceilings:" in text


def test_a_sharded_keys_shards_are_one_load_each_taking_its_share():
    from tools.capacity import Invocation, Usage, key_rows, loads, sharded_base

    counts = {"OUTBOX": 64}
    assert sharded_base("OUTBOX#07", counts) == ("OUTBOX", 64)
    assert sharded_base("OUTBOX", counts) is None and sharded_base("ORDER#12", counts) is None
    run = [Invocation("shop", "checkout", "api_handler", order, usages=[Usage("GSI3", f"OUTBOX#{shard}", wcu=2)])
           for order, shard in ((1, "03"), (2, "40"))]
    folded = loads(run, "shop", counts)
    assert set(folded) == {("GSI3", "OUTBOX#<shard>")}
    load = folded[("GSI3", "OUTBOX#<shard>")]
    assert load.shared and load.per_checkout(load.wcu) == 2 / 64  # each order's 2 units, on one of 64 shards
    (row,) = key_rows(folded, lambda partition: partition)
    assert row.max_per_s == 32_000  # 1,000 units a second per shard, 64 shards, 2 units an order
