"""Promotion codes: what staff define, what a basket shows, what a checkout redeems and an unpaid order gives back."""
from __future__ import annotations

from unittest import mock

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import (call, checkout, deliver, eventbridge_body, pay, product, put_in_basket, race_checkouts,
                        stock_of, sweep)

ANN = auth("ann")
BOB = auth("bob")
PAST = "2020-01-01T00:00:00.000Z"
NOT_APPLICABLE = "PROMOTION_NOT_APPLICABLE"
FUTURE = "2999-01-01T00:00:00.000Z"


def promotion(client, code="SAVE10", **fields):
    body = {"code": code, "percentOff": 10, "oncePerCustomer": False, **fields}
    if "amountOff" in fields:
        body.pop("percentOff")
    response = call(client, "post", "/admin/promotions", body, ADMIN)
    assert response.status_code == 201, response.body
    return response.json


def apply(client, headers, code):
    return call(client, "put", "/basket/promotion", {"code": code}, headers)


def error_code(response):
    return response.json["error"]["code"]


# --- staff --------------------------------------------------------------------------------

def test_staff_create_a_code_stored_upper_case(client):
    created = promotion(client, code="summer-10", description="Summer", maxRedemptions=5)
    assert created["code"] == "SUMMER-10" and created["active"] is True and created["redemptions"] == 0
    assert created["percentOff"] == 10 and created["version"] == 1


def test_a_code_exists_once_whatever_its_case(client):
    promotion(client, code="ONCE")
    again = call(client, "post", "/admin/promotions", {"code": "once", "percentOff": 5, "oncePerCustomer": False},
                 ADMIN)
    assert again.status_code == 409 and error_code(again) == "PROMOTION_EXISTS"


@pytest.mark.parametrize("body", [
    {"code": "AB", "percentOff": 10, "oncePerCustomer": False},  # too short
    {"code": "A" * 33, "percentOff": 10, "oncePerCustomer": False},  # too long
    {"code": "NO SPACE", "percentOff": 10, "oncePerCustomer": False},
    {"code": "BOTH", "percentOff": 10, "amountOff": 100, "currency": "EUR", "oncePerCustomer": False},
    {"code": "NEITHER", "oncePerCustomer": False},
    {"code": "NOCUR", "amountOff": 100, "oncePerCustomer": False},
    {"code": "PCT0", "percentOff": 0, "oncePerCustomer": False},
    {"code": "PCT101", "percentOff": 101, "oncePerCustomer": False},
    {"code": "NEG", "amountOff": -1, "currency": "EUR", "oncePerCustomer": False},
    {"code": "ONCE", "percentOff": 10},  # oncePerCustomer is required
    {"code": "EXTRA", "percentOff": 10, "oncePerCustomer": False, "redemptions": 0},
    {"code": "WINDOW", "percentOff": 10, "oncePerCustomer": False, "validFrom": FUTURE, "validUntil": PAST},
    {"code": "CAP", "percentOff": 10, "oncePerCustomer": False, "maxRedemptions": 0},
    {"code": "CUR", "amountOff": 100, "currency": "XXX", "oncePerCustomer": False},
])
def test_create_bodies_are_strict(client, body):
    response = call(client, "post", "/admin/promotions", body, ADMIN)
    assert response.status_code == 422, response.body
    assert response.json["error"]["details"]


def test_a_window_in_an_early_year_is_written_as_a_date_time(client):
    created = promotion(client, code="OLD", validUntil="0646-02-20T00:06:13.070Z")
    assert created["validUntil"] == "0646-02-20T00:06:13.070Z"  # four-digit year: the format and the order hold
    shifted = call(client, "post", "/admin/promotions", {"code": "EDGE", "percentOff": 5, "oncePerCustomer": False,
                                                         "validFrom": "0001-01-01T00:00:00+05:00"}, ADMIN)
    assert shifted.status_code == 422 and shifted.json["error"]["details"]  # before year 1 in UTC


def test_staff_list_codes_page_by_page(client):
    for code in ("CCC", "AAA", "BBB"):
        promotion(client, code=code)
    first = call(client, "get", "/admin/promotions?limit=2", headers=ADMIN).json
    assert [p["code"] for p in first["items"]] == ["AAA", "BBB"] and first["nextCursor"]
    second = call(client, "get", f"/admin/promotions?limit=2&cursor={first['nextCursor']}", headers=ADMIN).json
    assert [p["code"] for p in second["items"]] == ["CCC"] and second["nextCursor"] is None
    assert call(client, "get", "/admin/promotions?limit=101", headers=ADMIN).status_code == 400


