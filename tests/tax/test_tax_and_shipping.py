"""Tax by destination and shipping methods, over HTTP: what staff set, what the basket shows, what the order keeps."""
from __future__ import annotations

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import Bus, call, deliver, eventbridge_body, pay, product, put_in_basket

ANN = auth("ann")
BERLIN = {"name": "Ann Buyer", "line1": "Unter den Linden 1", "city": "Berlin", "postalCode": "10117",
          "country": "DE"}
LOS_ANGELES = {"name": "Ann Buyer", "line1": "1 Sunset Blvd", "city": "Los Angeles", "postalCode": "90001",
               "country": "US", "region": "US-CA"}


def rate(client, zone, tax_class, percent):
    response = call(client, "put", f"/admin/tax-rates/{zone}/{tax_class}", {"ratePercent": percent}, ADMIN)
    assert response.status_code == 200, response.body
    return response.json


def method(client, **fields):
    response = call(client, "post", "/admin/shipping-methods", {"name": "Parcel", "zones": ["DE"],
                                                                 "rates": [{"currency": "EUR", "amount": 499}],
                                                                 **fields}, ADMIN)
    assert response.status_code == 201, response.body
    return response.json


def shipped_to(client, address, method_id, headers=ANN):
    assert call(client, "put", "/basket/shipping-address", address, headers).status_code == 200
    chosen = call(client, "put", "/basket/shipping-method", {"id": method_id}, headers)
    assert chosen.status_code == 200, chosen.body
    return chosen.json


def ordered(client, headers=ANN):
    """The basket checked out and its order made by the order pipeline, as the customer sees it."""
    from unittest import mock

    bus = Bus()
    with mock.patch("chalicelib.core.outbox.publish", bus.publish), \
            mock.patch("chalicelib.orders.pipeline.publish", bus.publish):
        accepted = call(client, "post", "/basket/checkout", {}, {**headers, "Idempotency-Key": "checkout-0001"})
        assert accepted.status_code == 202, accepted.body
        assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    return call(client, "get", f"/orders/{accepted.json['orderId']}", headers=headers).json


def test_staff_set_list_and_remove_rates(client):
    assert rate(client, "US-CA", "standard", 7.25) | {"updatedAt": None} == {
        "zone": "US-CA", "taxClass": "standard", "ratePercent": 7.25, "updatedAt": None}
    rate(client, "DE", "standard", 19)
    rate(client, "DE", "reduced", 7)
    rate(client, "DE", "reduced", 7.5)  # replaced
    listed = call(client, "get", "/admin/tax-rates", headers=ADMIN).json["items"]
    assert [(r["zone"], r["taxClass"], r["ratePercent"]) for r in listed] == [
        ("DE", "reduced", 7.5), ("DE", "standard", 19), ("US-CA", "standard", 7.25)]
    assert call(client, "delete", "/admin/tax-rates/DE/reduced", headers=ADMIN).status_code == 204
    gone = call(client, "delete", "/admin/tax-rates/DE/reduced", headers=ADMIN)
    assert gone.status_code == 404 and gone.json["error"]["code"] == "TAX_RATE_NOT_FOUND"
    assert len(call(client, "get", "/admin/tax-rates", headers=ADMIN).json["items"]) == 2


@pytest.mark.parametrize("path, body", [
    ("/admin/tax-rates/XX/standard", {"ratePercent": 5}),  # no such country
    ("/admin/tax-rates/US-/standard", {"ratePercent": 5}),
    ("/admin/tax-rates/de/standard", {"ratePercent": 5}),
    ("/admin/tax-rates/DE/Standard", {"ratePercent": 5}),
    ("/admin/tax-rates/DE/standard", {"ratePercent": 100.5}),
    ("/admin/tax-rates/DE/standard", {"ratePercent": -1}),
    ("/admin/tax-rates/DE/standard", {"ratePercent": 7.2555}),
    ("/admin/tax-rates/DE/standard", {"ratePercent": "19"}),
    ("/admin/tax-rates/DE/standard", {"ratePercent": True}),
    ("/admin/tax-rates/DE/standard", {}),
])
def test_bad_rates_are_refused_and_nothing_is_written(client, path, body):
    response = call(client, "put", path, body, ADMIN)
    assert response.status_code == 422, response.body
    assert response.json["error"]["code"] == "VALIDATION_FAILED"
    assert call(client, "get", "/admin/tax-rates", headers=ADMIN).json["items"] == []


def test_only_staff_touch_rates_and_methods(client):
    assert call(client, "put", "/admin/tax-rates/DE/standard", {"ratePercent": 1}, ANN).status_code == 403
    assert call(client, "get", "/admin/tax-rates", headers=ANN).status_code == 403
    assert call(client, "post", "/admin/shipping-methods", {"name": "x", "zones": ["DE"],
                                                             "rates": [{"currency": "EUR", "amount": 1}]},
                ANN).status_code == 403


