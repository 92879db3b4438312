"""The table helpers every repository shares: models from items, update expressions."""
from __future__ import annotations

import pytest
from pydantic import BaseModel

from chalicelib.core.dynamo import Update, model_from_item


class Thing(BaseModel):
    id: str
    name: str
    tags: list[str] = []


def test_a_model_from_an_item_leaves_the_tables_own_attributes_out():
    item = {"PK": "THING#1", "SK": "THING", "GSI1PK": "X", "type": "THING", "expiresAt": 1,
            "id": "1", "name": "mug", "tags": ["kitchen"]}
    assert model_from_item(Thing, item) == Thing(id="1", name="mug", tags=["kitchen"])
    assert model_from_item(Thing, item, name="cup").name == "cup"


def test_an_update_names_its_placeholders_after_the_attributes():
    request = (Update().set("name", "mug").add("version", 1).remove("GSI3PK", "GSI3SK")
               .request("#version = :seen", values={":seen": 3}))
    assert request == {
        "UpdateExpression": "SET #name = :name ADD #version :version REMOVE #GSI3PK, #GSI3SK",
        "ConditionExpression": "#version = :seen",
        "ExpressionAttributeNames": {"#name": "name", "#version": "version", "#GSI3PK": "GSI3PK",
                                     "#GSI3SK": "GSI3SK"},
        "ExpressionAttributeValues": {":name": {"S": "mug"}, ":version": {"N": "1"}, ":seen": {"N": "3"}},
    }


def test_none_removes_an_attribute_and_other_values_set_it():
    request = Update().set_or_remove({"line1": "1 Road", "line2": None}).request()
    assert request["UpdateExpression"] == "SET #line1 = :line1 REMOVE #line2"
    assert request["ExpressionAttributeValues"] == {":line1": {"S": "1 Road"}}


def test_lists_are_appended_to_and_defaults_set_only_where_absent():
    request = Update().append("payments", [{"id": "p1"}]).set_if_absent("default_id", "a1").request()
    assert request["UpdateExpression"] == ("SET #payments = list_append(if_not_exists(#payments, :empty), :payments), "
                                           "#default_id = if_not_exists(#default_id, :default_id)")


def test_one_attribute_given_two_values_gets_two_placeholders():
    request = Update().set("stock", 1).set_if_absent("stock", 2).request()
    assert request["ExpressionAttributeValues"] == {":stock": {"N": "1"}, ":stock_1": {"N": "2"}}


def test_a_path_into_nested_maps_names_each_of_its_keys():
    request = (Update().set(("images", "a1"), {"id": "a1"}).set(("images", "b2", "status"), "READY")
               .add("image_slots", 1).remove(("images", "c3")).request())
    assert request["UpdateExpression"] == ("SET #images.#a1 = :a1, #images.#b2.#status = :status "
                                           "ADD #image_slots :image_slots REMOVE #images.#c3")
    assert request["ExpressionAttributeNames"] == {"#images": "images", "#a1": "a1", "#b2": "b2",
                                                   "#status": "status", "#image_slots": "image_slots", "#c3": "c3"}


def test_a_key_that_is_no_plain_name_gets_a_placeholder_no_other_name_takes():
    request = Update().set(("images", "x-1"), 1).set("n1", 2).request()
    assert request["UpdateExpression"] == "SET #images.#n1 = :v0, #n1_ = :n1"
    assert request["ExpressionAttributeNames"] == {"#images": "images", "#n1": "x-1", "#n1_": "n1"}


def test_a_condition_cannot_take_over_the_updates_placeholders():
    with pytest.raises(ValueError):
        Update().set("status", "PAID").request("#status = :status", values={":status": "PENDING"})
    with pytest.raises(ValueError):
        Update().set("status", "PAID").request("#status = :from", names={"#status": "state"}, values={":from": "X"})
    with pytest.raises(ValueError):
        Update().request()


