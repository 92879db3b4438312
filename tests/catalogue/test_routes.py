"""The catalogue over HTTP, as a shop's staff and shoppers use it."""
from __future__ import annotations

import json

import pytest

from tests.conftest import json_of
from tests.fakes import ADMIN, CUSTOMER

NEW = {"name": "Espresso Cup", "description": "Porcelain, 80 ml", "category": "kitchen",
       "price": 1299, "currency": "EUR", "stock": 10}


def post(client, path, payload, headers=None):
    return client.http.post(path, headers={"Content-Type": "application/json", **(headers or {})},
                            body=json.dumps(payload) if not isinstance(payload, (str, bytes)) else payload)


def patch(client, path, payload, headers=None):
    return client.http.patch(path, headers={"Content-Type": "application/json", **(headers or {})},
                             body=json.dumps(payload))


def create(client, **overrides):
    response = post(client, "/products", {**NEW, **overrides}, ADMIN)
    assert response.status_code == 201, response.body
    return json_of(response)


def test_admin_creates_a_product_and_anyone_reads_it(client):
    product = create(client)
    assert product["status"] == "ACTIVE" and product["version"] == 1
    assert set(product) == {"id", "name", "description", "category", "taxClass", "options", "variants",
                            "lowStockThreshold", "status", "version", "createdAt", "updatedAt", "images", "inStock",
                            "priceRange"}
    assert product["priceRange"] is None  # listings say it, in the listing's currency
    [variant] = product["variants"]
    assert (variant["id"], variant["prices"], variant["stock"]) == (product["id"], [{"currency": "EUR",
                                                                                   "amount": 1299}], 10)
    assert product["inStock"] is True  # as a listing would say: an active variant has stock
    read = client.http.get(f"/products/{product['id']}")
    assert read.status_code == 200
    assert json_of(read) == product


def test_created_product_is_announced_on_the_bus(client, bus):
    product = create(client)
    sent = bus.events
    assert [e.type for e in sent] == ["ProductCreated"]
    assert sent[0].data["productId"] == product["id"] and sent[0].actor == "admin-1"


def test_customer_cannot_create_products(client):
    response = post(client, "/products", NEW, CUSTOMER)
    assert response.status_code == 403
    assert json_of(response)["error"]["code"] == "FORBIDDEN"


def test_anonymous_cannot_create_products(client):
    response = post(client, "/products", NEW)
    assert response.status_code == 401
    body = json_of(response)
    assert body["error"]["code"] == "UNAUTHORIZED" and "requestId" in body


def test_unknown_product_is_404_in_the_error_shape(client):
    response = client.http.get("/products/does-not-exist")
    assert response.status_code == 404
    body = json_of(response)
    assert body["error"]["code"] == "NOT_FOUND" and body["requestId"]


def test_malformed_json_is_400(client):
    response = post(client, "/products", "{not json", ADMIN)
    assert response.status_code == 400
    assert json_of(response)["error"]["code"] == "MALFORMED_JSON"


def test_json_that_is_not_an_object_is_400(client):
    response = post(client, "/products", "[1, 2]", ADMIN)
    assert response.status_code == 400


def test_missing_body_is_400(client):
    response = client.http.post("/products", headers={"Content-Type": "application/json", **ADMIN})
    assert response.status_code == 400


@pytest.mark.parametrize("field,value", [
    ("price", "12.99"), ("price", 12.5), ("price", -1), ("price", True), ("stock", -3),
    ("currency", "eur"), ("currency", "XYZ"), ("category", "Kitchen Stuff"), ("name", ""),
    ("name", "x" * 201), ("name", None),
])
def test_invalid_fields_are_422_with_field_details(client, field, value):
    response = post(client, "/products", {**NEW, field: value}, ADMIN)
    assert response.status_code == 422, response.body
    details = json_of(response)["error"]["details"]
    assert any(d["field"] == field for d in details)


def test_unknown_fields_are_refused_on_create(client):
    response = post(client, "/products", {**NEW, "status": "ARCHIVED"}, ADMIN)
    assert response.status_code == 422
    assert json_of(response)["error"]["details"][0]["field"] == "status"


