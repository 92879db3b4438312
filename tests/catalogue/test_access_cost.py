"""Each catalogue read costs the one DynamoDB call its access pattern needs, and no scans."""
from __future__ import annotations

import json

import pytest

from tests.fakes import ADMIN


@pytest.fixture
def dynamodb_calls(client):
    from chalicelib.core.aws import client as aws_client

    calls = []
    aws_client("dynamodb").meta.events.register(
        "before-call.dynamodb.*", lambda model, **kwargs: calls.append(model.name))
    return calls


def _create(client, **fields):
    body = {"name": "Lamp", "category": "lighting", "price": 4500, "currency": "EUR", "stock": 3, **fields}
    response = client.http.post("/products", headers={"Content-Type": "application/json", **ADMIN},
                                body=json.dumps(body))
    return json.loads(response.body)


def test_get_one_product_is_its_item_and_one_batch_of_its_sale_records(client, dynamodb_calls):
    product = _create(client)
    dynamodb_calls.clear()
    client.http.get(f"/products/{product['id']}")
    assert dynamodb_calls == ["GetItem", "BatchGetItem"]


def test_a_category_page_is_one_query_and_one_batch_of_its_sale_records(client, dynamodb_calls):
    _create(client)
    dynamodb_calls.clear()
    client.http.get("/products?category=lighting&limit=5")
    assert dynamodb_calls == ["Query", "BatchGetItem"]


def test_each_write_is_one_transaction_with_its_events(client, dynamodb_calls):
    product = _create(client)
    client.http.patch(f"/products/{product['id']}", headers={"Content-Type": "application/json", **ADMIN},
                      body=json.dumps({"description": "Brass", "version": 1}))
    client.http.post(f"/products/{product['id']}/stock", headers={"Content-Type": "application/json", **ADMIN},
                     body=json.dumps({"delta": 1, "reason": "delivery"}))
    # The first authenticated request reads the caller's account status (the suspension check; the
    # container then remembers it for a bounded time); a change reads the product, writes it with
    # its event (outbox) in one transaction, and once the event is on the bus clears its outbox mark. Reading
    # a product is its item and one batch of its variants' sale records.
    assert dynamodb_calls == ["GetItem", "TransactWriteItems", "UpdateItem",
                              "GetItem", "BatchGetItem", "TransactWriteItems", "UpdateItem",
                              "GetItem", "BatchGetItem", "TransactWriteItems", "UpdateItem"]
    assert "Scan" not in dynamodb_calls


def test_no_scan_anywhere_in_the_request_code():
    import pathlib

    sources = [p for p in pathlib.Path("chalicelib").rglob("*.py")] + [pathlib.Path("app.py")]
    offenders = [str(p) for p in sources if ".scan(" in p.read_text() or '"Scan"' in p.read_text()]
    assert offenders == []
