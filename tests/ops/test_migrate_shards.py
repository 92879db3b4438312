"""Moving orders' index entries from before the sharding into their shards: a dry run first, resumable,
idempotent, never overwriting what an order's own writer changed meanwhile; the listings serve throughout."""
from __future__ import annotations

from chalicelib.core import dynamo
from chalicelib.orders import keys
from tests.fakes import ADMIN, auth
from tests.shop import call, placed_order
from tools.migrate_shards import migrate

ANN = auth("ann")


def _unshard(order_id: str) -> dict:
    """The order's index entries as written before their keys were sharded."""
    item = dynamo.from_item(dynamo.ddb().get_item(TableName=dynamo.table_name(),
                                                  Key=dynamo.key(keys.order_pk(order_id), keys.ORDER_SK))["Item"])
    update = {"GSI2PK": keys.status_partition(item["status"])}
    if item.get("GSI3PK"):
        update["GSI3PK"] = item["GSI3PK"].rsplit("#", 1)[0]
    dynamo.ddb().update_item(TableName=dynamo.table_name(), Key=dynamo.key(keys.order_pk(order_id), keys.ORDER_SK),
                             **dynamo.Update().set_all(update).request())
    return update


def _index_keys(order_id: str) -> tuple[str, str | None]:
    item = dynamo.from_item(dynamo.ddb().get_item(TableName=dynamo.table_name(),
                                                  Key=dynamo.key(keys.order_pk(order_id), keys.ORDER_SK))["Item"])
    return item["GSI2PK"], item.get("GSI3PK")


def test_a_dry_run_then_a_resumed_run_moves_each_entry_once_and_the_listing_never_misses_one(client, tmp_path):
    orders = [placed_order(client, ANN)[0] for _ in range(4)]
    for order in orders:
        assert _unshard(order["id"])["GSI2PK"] == "ORDERSTATUS#PENDING"
    listed = {o["id"] for o in call(client, "get", "/admin/orders?status=PENDING", headers=ADMIN).json["items"]}
    assert listed == {order["id"] for order in orders}  # unsharded entries are listed before they move

    said: list[str] = []
    dry = migrate(dynamo.ddb(), dynamo.table_name(), apply=False, say=said.append)
    assert dry["found"] == {"ORDERSTATUS#<status>": 4, "PAYMENTDUE": 4} and dry["moved"] == {}
    assert _index_keys(orders[0]["id"]) == ("ORDERSTATUS#PENDING", "PAYMENTDUE")  # a dry run writes nothing

    state = tmp_path / "position.json"
    first = migrate(dynamo.ddb(), dynamo.table_name(), apply=True, state=state, page_size=3, max_pages=1,
                    say=said.append)
    assert not first["finished"] and state.exists()
    rest = migrate(dynamo.ddb(), dynamo.table_name(), apply=True, state=state, page_size=3, say=said.append)
    assert rest["finished"] and not state.exists()
    moved = sum(first["moved"].values()) + sum(rest["moved"].values())
    assert moved == 8
    for order in orders:
        assert _index_keys(order["id"]) == (keys.status_shard("PENDING", order["id"]),
                                            keys.payment_due_shard(order["id"]))
    again = migrate(dynamo.ddb(), dynamo.table_name(), apply=True, say=said.append)
    assert again["found"] == {} and again["moved"] == {}  # idempotent
    listed = {o["id"] for o in call(client, "get", "/admin/orders?status=PENDING", headers=ADMIN).json["items"]}
    assert listed == {order["id"] for order in orders}


def test_an_order_its_writer_moved_meanwhile_is_left_as_the_writer_left_it(client, monkeypatch):
    order, _ = placed_order(client, ANN)
    _unshard(order["id"])
    real_update = dynamo.ddb().update_item
    ddb = dynamo.ddb()

    class Racing:
        """The order is cancelled between the migration's read and its write."""

        def __getattr__(self, name):
            return getattr(ddb, name)

        def update_item(self, **request):
            if not getattr(self, "raced", False):
                self.raced = True
                assert call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN).status_code == 200
            return real_update(**request)

    report = migrate(Racing(), dynamo.table_name(), apply=True, say=lambda line: None)
    assert sum(report["changed_meanwhile"].values()) >= 1
    assert _index_keys(order["id"])[0] == keys.status_shard("CANCELLED", order["id"])