@pytest.mark.parametrize("fields", [
    {"zones": []}, {"zones": ["XX"]}, {"zones": ["DE", "DE"]}, {"rates": []},
    {"rates": [{"currency": "EUR", "amount": 1}, {"currency": "EUR", "amount": 2}]},
    {"rates": [{"currency": "EUR", "amount": -1}]}, {"rates": [{"currency": "XXX", "amount": 1}]},
    {"minDays": 5, "maxDays": 2}, {"taxClass": "Not A Class"}, {"name": ""},
])
def test_bad_shipping_methods_are_refused(client, fields):
    body = {"name": "Parcel", "zones": ["DE"], "rates": [{"currency": "EUR", "amount": 499}], **fields}
    response = call(client, "post", "/admin/shipping-methods", body, ADMIN)
    assert response.status_code == 422, response.body
    assert call(client, "get", "/admin/shipping-methods", headers=ADMIN).json["items"] == []


def test_a_german_basket_includes_19_percent_and_its_order_keeps_the_same_totals(client):
    rate(client, "DE", "standard", 19)
    parcel = method(client, rates=[{"currency": "EUR", "amount": 499, "freeOver": 10000}], minDays=1, maxDays=3)
    mug = product(client, price=1999)
    put_in_basket(client, ANN, mug["id"], 2)
    basket = shipped_to(client, BERLIN, parcel["id"])
    # goods 3998 incl. 638 tax (3998 x 19 / 119 = 638.29); shipping 499 incl. 80 (79.67)
    assert basket["items"][0]["tax"] == 638 and basket["items"][0]["taxClass"] == "standard"
    assert (basket["subtotal"], basket["discount"], basket["shipping"], basket["tax"], basket["total"]) == \
        (3998, 0, 499, 718, 4497)
    assert basket["pricesIncludeTax"] is True
    assert basket["taxLines"] == [{"taxClass": "standard", "ratePercent": 19, "amount": 718}]
    assert basket["shippingMethod"] == {"id": parcel["id"], "name": "Parcel", "amount": 499, "taxClass": "standard"}
    options = call(client, "get", "/basket/shipping-methods", headers=ANN).json["items"]
    assert options == [{"id": parcel["id"], "name": "Parcel", "amount": 499, "currency": "EUR", "minDays": 1,
                        "maxDays": 3}]

    order = ordered(client)
    assert {name: order[name] for name in ("subtotal", "discount", "shipping", "tax", "total", "pricesIncludeTax",
                                           "taxLines", "shippingMethod")} == \
        {name: basket[name] for name in ("subtotal", "discount", "shipping", "tax", "total", "pricesIncludeTax",
                                         "taxLines", "shippingMethod")}
    assert order["items"][0]["tax"] == 638 and order["shippingAddress"]["country"] == "DE"
    assert pay(client, order).status_code == 200
    assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "PAID"


def test_a_californian_basket_adds_7_25_percent_on_goods_and_shipping(client):
    rate(client, "US-CA", "standard", 7.25)
    rate(client, "US", "standard", 0)  # the country has none, its region does: the region's applies
    ground = method(client, name="Ground", zones=["US"], rates=[{"currency": "USD", "amount": 799}])
    shirt = product(client, price=1999, currency="USD")
    assert call(client, "put", "/basket/currency", {"currency": "USD"}, ANN).status_code == 200
    put_in_basket(client, ANN, shirt["id"], 3)
    basket = shipped_to(client, LOS_ANGELES, ground["id"])
    goods_tax, shipping_tax = 435, 58  # 5997 x 7.25 % = 434.78; 799 x 7.25 % = 57.93
    assert basket["items"][0]["tax"] == goods_tax
    assert (basket["subtotal"], basket["shipping"], basket["tax"], basket["total"]) == \
        (5997, 799, goods_tax + shipping_tax, 5997 + 799 + goods_tax + shipping_tax)
    assert basket["pricesIncludeTax"] is False
    order = ordered(client)
    assert (order["total"], order["tax"], order["currency"]) == (basket["total"], basket["tax"], "USD")
    assert order["shippingAddress"]["region"] == "US-CA"
    assert pay(client, order, amount=order["total"] - 1).status_code == 200  # not the total: not paid
    assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "PENDING"


