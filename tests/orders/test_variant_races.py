"""Races for variants: the last units of one variant go to exactly that many buyers, its siblings untouched; a
restock racing a sale and a staff adjustment leave every unit counted."""
from __future__ import annotations

import threading

from tests.shop import race_checkouts


def _tee(stocks: list[int]):
    from chalicelib.catalogue.models import ProductCreate
    from chalicelib.composition import Services

    return Services().catalogue.create(ProductCreate.model_validate({
        "name": "Race tee", "category": "race", "options": [{"name": "Size", "values": ["S", "M", "L"][:len(stocks)]}],
        "variants": [{"sku": f"RACE-{size}-{id(stocks)}", "options": {"Size": size}, "stock": stock,
                      "prices": [{"currency": "EUR", "amount": 1000}, {"currency": "USD", "amount": 1100}]}
                     for size, stock in zip(["S", "M", "L"], stocks)]}), actor="admin")


def test_the_last_units_of_one_variant_go_to_exactly_that_many_buyers_and_its_siblings_keep_theirs(
        aws, atomic_dynamodb):
    from chalicelib.composition import Services
    from chalicelib.core.auth import Caller

    tee = _tee([3, 7])
    small, medium = tee.variants
    buyers = [Caller(user_id=f"v-buyer-{i}") for i in range(24)]
    for buyer in buyers:
        Services().baskets.set_quantity(buyer.user_id, small.id, 1)
    outcomes = race_checkouts(buyers)
    assert outcomes.count("bought") == 3 and len(outcomes) == 24, outcomes
    stocks = {v.id: v.stock for v in Services().catalogue.get(tee.id).variants}
    assert stocks == {small.id: 0, medium.id: 7}


def test_a_sale_and_a_staff_adjustment_of_one_variant_at_once_are_both_counted(aws, atomic_dynamodb):
    from chalicelib.catalogue.models import StockAdjustment
    from chalicelib.composition import Services
    from chalicelib.core.auth import Caller

    tee = _tee([10])
    (small,) = tee.variants
    buyers = [Caller(user_id=f"a-buyer-{i}") for i in range(6)]
    for buyer in buyers:
        Services().baskets.set_quantity(buyer.user_id, small.id, 1)
    done: list = []

    def adjust():
        done.append(Services().catalogue.adjust_variant_stock(tee.id, small.id, StockAdjustment(delta=5, reason="in"),
                                                              actor="admin"))

    staff = threading.Thread(target=adjust)
    staff.start()
    outcomes = race_checkouts(buyers)
    staff.join()
    assert len(done) == 1
    assert Services().catalogue.get(tee.id).variants[0].stock == 10 + 5 - outcomes.count("bought")
