"""A variant's stock spread over several stock items (`stockShards`): sales take from items chosen at random, the
last unit still goes to one buyer, restocks land on an item, the sweep evens them out, reads show the sum, and
changing the count never changes the total."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.catalogue import keys, stock
from tests.fakes import ADMIN, auth
from tests.shop import call, checkout, product, put_in_basket, race_checkouts, stock_of, sweep

ANN = auth("ann")


def held(variant_id: str) -> dict[int, int]:
    """What each of the variant's stock items holds, read from the table as it is."""
    import boto3

    from chalicelib.core.dynamo import table_name

    found: dict[int, int] = {}
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table_name()):
        for item in page["Items"]:
            pk = item["PK"]["S"]
            if (pk == keys.stock_pk(variant_id) or pk.startswith(keys.stock_pk(variant_id) + "#")) \
                    and item["SK"]["S"] == keys.STOCK_SK:
                found[keys.stock_item_of(pk)[1]] = int(item["stock"]["N"])
    return found


def spread(client, product_id: str, shards: int, variant: dict | None = None) -> dict:
    variant = variant or call(client, "get", f"/products/{product_id}").json["variants"][0]
    answer = call(client, "patch", f"/products/{product_id}/variants/{variant['id']}",
                  {"stockShards": shards, "version": variant["version"]}, ADMIN)
    assert answer.status_code == 200, answer.body
    return answer.json


# --- the decisions, on any figures ----------------------------------------------------------------

held_figures = st.dictionaries(st.integers(0, 49), st.integers(0, 30), min_size=1, max_size=50)


@settings(max_examples=200, deadline=None)
@given(held_figures, st.integers(1, 60), st.randoms(use_true_random=False))
def test_a_sale_takes_what_it_asks_from_items_holding_it_or_is_refused_only_when_all_hold_less(held, quantity, rng):
    plan = stock.take(held, quantity, rng)
    if sum(held.values()) < quantity:
        assert plan is None
        return
    assert plan is not None and sum(plan.values()) == quantity
    assert all(0 < units <= held[shard] for shard, units in plan.items())
    if any(units >= quantity for units in held.values()):
        assert len(plan) == 1  # one item when one holds enough


@settings(max_examples=200, deadline=None)
@given(held_figures, st.integers(1, 50))
def test_evening_out_keeps_the_total_and_leaves_retired_items_empty(held, active):
    taken, given_ = stock.moves(held, active)
    assert sum(taken.values()) == sum(given_.values())
    after = {shard: held.get(shard, 0) - taken.get(shard, 0) + given_.get(shard, 0)
             for shard in set(held) | set(range(active))}
    assert sum(after.values()) == sum(held.values())
    assert all(units == 0 for shard, units in after.items() if shard >= active)
    on_active = [after[shard] for shard in range(active)]
    assert max(on_active) - min(on_active) <= 1
    assert not stock.unbalanced(after, active)


def test_choices_spread_over_the_items():
    rng = random.Random(7)
    chosen = {next(iter(stock.take({shard: 10 for shard in range(20)}, 1, rng))) for _ in range(400)}
    assert chosen == set(range(20))
    assert {stock.landing(20, rng) for _ in range(400)} == set(range(20))


# --- through the shop -------------------------------------------------------------------------------

def test_staff_spread_a_variants_stock_and_the_total_never_changes(client):
    mug = product(client, stock=103)
    variant = spread(client, mug["id"], 20)
    assert variant["stockShards"] == 20
    assert stock_of(client, mug["id"]) == 103
    figures = held(mug["id"])
    assert len(figures) == 20 and sum(figures.values()) == 103 and max(figures.values()) - min(figures.values()) <= 1
    # Fewer items: the retired ones are emptied onto the rest, still counted until then.
    spread(client, mug["id"], 3)
    figures = held(mug["id"])
    assert sum(figures.values()) == 103 and all(figures[shard] == 0 for shard in range(3, 20))
    assert stock_of(client, mug["id"]) == 103
    shown = call(client, "get", f"/products/{mug['id']}").json["variants"][0]
    assert shown["stockShards"] == 3 and "stockItems" not in shown and "held" not in shown


@pytest.mark.parametrize("shards", [0, 51, "2", None])
def test_a_shard_count_out_of_range_is_refused(client, shards):
    mug = product(client)
    variant = mug["variants"][0]
    answer = call(client, "patch", f"/products/{mug['id']}/variants/{variant['id']}",
                  {"stockShards": shards, "version": variant["version"]}, ADMIN)
    assert answer.status_code in (400, 422) and answer.json["error"]["code"] in ("VALIDATION_FAILED", "BAD_REQUEST")