def test_staff_deactivate_and_extend_a_code(client):
    promotion(client, code="LATER", validUntil="2030-01-01T00:00:00Z", maxRedemptions=2)
    off = call(client, "patch", "/admin/promotions/later", {"active": False, "version": 1}, ADMIN)
    assert off.status_code == 200 and off.json["active"] is False and off.json["version"] == 2
    stale = call(client, "patch", "/admin/promotions/LATER", {"active": True, "version": 1}, ADMIN)
    assert stale.status_code == 409 and error_code(stale) == "VERSION_CONFLICT"
    extended = call(client, "patch", "/admin/promotions/LATER",
                    {"active": True, "validUntil": "2031-01-01T00:00:00Z", "maxRedemptions": 10}, ADMIN).json
    assert (extended["active"], extended["validUntil"], extended["maxRedemptions"]) == (
        True, "2031-01-01T00:00:00.000Z", 10)


def test_patch_bodies_are_strict_and_unknown_codes_are_not_found(client):
    promotion(client, code="STRICT")
    assert call(client, "patch", "/admin/promotions/STRICT", {}, ADMIN).status_code == 422
    assert call(client, "patch", "/admin/promotions/STRICT", {"percentOff": 50}, ADMIN).status_code == 422
    missing = call(client, "patch", "/admin/promotions/NOPE", {"active": False}, ADMIN)
    assert missing.status_code == 404 and error_code(missing) == "PROMOTION_NOT_FOUND"
    assert call(client, "patch", "/admin/promotions/n%20o", {"active": False}, ADMIN).status_code == 404


def test_the_cap_never_goes_below_the_redemptions(client):
    promotion(client, code="CAPPED", maxRedemptions=5)
    put_in_basket(client, ANN, product(client)["id"], 1)
    apply(client, ANN, "CAPPED")
    assert checkout(client, ANN).status_code == 202
    too_low = call(client, "patch", "/admin/promotions/CAPPED", {"maxRedemptions": 1}, ADMIN)
    assert too_low.status_code == 200  # one redeemed, cap of one
    put_in_basket(client, BOB, product(client)["id"], 1)
    assert error_code(apply(client, BOB, "CAPPED")) == NOT_APPLICABLE


def test_every_change_is_audited_under_the_promotion(client, bus):
    promotion(client, code="AUDITED")
    call(client, "patch", "/admin/promotions/AUDITED", {"active": False}, ADMIN)
    from chalicelib.composition import Services

    audit = Services().audit
    for event in bus.events:
        audit.record(event)
    records = call(client, "get", "/admin/audit?entityType=PROMOTION&entityId=AUDITED", headers=ADMIN).json
    assert sorted(r["action"] for r in records["items"]) == ["PromotionCreated", "PromotionUpdated"]


# --- the basket ---------------------------------------------------------------------------

def test_a_basket_without_a_code_costs_its_subtotal(client):
    put_in_basket(client, ANN, product(client, price=999)["id"], 2)
    basket = call(client, "get", "/basket", headers=ANN).json
    assert (basket["promotion"], basket["discount"], basket["total"]) == (None, 0, 1998)


def test_a_percentage_is_rounded_down_to_the_minor_unit(client):
    promotion(client, code="PCT15", percentOff=15)
    put_in_basket(client, ANN, product(client, price=999)["id"], 1)
    basket = apply(client, ANN, "pct15")
    assert basket.status_code == 200, basket.body
    assert basket.json["promotion"] == {"code": "PCT15", "discount": 149, "issue": None}  # 149.85 -> 149
    assert (basket.json["discount"], basket.json["total"]) == (149, 850)


def test_an_amount_off_never_exceeds_the_subtotal(client):
    promotion(client, code="FIVER", amountOff=500, currency="EUR")
    put_in_basket(client, ANN, product(client, price=300)["id"], 1)
    basket = apply(client, ANN, "FIVER").json
    assert (basket["discount"], basket["total"]) == (300, 0)