def test_shipping_is_free_over_the_threshold_after_the_discount(client):
    parcel = method(client, rates=[{"currency": "EUR", "amount": 499, "freeOver": 5000}])
    lamp = product(client, price=5000)
    put_in_basket(client, ANN, lamp["id"], 1)
    assert shipped_to(client, BERLIN, parcel["id"])["shipping"] == 0
    assert call(client, "post", "/admin/promotions", {"code": "TENOFF", "amountOff": 1000, "currency": "EUR",
                                                       "oncePerCustomer": False},
                ADMIN).status_code == 201
    discounted = call(client, "put", "/basket/promotion", {"code": "TENOFF"}, ANN).json
    assert "error" not in discounted, discounted
    assert (discounted["discount"], discounted["shipping"], discounted["total"]) == (1000, 499, 4499)


def test_an_address_no_method_serves_is_refused(client):
    method(client, zones=["DE"])
    response = call(client, "put", "/basket/shipping-address", LOS_ANGELES, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "DESTINATION_NOT_SERVED"
    assert call(client, "get", "/basket", headers=ANN).json["shippingAddress"] is None


@pytest.mark.parametrize("address", [
    {**LOS_ANGELES, "region": "DE-BY"},  # not a subdivision of the US
    {**LOS_ANGELES, "region": "US-California"},
    {**BERLIN, "country": "XX"},
])
def test_an_address_with_a_region_of_another_country_is_invalid(client, address):
    method(client, zones=["DE", "US"], rates=[{"currency": "EUR", "amount": 1}])
    response = call(client, "put", "/basket/shipping-address", address, ANN)
    assert response.status_code == 422, response.body


def test_a_method_is_chosen_only_where_it_serves_in_the_baskets_currency(client):
    dollars_only = method(client, zones=["DE"], rates=[{"currency": "USD", "amount": 100}])
    parcel = method(client)
    put_in_basket(client, ANN, product(client)["id"], 1)
    assert call(client, "put", "/basket/shipping-method", {"id": parcel["id"]}, ANN).json["error"]["code"] == \
        "SHIPPING_ADDRESS_REQUIRED"
    assert call(client, "put", "/basket/shipping-address", BERLIN, ANN).status_code == 200
    listed = call(client, "get", "/basket/shipping-methods", headers=ANN).json["items"]
    assert [option["id"] for option in listed] == [parcel["id"]]  # no EUR rate: not offered
    for refused in (dollars_only["id"], "no-such-method"):
        response = call(client, "put", "/basket/shipping-method", {"id": refused}, ANN)
        assert response.status_code == 409 and response.json["error"]["code"] == "SHIPPING_METHOD_NOT_AVAILABLE"
    assert call(client, "get", "/basket", headers=ANN).json["shippingMethod"] is None


def test_the_checkout_needs_an_address_and_a_method_that_still_serves_it(client):
    parcel = method(client)
    put_in_basket(client, ANN, product(client)["id"], 1)
    key = {**ANN, "Idempotency-Key": "checkout-0001"}
    no_address = call(client, "post", "/basket/checkout", {}, key)
    assert no_address.status_code == 409 and no_address.json["error"]["code"] == "SHIPPING_ADDRESS_REQUIRED"
    assert call(client, "put", "/basket/shipping-address", BERLIN, ANN).status_code == 200
    no_method = call(client, "post", "/basket/checkout", {}, key)
    assert no_method.status_code == 409 and no_method.json["error"]["code"] == "SHIPPING_METHOD_REQUIRED"
    shipped_to(client, BERLIN, parcel["id"])
    elsewhere = call(client, "post", "/basket/checkout", {"shippingAddress": LOS_ANGELES}, key)
    assert elsewhere.status_code == 409 and elsewhere.json["error"]["code"] == "SHIPPING_METHOD_NOT_AVAILABLE"
    withdrawn = call(client, "patch", f"/admin/shipping-methods/{parcel['id']}", {"active": False}, ADMIN)
    assert withdrawn.status_code == 200 and withdrawn.json["active"] is False and withdrawn.json["version"] == 2
    assert call(client, "get", "/basket", headers=ANN).json["shippingMethod"] is None
    gone = call(client, "post", "/basket/checkout", {}, key)
    assert gone.status_code == 409 and gone.json["error"]["code"] == "SHIPPING_METHOD_NOT_AVAILABLE"
    assert len(call(client, "get", "/basket", headers=ANN).json["items"]) == 1  # nothing taken


def test_a_stale_version_of_a_method_is_refused(client):
    parcel = method(client)
    assert call(client, "patch", f"/admin/shipping-methods/{parcel['id']}", {"name": "Express", "version": 1},
                ADMIN).status_code == 200
    stale = call(client, "patch", f"/admin/shipping-methods/{parcel['id']}", {"name": "Slow", "version": 1}, ADMIN)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "VERSION_CONFLICT"
    unknown = call(client, "patch", "/admin/shipping-methods/nope", {"name": "Slow"}, ADMIN)
    assert unknown.status_code == 404


def test_a_rate_changed_between_the_read_and_the_write_is_set_on_what_is_there(client, between):
    """Two staff set one rate at once: the write conditioned on the version read loses to the other, reads again
    and lands after it (and each change is audited)."""
    from chalicelib.composition import Services
    from chalicelib.tax.models import TaxRateIn
    from chalicelib.tax.repository import TaxRateRepository

    rate(client, "DE", "standard", 16)
    between(TaxRateRepository, "put", lambda: Services().tax.set_rate("DE", "standard",
                                                                      TaxRateIn(rate_percent=17), actor="bob"))
    assert rate(client, "DE", "standard", 19)["ratePercent"] == 19
    assert [r["ratePercent"] for r in call(client, "get", "/admin/tax-rates", headers=ADMIN).json["items"]] == [19]


def test_returning_everything_refunds_the_goods_with_the_tax_added_to_them_and_keeps_the_shipping(client):
    """USD to California: 3 x 19.99 plus 7.25 % (434.78 -> 435) and 7.99 shipping (57.93 -> 58 tax). Returned one
    unit at a time, the refunds sum to the goods and their tax (6432); the shipping and its tax stay paid."""
    from tests.returns.test_returns import ask, move, receive

    rate(client, "US-CA", "standard", 7.25)
    ground = method(client, name="Ground", zones=["US"], rates=[{"currency": "USD", "amount": 799}])
    shirt = product(client, price=1999, currency="USD")
    assert call(client, "put", "/basket/currency", {"currency": "USD"}, ANN).status_code == 200
    put_in_basket(client, ANN, shirt["id"], 3)
    shipped_to(client, LOS_ANGELES, ground["id"])
    order = ordered(client)
    assert (order["total"], order["items"][0]["tax"]) == (5997 + 435 + 799 + 58, 435)
    assert pay(client, order).json["outcome"] == "APPLIED"
    move(client, order, "SHIPPED", "DELIVERED")
    amounts = []
    for number in range(3):
        asked = ask(client, order, [{"productId": shirt["id"], "quantity": 1}], key=f"return-{number}-0001")
        assert asked.status_code == 201, asked.body
        received = receive(client, asked.json)
        assert received.status_code == 200, received.body
        refunds = call(client, "get", f"/orders/{order['id']}", headers=ANN).json["refunds"]
        amounts.append(next(r["amount"] for r in refunds if r["id"] == received.json["refundId"]))
    assert sum(amounts) == 5997 + 435 and sorted(amounts) == [2144, 2144, 2144], amounts


def test_a_container_reads_a_zones_rates_once_per_period_and_sees_its_own_changes_at_once(client, monkeypatch):
    """The rates and method every checkout of a destination reads are kept for SETTINGS_CACHE_SECONDS: a change
    staff make through this container applies at once; one made elsewhere, once the period is over."""
    from chalicelib.core import read_cache
    from chalicelib.core.dynamo import ddb, table_name
    from chalicelib.tax import keys as tax_keys

    rate(client, "DE", "standard", 19)
    parcel = method(client)
    put_in_basket(client, ANN, product(client, price=1190)["id"], 1)
    assert shipped_to(client, BERLIN, parcel["id"])["tax"] == 190 + 80  # goods 190 (1190 x 19 / 119), shipping 80
    read: list[list] = []
    real = ddb()

    class Counting:
        def __getattr__(self, name):
            return getattr(real, name)

        def batch_get_item(self, **request):
            read.append([key for table in request["RequestItems"].values() for key in table["Keys"]])
            return real.batch_get_item(**request)

    monkeypatch.setattr("chalicelib.core.dynamo.ddb", lambda: Counting())
    call(client, "get", "/basket", headers=ANN)
    zone_key = {"PK": {"S": tax_keys.zone_key("DE")[0]}, "SK": {"S": tax_keys.zone_key("DE")[1]}}
    assert read and all(zone_key not in keys for keys in read)  # kept: the basket read only its products

    rate(client, "DE", "standard", 7)  # through this container: seen at once
    assert call(client, "get", "/basket", headers=ANN).json["taxLines"][0]["ratePercent"] == 7
    # Another container sets 16: this one keeps its 7 until its copy is a period old.
    real.update_item(TableName=table_name(), Key=zone_key, UpdateExpression="SET #r.rate_percent = :p",
                     ExpressionAttributeNames={"#r": "rate#standard"}, ExpressionAttributeValues={":p": {"S": "16"}})
    assert call(client, "get", "/basket", headers=ANN).json["taxLines"][0]["ratePercent"] == 7
    later = __import__("time").monotonic() + 31
    monkeypatch.setattr(read_cache.time, "monotonic", lambda: later)
    assert call(client, "get", "/basket", headers=ANN).json["taxLines"][0]["ratePercent"] == 16
