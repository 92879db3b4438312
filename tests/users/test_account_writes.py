"""Every write a customer's request makes is conditioned on their account being active, in the write itself.

The account check (users/account_status.py) remembers an account's status for up to a minute per container;
here it is made to remember the account active, as a container does right after a suspension or an
erasure elsewhere. Each write must still be refused (401 ACCOUNT_INACTIVE) and leave the table as it was:
an erased account's token can no longer add an address to its tombstone, which nothing would ever remove.
"""
from __future__ import annotations

import json

import boto3
import pytest

from tests.fakes import ADMIN, auth
from tests.shop import ADDRESS, call, pay, placed_order, product, put_in_basket, ship_basket, standard_shipping

JSON = {"Content-Type": "application/json"}
ANN = auth("ann", email="ann@example.com", name="Ann")


def _items() -> list[dict]:
    table, items, start = boto3.client("dynamodb", region_name="us-east-1"), [], None
    while True:
        page = table.scan(TableName="shop-local", **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


@pytest.fixture
def world(client, bus):
    """Ann's account with everything a customer writes to: a profile, two addresses, a basket with a code, a
    pending order, a delivered one, a notification."""
    assert call(client, "post", "/admin/promotions", {"code": "WRITES10", "percentOff": 10, "oncePerCustomer": False},
                ADMIN).status_code == 201
    home = call(client, "post", "/me/addresses", ADDRESS, ANN).json
    call(client, "post", "/me/addresses", {**ADDRESS, "line1": "2 Side St"}, ANN)
    pending, _ = placed_order(client, ANN, bus=bus)
    delivered, delivered_product = placed_order(client, ANN, bus=bus)
    assert pay(client, delivered).json["outcome"] == "APPLIED"
    for status in ("SHIPPED", "DELIVERED"):
        call(client, "post", f"/admin/orders/{delivered['id']}/status", {"status": status}, ADMIN)
    from chalicelib.composition import Services

    Services().notifications.handle(bus.of_type("OrderCreated")[0])
    notification = call(client, "get", "/me/notifications", headers=ANN).json["items"][0]
    basket_product = product(client)["id"]
    put_in_basket(client, ANN, basket_product, 1)
    ship_basket(client, ANN, method_id=standard_shipping())
    express = call(client, "post", "/admin/shipping-methods", {"name": "Express", "zones": ["BE"],
                                                                "rates": [{"currency": "EUR", "amount": 900}]}, ADMIN)
    return {"method": express.json["id"], "address": home["id"], "pending": pending["id"], "delivered": delivered["id"],
            "delivered_product": delivered_product, "product": basket_product, "notification": notification["id"]}


WRITES = [
    ("patch", "/me", {"name": "Someone Else"}),
    ("post", "/me/addresses", {**ADDRESS, "line1": "3 New St"}),
    ("put", "/me/addresses/{address}", {**ADDRESS, "line1": "4 Changed St"}),
    ("put", "/me/addresses/{address}", {**ADDRESS, "line1": "5 Changed St", "isDefault": True}),
    ("delete", "/me/addresses/{address}", None),
    ("put", "/basket/items/{product}", {"quantity": 3}),
    ("delete", "/basket/items/{product}", None),
    ("delete", "/basket", None),
    ("put", "/basket/promotion", {"code": "WRITES10"}),
    ("put", "/basket/shipping-address", {**ADDRESS, "line1": "6 Other St"}),
    ("put", "/basket/shipping-method", {"id": "{method}"}),
    ("post", "/basket/checkout", {"shippingAddress": ADDRESS}),
    ("post", "/orders/{pending}/cancel", None),
    ("post", "/orders/{delivered}/returns", {"lines": [{"productId": "{delivered_product}", "quantity": 1}],
                                             "reason": "my name and phone: Ann +32470111222"}),
    ("post", "/me/notifications/{notification}/read", None),
]


def _request(client, world, method, path, payload):
    url = path.format(**world)
    body = json.dumps(payload).replace("{delivered_product}", world["delivered_product"]).replace(
        "{method}", world["method"]) if payload else None
    headers = {**JSON, **ANN, "Idempotency-Key": "account-writes-0001"}
    return getattr(client.http, method)(url, headers=headers, **({"body": body} if body else {}))


def _refused_and_nothing_written(client, world, expect_401: bool) -> list:
    """Every write, each against the same world: a refused write changes nothing, so the next finds it as it was."""
    wrong = []
    for method, path, payload in WRITES:
        before = _items()
        response = _request(client, world, method, path, payload)
        code = json.loads(response.body or b"{}").get("error", {}).get("code")
        refused = (response.status_code, code) == (401, "ACCOUNT_INACTIVE") if expect_401 else \
            response.status_code < 500 and response.status_code != 201
        if not refused or _items() != before:
            wrong.append((method, path, response.status_code, code))
    return wrong


def test_a_suspended_accounts_writes_are_refused_by_the_writes_themselves(client, world, monkeypatch):
    from chalicelib.users.repository import UserRepository

    seen = UserRepository().get_profile("ann")
    UserRepository().change_status(seen, "SUSPENDED", "2026-12-07T00:00:00.000Z", [])  # in another container
    monkeypatch.setattr("chalicelib.users.account_status.status_of", lambda user_id, read: "ACTIVE")  # remembered
    assert _refused_and_nothing_written(client, world, expect_401=True) == []


def test_after_the_erasure_finished_the_erased_accounts_token_writes_nothing(client, world, bus, monkeypatch):
    """Refused (401), or nothing left to write to (the erasure took what it names: 404, an empty basket, no line)."""
    from tests.shop import erased

    assert call(client, "delete", "/me", headers=ANN).status_code == 202
    assert all(answer == {"batchItemFailures": []} for answer in erased(client, "ann"))
    monkeypatch.setattr("chalicelib.users.account_status.status_of", lambda user_id, read: "ACTIVE")
    assert _refused_and_nothing_written(client, world, expect_401=False) == []