def test_every_read_reprices_the_discount(client):
    promotion(client, code="TENPC", percentOff=10)
    mug = product(client, price=1000)
    put_in_basket(client, ANN, mug["id"], 1)
    apply(client, ANN, "TENPC")
    assert put_in_basket(client, ANN, mug["id"], 3)["discount"] == 300
    call(client, "patch", "/admin/promotions/TENPC", {"active": False}, ADMIN)
    basket = call(client, "get", "/basket", headers=ANN).json
    assert basket["promotion"] == {"code": "TENPC", "discount": 0, "issue": "PROMOTION_INACTIVE"}
    assert basket["total"] == basket["subtotal"] == 3000


def test_a_code_comes_off_the_basket(client):
    promotion(client, code="OFF")
    put_in_basket(client, ANN, product(client)["id"], 1)
    apply(client, ANN, "OFF")
    assert call(client, "delete", "/basket/promotion", headers=ANN).status_code == 204
    assert call(client, "get", "/basket", headers=ANN).json["promotion"] is None
    assert call(client, "delete", "/basket/promotion", headers=ANN).status_code == 204


@pytest.mark.parametrize("fields", [{"validFrom": FUTURE}, {"validUntil": PAST}, {"minSubtotal": 5000},
                                    {"amountOff": 100, "currency": "USD"}])
def test_a_code_that_does_not_apply_is_answered_as_an_unknown_one(client, fields):
    promotion(client, code="WHY", **fields)
    put_in_basket(client, ANN, product(client, price=1000)["id"], 1)
    response, unknown = apply(client, ANN, "WHY"), apply(client, ANN, "NOSUCH")
    assert response.status_code == unknown.status_code == 409, response.body
    assert response.json["error"] == unknown.json["error"] and error_code(response) == NOT_APPLICABLE
    assert call(client, "get", "/basket", headers=ANN).json["promotion"] is None  # not applied


def test_unknown_inactive_exhausted_and_used_codes_are_refused_alike(client):
    put_in_basket(client, ANN, product(client)["id"], 1)
    unknown = apply(client, ANN, "NOSUCH")
    assert unknown.status_code == 409 and error_code(unknown) == NOT_APPLICABLE
    promotion(client, code="GONE")
    call(client, "patch", "/admin/promotions/GONE", {"active": False}, ADMIN)
    assert apply(client, ANN, "GONE").json["error"] == unknown.json["error"]
    promotion(client, code="ONEONLY", maxRedemptions=1)
    promotion(client, code="MINE", oncePerCustomer=True)
    put_in_basket(client, BOB, product(client)["id"], 1)
    apply(client, BOB, "ONEONLY")
    assert checkout(client, BOB).status_code == 202
    assert apply(client, ANN, "ONEONLY").json["error"] == unknown.json["error"]
    apply(client, ANN, "MINE")
    assert checkout(client, ANN).status_code == 202
    put_in_basket(client, ANN, product(client)["id"], 1)
    assert apply(client, ANN, "MINE").json["error"] == unknown.json["error"]


def test_codes_cannot_be_guessed_one_answer_at_a_time(client):
    from datetime import timedelta

    from chalicelib.core.ids import now, set_clock

    promotion(client, code="SECRET50", percentOff=50)
    put_in_basket(client, ANN, product(client)["id"], 1)
    moment = [now()]
    set_clock(lambda: moment[0])
    try:
        answers = [apply(client, ANN, f"GUESS{n:03d}").status_code for n in range(12)]
        assert answers == [409] * 10 + [429] * 2  # ten misses an hour are free; then each waits, longer and longer
        held = apply(client, ANN, "SECRET50")  # even the right code: the guesser cannot tell it from a miss
        assert held.status_code == 429 and error_code(held) == "TOO_MANY_ATTEMPTS"
        assert call(client, "put", "/basket/promotion", {"code": "SECRET50"}, BOB).status_code != 429  # others
        moment[0] += timedelta(seconds=1)
        assert apply(client, ANN, "GUESS999").status_code == 409
        assert apply(client, ANN, "SECRET50").status_code == 429  # the next wait is longer (2 s)
        moment[0] += timedelta(hours=1)  # an hour without a miss: free again
        assert apply(client, ANN, "SECRET50").status_code == 200
    finally:
        set_clock(None)


@pytest.mark.parametrize("body", [{}, {"code": "AB"}, {"code": 12345}, {"code": "OK-1", "extra": 1}])
def test_apply_bodies_are_strict(client, body):
    assert call(client, "put", "/basket/promotion", body, ANN).status_code == 422


# --- checkout, payment and giving back --------------------------------------------------------