def test_an_update_round_trips_through_the_table(aws):
    from chalicelib.core.dynamo import conditional_update, ddb, key, put_if_absent, table_name

    put_if_absent({"PK": "THING#1", "SK": "THING", "id": "1", "name": "mug", "version": 1, "GSI3PK": "X"})
    done, item = conditional_update(
        Key=key("THING#1", "THING"),
        **Update().set_or_remove({"name": "cup", "colour": None}).add("version", 1).append("tags", ["new"])
        .remove("GSI3PK").request("#version = :seen", values={":seen": 1}))
    assert done and item == {"PK": "THING#1", "SK": "THING", "id": "1", "name": "cup", "version": 2, "tags": ["new"]}
    refused, as_was = conditional_update(Key=key("THING#1", "THING"), **Update().set("name", "bowl").request(
        "#version = :seen", names={"#version": "version"}, values={":seen": 1}))
    assert not refused and as_was["name"] == "cup"
    assert ddb().get_item(TableName=table_name(), Key=key("THING#1", "THING"))["Item"]["name"] == {"S": "cup"}


def test_a_map_of_images_is_changed_through_paths_in_the_table(aws):
    from chalicelib.core.dynamo import conditional_update, key, put_if_absent

    put_if_absent({"PK": "THING#1", "SK": "THING", "images": {}, "image_slots": 0})
    thing = key("THING#1", "THING")
    conditional_update(Key=thing, **Update().set(("images", "a-1"), {"status": "PENDING"}).add("image_slots", 1)
                       .request("#image_slots < :max", values={":max": 10}))
    done, item = conditional_update(Key=thing, **Update().set(("images", "a-1", "status"), "READY").request(
        "#images.#image.#status = :pending", names={"#image": "a-1"}, values={":pending": "PENDING"}))
    assert done and item["images"] == {"a-1": {"status": "READY"}} and item["image_slots"] == 1
    done, item = conditional_update(Key=thing, **Update().remove(("images", "a-1")).add("image_slots", -1).request())
    assert done and item["images"] == {} and item["image_slots"] == 0


class Taken(Exception):
    def __init__(self, found=None):
        self.found = found


class Short(Exception):
    pass


def test_a_refused_transaction_raises_what_its_first_refused_write_names_with_the_item_as_found(aws):
    from chalicelib.core.dynamo import Update, check, put, put_if_absent, transact, update

    put_if_absent({"PK": "THING#1", "SK": "THING", "stock": 1})
    put_if_absent({"PK": "THING#2", "SK": "THING", "stock": 0})
    short = update("THING#2", "THING", Update().add("stock", -1), "#stock >= :one", values={":one": 1},
                   refused=Short)
    taken = put({"PK": "THING#1", "SK": "THING", "stock": 9}, refused=lambda found: Taken(found))
    with pytest.raises(Taken) as raised:  # both refused: the first listed says what it means
        transact([taken, short, check("THING#3", "THING", "attribute_exists(PK)")])
    assert raised.value.found == {"PK": "THING#1", "SK": "THING", "stock": 1}
    with pytest.raises(Short):
        transact([short, taken])


def test_a_refusal_of_the_nth_write_raises_that_writes_own_exception_whatever_stands_before_it(aws):
    from chalicelib.core.dynamo import Update, check, ddb, key, put, put_if_absent, table_name, transact, update

    class Fourth(Exception):
        def __init__(self, found):
            self.found = found

    put_if_absent({"PK": "THING#4", "SK": "THING", "stock": 0})
    writes = [put({"PK": f"THING#{number}", "SK": "THING"}, refused=Taken) for number in (1, 2, 3)]
    writes.append(update("THING#4", "THING", Update().add("stock", -1), "#stock >= :one", values={":one": 1},
                         refused=lambda found: Fourth(found)))
    writes.append(check("THING#9", "THING", "attribute_not_exists(PK)", refused=Short))
    with pytest.raises(Fourth) as raised:
        transact(writes)
    assert raised.value.found == {"PK": "THING#4", "SK": "THING", "stock": 0}
    assert all("Item" not in ddb().get_item(TableName=table_name(), Key=key(f"THING#{n}", "THING")) for n in (1, 2, 3))