def test_errors_never_echo_the_input(client):
    response = post(client, "/products", {**NEW, "name": "<script>secret</script>" * 20}, ADMIN)
    assert response.status_code == 422
    assert "secret" not in response.body.decode()


def test_patch_with_current_version_applies_and_bumps_version(client):
    product = create(client)
    response = patch(client, f"/products/{product['id']}", {"description": "Bone china", "version": 1}, ADMIN)
    assert response.status_code == 200
    updated = json_of(response)
    assert updated["description"] == "Bone china" and updated["version"] == 2
    assert updated["updatedAt"] >= product["updatedAt"]


def test_patch_with_stale_version_is_409_and_changes_nothing(client):
    product = create(client)
    assert patch(client, f"/products/{product['id']}", {"description": "A", "version": 1}, ADMIN).status_code == 200
    stale = patch(client, f"/products/{product['id']}", {"description": "B", "version": 1}, ADMIN)
    assert stale.status_code == 409
    assert json_of(stale)["error"]["code"] == "VERSION_CONFLICT"
    assert json_of(client.http.get(f"/products/{product['id']}"))["description"] == "A"


def test_patch_requires_version_and_a_change(client):
    product = create(client)
    assert patch(client, f"/products/{product['id']}", {"description": "x"}, ADMIN).status_code == 422
    assert patch(client, f"/products/{product['id']}", {"version": 1}, ADMIN).status_code == 422


def test_patch_refuses_stock_and_status(client):
    product = create(client)
    response = patch(client, f"/products/{product['id']}", {"stock": 999, "version": 1}, ADMIN)
    assert response.status_code == 422
    response = patch(client, f"/products/{product['id']}", {"status": "ARCHIVED", "version": 1}, ADMIN)
    assert response.status_code == 422


def test_patch_refuses_null_for_required_fields(client):
    product = create(client)
    response = patch(client, f"/products/{product['id']}", {"name": None, "version": 1}, ADMIN)
    assert response.status_code == 422


def test_patch_of_unknown_product_is_404(client):
    assert patch(client, "/products/nope", {"description": "x", "version": 1}, ADMIN).status_code == 404


def test_changing_category_moves_the_product_between_listings(client):
    product = create(client, category="kitchen")
    patch(client, f"/products/{product['id']}", {"category": "garden", "version": 1}, ADMIN)
    kitchen = json_of(client.http.get("/products?category=kitchen"))["items"]
    garden = json_of(client.http.get("/products?category=garden"))["items"]
    assert [p["id"] for p in kitchen] == []
    assert [p["id"] for p in garden] == [product["id"]]


def test_stock_adjustment_adds_and_removes(client):
    product = create(client, stock=5)
    response = post(client, f"/products/{product['id']}/stock", {"delta": 7, "reason": "delivery"}, ADMIN)
    assert response.status_code == 200 and json_of(response)["variants"][0]["stock"] == 12
    response = post(client, f"/products/{product['id']}/stock", {"delta": -12, "reason": "breakage"}, ADMIN)
    assert response.status_code == 200 and json_of(response)["variants"][0]["stock"] == 0
    assert json_of(response)["inStock"] is False and json_of(client.http.get(f"/products/{product['id']}"))[
        "inStock"] is False


def test_stock_can_never_go_below_zero(client):
    product = create(client, stock=2)
    response = post(client, f"/products/{product['id']}/stock", {"delta": -3, "reason": "count"}, ADMIN)
    assert response.status_code == 409
    assert json_of(response)["error"]["code"] == "INSUFFICIENT_STOCK"
    assert json_of(client.http.get(f"/products/{product['id']}"))["variants"][0]["stock"] == 2


@pytest.mark.parametrize("payload", [{"delta": 0, "reason": "x"}, {"delta": 5}, {"delta": 5, "reason": ""},
                                     {"delta": "5", "reason": "x"}])
def test_stock_adjustment_validates_delta_and_reason(client, payload):
    product = create(client)
    assert post(client, f"/products/{product['id']}/stock", payload, ADMIN).status_code == 422