def test_a_customer_cannot_spread_stock(client):
    mug = product(client)
    variant = mug["variants"][0]
    answer = call(client, "patch", f"/products/{mug['id']}/variants/{variant['id']}",
                  {"stockShards": 5, "version": variant["version"]}, ANN)
    assert answer.status_code == 403


def test_a_buyer_is_served_from_several_items_when_no_one_holds_enough(client):
    mug = product(client, stock=10)
    spread(client, mug["id"], 5)  # two on each
    put_in_basket(client, ANN, mug["id"], 7)
    assert checkout(client, ANN).status_code == 202
    assert stock_of(client, mug["id"]) == 3
    assert sum(held(mug["id"]).values()) == 3


def test_a_buyer_is_refused_only_when_the_variant_holds_less_than_asked(client):
    mug = product(client, stock=10)
    spread(client, mug["id"], 5)
    put_in_basket(client, ANN, mug["id"], 10)
    from chalicelib.catalogue.repository import ProductRepository

    ProductRepository().adjust_stock(mug["id"], -1)  # sold elsewhere, after the basket was filled
    refused = checkout(client, ANN)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "OUT_OF_STOCK"
    (problem,) = refused.json["error"]["details"]
    assert problem["available"] == 9 and problem["requested"] == 10


def test_items_emptied_between_the_read_and_the_sale_are_chosen_again(client, between):
    """Other buyers empty the items this checkout chose after it read them: it reads again and buys from the
    rest, since the variant still holds what it asks for."""
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.core import dynamo
    from chalicelib.orders.repository import CheckoutRepository

    mug = product(client, stock=6)
    spread(client, mug["id"], 3)  # 2, 2, 2
    put_in_basket(client, ANN, mug["id"], 2)

    def others_buy_two_items_empty():
        for shard in (0, 1):
            dynamo.write(dynamo.update(keys.stock_item_pk(mug["id"], shard), keys.STOCK_SK,
                                       dynamo.Update().add("stock", -2)))

    between(CheckoutRepository, "commit", others_buy_two_items_empty)
    random.seed(3)
    assert checkout(client, ANN).status_code == 202
    assert held(mug["id"]) == {0: 0, 1: 0, 2: 0}
    assert ProductRepository().get(mug["id"]).variants[0].stock == 0


def test_the_last_units_go_to_exactly_as_many_buyers_over_twenty_items(aws, atomic_dynamodb):
    from chalicelib.catalogue.models import ProductCreate, VariantPatch
    from chalicelib.composition import Services
    from chalicelib.core.auth import Caller

    drop = Services().catalogue.create(ProductCreate(name="Drop", category="rare", price=999, currency="EUR",
                                                     stock=7), actor="admin")
    variant = drop.variants[0]
    Services().catalogue.update_variant(drop.id, variant.id, VariantPatch(stock_shards=20, version=variant.version),
                                        actor="admin")
    buyers = [Caller(user_id=f"buyer-{i}") for i in range(30)]
    for buyer in buyers:
        Services().baskets.set_quantity(buyer.user_id, drop.id, 1)
    outcomes = race_checkouts(buyers)
    assert outcomes.count("bought") == 7, outcomes
    assert set(outcomes) <= {"bought", "OUT_OF_STOCK", "CHECKOUT_CONFLICT"}
    figures = held(drop.id)
    assert sum(figures.values()) == 0 and min(figures.values()) == 0


def test_restocks_land_on_an_item_and_the_sweep_evens_them_out(client):
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.core.dynamo import transact
    from chalicelib.core.lines import Line

    mug = product(client, stock=0)
    spread(client, mug["id"], 4)
    products = ProductRepository()
    for _ in range(3):
        transact([products.restock_in_transaction(Line(mug["id"], 4))])
    assert sum(held(mug["id"]).values()) == 12
    report = sweep(client)
    assert report["failures"] == 0
    assert held(mug["id"]) == {0: 3, 1: 3, 2: 3, 3: 3}
    assert sweep(client)["stockMoved"] == 0  # even already


