"""A shopper's own profile and address book: only theirs, only what they may change."""
from __future__ import annotations

import json

import pytest

from tests.conftest import json_of
from tests.fakes import auth

JSON = {"Content-Type": "application/json"}
ANN = auth("ann", email="Ann@Example.com", name="Ann")
BOB = auth("bob", email="bob@example.com", name="Bob")
HOME = {"name": "Ann", "line1": "1 Main St", "city": "Ghent", "postalCode": "9000", "country": "BE"}


def send(client, method, path, payload, headers):
    return getattr(client.http, method)(path, headers={**JSON, **headers}, body=json.dumps(payload))


def add(client, headers=ANN, **fields):
    response = send(client, "post", "/me/addresses", {**HOME, **fields}, headers)
    assert response.status_code == 201, response.body
    return json_of(response)


def test_profile_is_created_from_the_token_on_first_visit(client):
    me = json_of(client.http.get("/me", headers=ANN))
    assert me["userId"] == "ann" and me["email"] == "ann@example.com" and me["name"] == "Ann"
    assert me["status"] == "ACTIVE" and me["marketing"] == {"email": False, "sms": False}


def test_claims_set_by_calling_cognito_directly_enter_a_profile_only_as_the_api_would_take_them(client):
    """Whoever holds the app client id can sign up at Cognito itself; what the claims carry is checked here."""
    odd = auth("odd", email="not an email", name="<script>" + "x" * 5000 + "\u0007")
    me = json_of(client.http.get("/me", headers=odd))
    assert (me["email"], me["name"]) == (None, None)
    fine = auth("fine", email=" Fine@Example.com ", name=" Fine Person ")
    assert json_of(client.http.get("/me", headers=fine))["name"] == "Fine Person"
    assert json_of(client.http.get("/me", headers=fine))["email"] == "fine@example.com"


def test_me_requires_a_token(client):
    response = client.http.get("/me")
    assert response.status_code == 401
    assert json_of(response)["error"]["code"] == "UNAUTHORIZED"


def test_patch_me_changes_the_allowed_fields(client):
    response = send(client, "patch", "/me", {"name": "Ann B", "phone": "+32470123456",
                                             "marketing": {"email": True, "sms": False}}, ANN)
    assert response.status_code == 200
    me = json_of(client.http.get("/me", headers=ANN))
    assert (me["name"], me["phone"], me["marketing"]["email"]) == ("Ann B", "+32470123456", True)


@pytest.mark.parametrize("payload", [{"email": "evil@example.com"}, {"status": "ACTIVE"},
                                     {"userId": "bob"}, {"groups": ["admin"]}, {"name": "A", "isAdmin": True},
                                     {}, {"phone": "0470"}, {"name": None}, {"marketing": None},
                                     {"marketing": {"post": True}}])
def test_patch_me_refuses_mass_assignment_and_bad_values(client, payload):
    response = send(client, "patch", "/me", payload, ANN)
    assert response.status_code == 422, payload
    me = json_of(client.http.get("/me", headers=ANN))
    assert me["email"] == "ann@example.com" and me["userId"] == "ann"


def test_first_address_is_the_default(client):
    first = add(client)
    second = add(client, line1="2 Side St")
    assert first["isDefault"] is True and second["isDefault"] is False
    items = json_of(client.http.get("/me/addresses", headers=ANN))["items"]
    assert [a["isDefault"] for a in items] == [True, False]


def test_choosing_a_new_default_leaves_exactly_one(client):
    add(client)
    second = add(client, line1="2 Side St", isDefault=True)
    items = json_of(client.http.get("/me/addresses", headers=ANN))["items"]
    assert [a["id"] for a in items if a["isDefault"]] == [second["id"]]


def test_deleting_the_default_promotes_another(client):
    first = add(client)
    second = add(client, line1="2 Side St")
    assert client.http.delete(f"/me/addresses/{first['id']}", headers=ANN).status_code == 204
    items = json_of(client.http.get("/me/addresses", headers=ANN))["items"]
    assert [(a["id"], a["isDefault"]) for a in items] == [(second["id"], True)]


def test_deleting_the_last_address_leaves_no_default(client):
    only = add(client)
    client.http.delete(f"/me/addresses/{only['id']}", headers=ANN)
    assert json_of(client.http.get("/me", headers=ANN))["defaultAddressId"] is None
    again = add(client)
    assert again["isDefault"] is True


def test_address_book_is_bounded(client):
    for i in range(10):
        add(client, line1=f"{i} Main St")
    response = send(client, "post", "/me/addresses", HOME, ANN)
    assert response.status_code == 409
    assert json_of(response)["error"]["code"] == "ADDRESS_LIMIT"


def test_put_replaces_an_address(client):
    address = add(client)
    response = send(client, "put", f"/me/addresses/{address['id']}",
                    {**HOME, "line1": "9 New St", "line2": "Flat 2"}, ANN)
    assert response.status_code == 200
    updated = json_of(response)
    assert (updated["line1"], updated["line2"], updated["isDefault"]) == ("9 New St", "Flat 2", True)
    cleared = json_of(send(client, "put", f"/me/addresses/{address['id']}", HOME, ANN))
    assert cleared["line2"] is None


def test_another_users_address_is_404_for_every_verb(client):
    address = add(client)
    path = f"/me/addresses/{address['id']}"
    assert send(client, "put", path, HOME, BOB).status_code == 404
    assert client.http.delete(path, headers=BOB).status_code == 404
    assert json_of(client.http.get("/me/addresses", headers=BOB))["items"] == []
    assert json_of(client.http.get("/me/addresses", headers=ANN))["items"][0]["line1"] == "1 Main St"


@pytest.mark.parametrize("field,value", [("country", "XX"), ("country", "be"), ("postalCode", "<script>"),
                                         ("line1", ""), ("city", "c" * 101), ("name", 5)])
def test_addresses_are_validated(client, field, value):
    response = send(client, "post", "/me/addresses", {**HOME, field: value}, ANN)
    assert response.status_code == 422
    assert any(d["field"] == field for d in json_of(response)["error"]["details"])


def test_export_holds_profile_addresses_and_registered_sections(client, monkeypatch):
    from chalicelib.composition import services

    add(client)
    monkeypatch.setitem(services().personal_data.exporters, "wishlist", lambda user_id: [f"item-of-{user_id}"])
    export = json_of(client.http.get("/me/export", headers=ANN))
    assert export["profile"]["userId"] == "ann"
    assert [a["line1"] for a in export["addresses"]] == ["1 Main St"]
    assert export["wishlist"] == ["item-of-ann"]
    assert json_of(client.http.get("/me/export", headers=BOB))["addresses"] == []


def test_phone_can_be_cleared_with_null(client):
    send(client, "patch", "/me", {"phone": "+32470123456"}, ANN)
    assert json_of(send(client, "patch", "/me", {"phone": None}, ANN))["phone"] is None
