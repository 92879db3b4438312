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


def test_outbox_audit_and_basket_entries_from_before_are_served_then_moved(client, published):
    from chalicelib.audit.repository import LOG_PARTITION, LOG_SHARDS
    from chalicelib.basket import keys as basket_keys
    from chalicelib.core import outbox
    from chalicelib.core.events import envelope
    from chalicelib.core.shards import sharded
    from chalicelib.users.events import UserRegistered

    event = envelope(UserRegistered(user_id="ann-before"), actor="ann-before")
    kept = {"PK": f"OUTBOX#{event.id}", "SK": "EVENT", "type": "OUTBOX", "outbox_event": event.model_dump_json(),
            "GSI3PK": "OUTBOX", "GSI3SK": f"{event.occurredAt}#{event.id}"}
    audited = {"PK": "AUDITEVENT#evt-before", "SK": "AUDIT", "type": "AUDIT", "event_id": "evt-before",
               "action": "UserRegistered", "entity_type": "USER", "entity_id": "ann-before", "actor": "ann-before",
               "summary": {}, "at": "2026-12-01T00:00:00.000Z", "expiresAt": 4102444800,
               "GSI1PK": LOG_PARTITION, "GSI1SK": "2026-12-01T00:00:00.000Z#evt-before",
               "GSI2PK": "AUDIT#USER#ann-before", "GSI2SK": "2026-12-01T00:00:00.000Z#evt-before"}
    basket = {"PK": "USER#bob-before", "SK": "BASKET", "type": "BASKET", "user_id": "bob-before", "lines": {},
              "version": 1, "updated_at": "2026-12-01T00:00:00.000Z", "expiresAt": 4102444800,
              "GSI3PK": "BASKETEXPIRY", "GSI3SK": "2099-01-01T00:00:00.000Z#bob-before"}
    for item in (kept, audited, basket):
        dynamo.ddb().put_item(TableName=dynamo.table_name(), Item=dynamo.to_item(item))
    answered = call(client, "get", "/admin/audit", headers=ADMIN)
    assert answered.status_code == 200, answered.body
    listed = answered.json["items"]
    assert "evt-before" in [record["eventId"] for record in listed]  # read from the unsharded partition
    assert [e.id for _, _, e in outbox.unpublished(__import__("datetime").timedelta(0))] == [event.id]

    report = migrate(dynamo.ddb(), dynamo.table_name(), apply=True, say=lambda line: None)
    assert report["moved"] == {"OUTBOX": 1, LOG_PARTITION: 1, "BASKETEXPIRY": 1}

    def stored(pk, sk):
        return dynamo.from_item(dynamo.ddb().get_item(TableName=dynamo.table_name(), Key=dynamo.key(pk, sk))["Item"])

    assert stored(kept["PK"], "EVENT")["GSI3PK"] == sharded("OUTBOX", event.id, outbox.SHARDS)
    assert stored(audited["PK"], "AUDIT")["GSI1PK"] == sharded(LOG_PARTITION, "evt-before", LOG_SHARDS)
    assert stored(basket["PK"], "BASKET")["GSI3PK"] == basket_keys.expiry_shard("bob-before")
    assert [e.id for _, _, e in outbox.unpublished(__import__("datetime").timedelta(0))] == [event.id]
    assert "evt-before" in [r["eventId"] for r in call(client, "get", "/admin/audit", headers=ADMIN).json["items"]]