def test_stock_adjustment_of_unknown_product_is_404(client):
    assert post(client, "/products/nope/stock", {"delta": 1, "reason": "x"}, ADMIN).status_code == 404


def test_stock_adjustment_is_admin_only(client):
    product = create(client)
    response = post(client, f"/products/{product['id']}/stock", {"delta": 1, "reason": "x"}, CUSTOMER)
    assert response.status_code == 403


def test_archived_product_leaves_listings_but_stays_readable(client):
    product = create(client, category="kitchen")
    response = client.http.delete(f"/products/{product['id']}", headers=ADMIN)
    assert response.status_code == 200 and json_of(response)["status"] == "ARCHIVED"
    assert json_of(client.http.get("/products"))["items"] == []
    assert json_of(client.http.get("/products?category=kitchen"))["items"] == []
    read = client.http.get(f"/products/{product['id']}")
    assert read.status_code == 200 and json_of(read)["status"] == "ARCHIVED"


def test_archiving_twice_is_harmless(client):
    product = create(client)
    client.http.delete(f"/products/{product['id']}", headers=ADMIN)
    again = client.http.delete(f"/products/{product['id']}", headers=ADMIN)
    assert again.status_code == 200 and json_of(again)["version"] == 2


def test_archived_product_cannot_be_edited(client):
    product = create(client)
    client.http.delete(f"/products/{product['id']}", headers=ADMIN)
    response = patch(client, f"/products/{product['id']}", {"description": "x", "version": 2}, ADMIN)
    assert response.status_code == 409
    assert json_of(response)["error"]["code"] == "PRODUCT_ARCHIVED"


def test_archive_is_admin_only(client):
    product = create(client)
    assert client.http.delete(f"/products/{product['id']}", headers=CUSTOMER).status_code == 403
    assert client.http.delete(f"/products/{product['id']}").status_code == 401


def test_listing_pages_through_every_product_once(client):
    ids = {create(client, name=f"Item {i:02d}")["id"] for i in range(7)}
    seen, cursor = [], None
    while True:
        url = "/products?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = json_of(client.http.get(url))
        assert len(body["items"]) <= 3
        seen += [p["id"] for p in body["items"]]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_listing_is_alphabetical(client):
    for name in ("Zebra mug", "apple peeler", "Mango slicer"):
        create(client, name=name)
    names = [p["name"] for p in json_of(client.http.get("/products"))["items"]]
    assert names == ["apple peeler", "Mango slicer", "Zebra mug"]


def test_category_filter_returns_only_that_category(client):
    create(client, category="kitchen")
    garden = create(client, category="garden")
    items = json_of(client.http.get("/products?category=garden"))["items"]
    assert [p["id"] for p in items] == [garden["id"]]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "category=Not Valid"])
def test_listing_rejects_bad_query_parameters(client, query):
    response = client.http.get(f"/products?{query}")
    assert response.status_code == 400
    assert json_of(response)["error"]["code"] == "INVALID_QUERY"


def test_tampered_cursor_is_400(client):
    for i in range(3):
        create(client, name=f"Item {i}")
    cursor = json_of(client.http.get("/products?limit=1"))["nextCursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for bad in (tampered, "garbage", "x" * 300):
        response = client.http.get(f"/products?cursor={bad}")
        assert response.status_code == 400, bad
        assert json_of(response)["error"]["code"] == "INVALID_CURSOR"


def test_cursor_from_one_listing_is_refused_by_another(client):
    for i in range(3):
        create(client, name=f"Item {i}", category="kitchen")
    cursor = json_of(client.http.get("/products?limit=1"))["nextCursor"]
    response = client.http.get(f"/products?category=kitchen&cursor={cursor}")
    assert response.status_code == 400


def test_correlation_id_is_echoed_or_generated(client):
    response = client.http.get("/health", headers={"X-Correlation-Id": "order-flow-42"})
    assert response.headers["X-Correlation-Id"] == "order-flow-42"
    generated = client.http.get("/health", headers={"X-Correlation-Id": "bad id with spaces"})
    assert generated.headers["X-Correlation-Id"] not in ("", "bad id with spaces")