def placed_with(client, headers, code, bus, price=1000):
    put_in_basket(client, headers, product(client, price=price)["id"], 1)
    assert apply(client, headers, code).status_code == 200
    accepted = checkout(client, headers)
    assert accepted.status_code == 202, accepted.body
    assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    return call(client, "get", f"/orders/{accepted.json['orderId']}", headers=headers).json


def redemptions(client, code):
    return {p["code"]: p["redemptions"] for p in
            call(client, "get", "/admin/promotions?limit=100", headers=ADMIN).json["items"]}[code]


def test_checkout_snapshots_discount_and_total_and_payment_matches_the_total(client, bus):
    promotion(client, code="QUARTER", percentOff=25)
    order = placed_with(client, ANN, "QUARTER", bus)
    assert (order["subtotal"], order["discount"], order["total"], order["promotionCode"]) == (1000, 250, 750,
                                                                                            "QUARTER")
    event = bus.of_type("CheckoutRequested")[-1]
    assert event.version == 4 and (event.data["discount"], event.data["total"]) == (250, 750)
    assert redemptions(client, "QUARTER") == 1
    assert pay(client, order, amount=1000).json["outcome"] == "REVIEW"  # the subtotal is not what is owed
    paid = pay(client, order)
    assert paid.json["outcome"] == "APPLIED" and paid.json["orderStatus"] == "PAID"


def test_a_code_that_stopped_applying_refuses_the_checkout_and_reserves_nothing(client, bus):
    promotion(client, code="SHORT")
    mug = product(client, stock=3)
    put_in_basket(client, ANN, mug["id"], 1)
    apply(client, ANN, "SHORT")
    call(client, "patch", "/admin/promotions/SHORT", {"active": False}, ADMIN)
    refused = checkout(client, ANN)
    assert refused.status_code == 409 and error_code(refused) == "PROMOTION_INACTIVE"
    assert stock_of(client, mug["id"]) == 3


def test_the_transaction_refuses_a_code_deactivated_after_the_basket_was_read(client, bus, monkeypatch):
    from chalicelib.orders.repository import CheckoutRepository

    promotion(client, code="RACED")
    put_in_basket(client, ANN, product(client)["id"], 1)
    apply(client, ANN, "RACED")
    commit = CheckoutRepository.commit

    def deactivated_first(self, **kwargs):
        call(client, "patch", "/admin/promotions/RACED", {"active": False}, ADMIN)
        return commit(self, **kwargs)

    monkeypatch.setattr(CheckoutRepository, "commit", deactivated_first)
    refused = checkout(client, ANN)
    assert refused.status_code == 409 and error_code(refused) == "PROMOTION_INACTIVE"
    assert redemptions(client, "RACED") == 0


@pytest.mark.parametrize("how", ["customer", "sweeper", "payment failed"])
def test_an_order_left_unpaid_gives_its_redemption_back(client, bus, monkeypatch, how):
    promotion(client, code="BACK", maxRedemptions=1, oncePerCustomer=True)
    order = placed_with(client, ANN, "BACK", bus)
    assert redemptions(client, "BACK") == 1
    if how == "customer":
        assert call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN).status_code == 200
    elif how == "sweeper":
        monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: "9999-01-01T00:00:00.000Z")
        assert sweep(client)["cancelledUnpaid"] == 1
    else:
        assert pay(client, order, kind="payment.failed").json["orderStatus"] == "PAYMENT_FAILED"
    assert redemptions(client, "BACK") == 0
    again = placed_with(client, ANN, "BACK", bus)  # her marker went too: she may use it again
    assert again["discount"] == 100 and redemptions(client, "BACK") == 1


def test_a_paid_order_keeps_its_redemption(client, bus):
    promotion(client, code="KEPT")
    order = placed_with(client, ANN, "KEPT", bus)
    pay(client, order)
    call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN)  # paid, then cancelled: a refund
    assert redemptions(client, "KEPT") == 1


def test_the_redemption_comes_back_once_when_a_competitor_moves_the_order_in_between(client, bus, monkeypatch):
    from chalicelib.orders.repository import OrderRepository

    promotion(client, code="ONCEBACK", oncePerCustomer=True)
    order = placed_with(client, ANN, "ONCEBACK", bus)
    save, state = OrderRepository.save, {"ran": False}

    def competitor_first(self, *args, **kwargs):
        if not state["ran"]:
            state["ran"] = True  # the customer's cancel lands between the sweeper's read and its write
            assert call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN).status_code == 200
        return save(self, *args, **kwargs)

    monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: "9999-01-01T00:00:00.000Z")
    monkeypatch.setattr(OrderRepository, "save", competitor_first)
    report = sweep(client)
    assert report["cancelledUnpaid"] == 0 and report["failures"] == 0
    assert redemptions(client, "ONCEBACK") == 0  # not -1