def test_every_refused_write_of_a_gathered_kind_is_held_by_the_one_refusal_raised(aws):
    from chalicelib.core.dynamo import Gathered, Update, put, put_if_absent, transact, update

    class Lines(Gathered):
        pass

    for number, stock in ((1, 0), (2, 5), (3, 0)):
        put_if_absent({"PK": f"THING#{number}", "SK": "THING", "stock": stock})

    def take(number):
        return update(f"THING#{number}", "THING", Update().add("stock", -1), "#stock >= :one", values={":one": 1},
                      refused=lambda found: Lines((number, found["stock"])))

    with pytest.raises(Lines) as raised:
        transact([take(1), take(2), take(3), put({"PK": "THING#2", "SK": "OTHER"}, "attribute_exists(PK)",
                                                 refused=Short)])
    assert raised.value.parts == [(1, 0), (3, 0)]


def test_a_refused_write_that_names_no_refusal_is_rejected_plainly_and_writes_nothing(aws):
    from chalicelib.core.dynamo import TransactionRejected, check, ddb, key, put, table_name, transact, update, write

    with pytest.raises(TransactionRejected):
        transact([put({"PK": "THING#1", "SK": "THING"}), check("THING#9", "THING", "attribute_exists(PK)")])
    assert "Item" not in ddb().get_item(TableName=table_name(), Key=key("THING#1", "THING"))
    write(put({"PK": "THING#1", "SK": "THING"}))
    with pytest.raises(TransactionRejected):
        write(put({"PK": "THING#1", "SK": "THING"}))
    with pytest.raises(Taken) as raised:
        write(update("THING#1", "THING", Update().set("n", 1), "attribute_not_exists(PK)",
                     refused=lambda found: Taken(found)))
    assert raised.value.found == {"PK": "THING#1", "SK": "THING"}


def test_a_batch_read_retries_what_dynamodb_leaves_unprocessed_and_names_what_it_never_read(monkeypatch):
    from chalicelib.core import dynamo

    requests: list[dict] = []
    stored = {("A#1", "A"): {"PK": {"S": "A#1"}, "SK": {"S": "A"}, "n": {"N": "1"}}}

    class Throttled:  # answers the first key of each call, leaves the rest unprocessed
        def batch_get_item(self, RequestItems):
            requests.append(RequestItems)
            wanted = next(iter(RequestItems.values()))
            first, *rest = wanted["Keys"]
            answered = [stored[k] for k in [(first["PK"]["S"], first["SK"]["S"])] if k in stored]
            left = {dynamo.table_name(): {**wanted, "Keys": rest}} if rest else {}
            return {"Responses": {dynamo.table_name(): answered}, "UnprocessedKeys": left}

    monkeypatch.setattr(dynamo, "ddb", Throttled)
    found = dynamo.batch_get([("A#1", "A"), ("B#1", "B"), ("C#1", "C"), ("A#1", "A")], attempts=2,
                             consistent=True, projection="n")
    assert found == {("A#1", "A"): {"PK": "A#1", "SK": "A", "n": 1}}  # B: read and absent
    assert found.unprocessed == {("C#1", "C")}  # never read: neither found nor known to be absent
    assert len(requests) == 2 and all(r[dynamo.table_name()]["ConsistentRead"] is True for r in requests)
    assert requests[0][dynamo.table_name()]["ProjectionExpression"] == "PK, SK, n"


def test_a_batch_read_finds_items_in_the_table(aws):
    from chalicelib.core.dynamo import batch_get, put_if_absent

    put_if_absent({"PK": "THING#1", "SK": "THING", "name": "mug", "colour": "red"})
    found = batch_get([("THING#1", "THING"), ("THING#2", "THING")], consistent=True, projection="colour")
    assert found == {("THING#1", "THING"): {"PK": "THING#1", "SK": "THING", "colour": "red"}}
    assert found.unprocessed == set()