def test_staff_adjustments_of_spread_stock(client):
    mug = product(client, stock=8)
    spread(client, mug["id"], 4)
    variant_id = mug["variants"][0]["id"]
    path = f"/products/{mug['id']}/variants/{variant_id}/stock"
    assert call(client, "post", path, {"delta": -7, "reason": "damaged"}, ADMIN).json["stock"] == 1
    assert sum(held(mug["id"]).values()) == 1
    refused = call(client, "post", path, {"delta": -2, "reason": "damaged"}, ADMIN)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "INSUFFICIENT_STOCK"
    assert call(client, "post", path, {"delta": 5, "reason": "found"}, ADMIN).json["stock"] == 6
    assert stock_of(client, mug["id"]) == 6


def test_price_and_archiving_reach_every_item(client):
    mug = product(client, stock=9, price=1000)
    variant = spread(client, mug["id"], 3)
    put_in_basket(client, ANN, mug["id"], 1)
    repriced = call(client, "patch", f"/products/{mug['id']}/variants/{variant['id']}",
                    {"prices": [{"currency": "EUR", "amount": 1200}], "version": variant["version"]}, ADMIN)
    assert repriced.status_code == 200
    bought = checkout(client, ANN)
    assert bought.status_code == 202, bought.body  # the basket prices it anew; every item took the new price
    assert call(client, "delete", f"/products/{mug['id']}", headers=ADMIN).status_code == 200
    from chalicelib.core import dynamo

    for shard in range(3):
        record = dynamo.from_item(dynamo.get(keys.stock_item_pk(mug["id"], shard), keys.STOCK_SK))
        assert record["sellable"] is False and record["prices"] == {"EUR": 1200}


def test_evening_out_gives_up_when_a_sale_gets_in_between_and_the_next_sweep_does_it(client, between):
    """A sale between the sweep's read of the items and its moves: the moves are refused (each conditioned on what
    its item held), nothing is lost or made, and the next sweep evens them out."""
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.core import dynamo
    from chalicelib.core.dynamo import transact
    from chalicelib.core.lines import Line

    mug = product(client, stock=0)
    spread(client, mug["id"], 4)
    transact([ProductRepository().restock_in_transaction(Line(mug["id"], 8))])  # all 8 land on one item
    shard, units = next((s, u) for s, u in held(mug["id"]).items() if u)

    def a_sale():
        dynamo.write(dynamo.update(keys.stock_item_pk(mug["id"], shard), keys.STOCK_SK,
                                   dynamo.Update().add("stock", -1)))

    between(dynamo, "transact", a_sale)
    assert ProductRepository().even_out(mug["id"], mug["id"]) == 0
    assert sum(held(mug["id"]).values()) == 7
    assert sweep(client)["stockMoved"] > 0
    assert sorted(held(mug["id"]).values()) == [1, 2, 2, 2]


def test_a_stale_version_cannot_change_the_spread(client):
    mug = product(client, stock=5)
    variant = mug["variants"][0]
    spread(client, mug["id"], 3, variant)
    stale = call(client, "patch", f"/products/{mug['id']}/variants/{variant['id']}",
                 {"stockShards": 10, "version": variant["version"]}, ADMIN)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "VERSION_CONFLICT"
    assert len(held(mug["id"])) == 3 and stock_of(client, mug["id"]) == 5


def test_a_copy_from_before_staff_added_items_never_refuses_a_buyer(client):
    """This container's copy of a drop's product says 2 items; staff (elsewhere) spread it over 6 and the units
    moved to the new ones: the checkout reads the product again before refusing, and sells."""
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.core import dynamo, read_cache

    mug = product(client, stock=6)
    spread(client, mug["id"], 2)
    key = (keys.product_pk(mug["id"]), "PRODUCT")
    copy = dynamo.from_item(dynamo.get(*key, consistent=True))
    spread(client, mug["id"], 6)
    read_cache.keep([key], {key: copy})  # the old copy, as another container would still hold it
    for shard in (0, 1):  # what the first two items held went to the others
        record = dynamo.from_item(dynamo.get(keys.stock_item_pk(mug["id"], shard), keys.STOCK_SK, consistent=True))
        if record["stock"]:
            dynamo.write(dynamo.update(keys.stock_item_pk(mug["id"], shard), keys.STOCK_SK,
                                       dynamo.Update().add("stock", -int(record["stock"]))))
            dynamo.write(dynamo.update(keys.stock_item_pk(mug["id"], 5), keys.STOCK_SK,
                                       dynamo.Update().add("stock", int(record["stock"]))))
    put_in_basket(client, ANN, mug["id"], 3)
    read_cache.keep([key], {key: copy})
    assert checkout(client, ANN).status_code == 202
    assert ProductRepository().get(mug["id"]).variants[0].stock == 3