@pytest.mark.usefixtures("atomic_dynamodb")
def test_the_last_redemption_goes_to_exactly_one_buyer(aws):
    """Twelve shoppers race for a code with one redemption left: one checkout gets it, the others are told."""
    from chalicelib.catalogue.models import ProductCreate
    from chalicelib.composition import Services
    from chalicelib.core.auth import Caller
    from chalicelib.promotions.models import PromotionCreate
    from chalicelib.promotions.repository import PromotionRepository

    plenty = Services().catalogue.create(ProductCreate(name="Plenty", category="common", price=1000,
                                                       currency="EUR", stock=100), actor="admin")
    Services().promotions.create(PromotionCreate(code="LASTONE", percent_off=50, max_redemptions=1,
                                                 once_per_customer=False), actor="admin")
    buyers = [Caller(user_id=f"buyer-{i}") for i in range(12)]
    for buyer in buyers:
        Services().baskets.set_quantity(buyer.user_id, plenty.id, 1)
        Services().baskets.apply_promotion(buyer.user_id, "LASTONE")
    outcomes = race_checkouts(buyers)
    assert outcomes.count("bought") == 1, outcomes
    assert set(outcomes) - {"bought"} <= {"PROMOTION_EXHAUSTED", "CHECKOUT_CONFLICT"}, outcomes
    assert PromotionRepository().get("LASTONE").redemptions == 1
    assert Services().catalogue.get(plenty.id).variants[0].stock == 99  # the refused reserved nothing


def test_redemptions_are_counted_per_code(client, bus, capsys):
    promotion(client, code="COUNTED")
    with mock.patch("chalicelib.core.metrics.count"):
        placed_with(client, ANN, "COUNTED", bus)
    emitted = [line for line in capsys.readouterr().out.splitlines() if '"PromotionRedemptions"' in line]
    assert emitted and '"code":"COUNTED"' in emitted[-1]


# --- nothing to pay -------------------------------------------------------------------------

def test_a_zero_total_order_is_paid_at_creation_and_needs_no_provider(client, bus, monkeypatch):
    """A 100% code: no payment will ever come, so the order was left PENDING, held against the buyer's unpaid
    allowance, and cancelled by the sweeper with its stock back and its code given back."""
    from datetime import UTC, datetime, timedelta

    from chalicelib.core import ids
    from chalicelib.core.dynamo import ddb, from_item, key, table_name

    promotion(client, code="FREE", percentOff=100, maxRedemptions=5)
    item = product(client, stock=3, price=2500)
    put_in_basket(client, ANN, item["id"], 2)
    assert apply(client, ANN, "FREE").json["total"] == 0
    accepted = checkout(client, ANN)
    assert accepted.status_code == 202, accepted.body
    allowance = ddb().get_item(TableName=table_name(), Key=key("UNPAID#ann", "UNPAID")).get("Item")
    assert not allowance or from_item(allowance).get("unpaid_orders", 0) == 0  # never unpaid
    assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    order = call(client, "get", f"/orders/{accepted.json['orderId']}", headers=ANN).json
    assert (order["status"], order["total"], order["paymentDueAt"], order["refundDue"]) == ("PAID", 0, None, False)
    assert bus.of_type("OrderCreated")[-1].data["status"] == "PAID"
    later = datetime.now(UTC) + timedelta(hours=2)  # long past any payment window
    ids.set_clock(lambda: later)
    try:
        sweep(client)
    finally:
        ids.set_clock(None)
    order = call(client, "get", f"/orders/{order['id']}", headers=ANN).json
    assert order["status"] == "PAID" and stock_of(client, item["id"]) == 1
    assert redemptions(client, "FREE") == 1
    # as any paid order: cancelled, its stock comes back, nothing is owed, and its redemption stays used
    assert call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN).status_code == 200
    order = call(client, "get", f"/orders/{order['id']}", headers=ANN).json
    assert (order["status"], order["refundDue"]) == ("CANCELLED", False)
    assert stock_of(client, item["id"]) == 3
    assert redemptions(client, "FREE") == 1
