"""Accounts against the identity provider's interface: a fake pool in its place, no Cognito call."""
from __future__ import annotations

import pytest

from tests.fakes import ADMIN, FakeIdentityProvider, auth
from tests.shop import call

PASSWORD = "Str0ngpass"


@pytest.fixture
def pool(client):
    from chalicelib.core.gateways import replaced

    fake = FakeIdentityProvider()
    with replaced(identity_provider=fake):
        yield fake


def register(client, email):
    response = call(client, "post", "/auth/register", {"email": email, "password": PASSWORD, "name": "Ann"})
    assert response.status_code == 201, response.body
    return response.json["userId"]


def test_registration_in_the_local_stage_confirms_the_login_it_made(client, pool):
    user_id = register(client, "ann@example.com")
    assert {k: v for k, v in pool.users["ann@example.com"].items() if k != "created_at"} == {
        "sub": user_id, "password": PASSWORD, "confirmed": True, "enabled": True}
    tokens = call(client, "post", "/auth/login", {"email": "ann@example.com", "password": PASSWORD}).json
    assert tokens == {"idToken": f"id.{user_id}.sig", "accessToken": "access", "refreshToken": "refresh",
                      "expiresIn": 3600}
    assert call(client, "get", "/me", headers=auth(user_id, email="ann@example.com")).json["name"] == "Ann"


def test_a_taken_email_is_answered_as_a_new_one_whoever_the_provider_is(client, pool, bus):
    taken = register(client, "ann@example.com")
    again = call(client, "post", "/auth/register", {"email": "ann@example.com", "password": "Other1pass",
                                                     "name": "Eve"})
    assert again.status_code == 201 and set(again.json) == {"userId"} and again.json["userId"] != taken
    assert pool.users["ann@example.com"]["password"] == PASSWORD  # the account keeps its holder's password
    assert [e.data for e in bus.of_type("SignUpRepeated")] == [{"userId": taken}]


def test_suspension_disables_the_login_and_ends_its_sessions_and_reactivation_enables_it(client, pool):
    user_id = register(client, "sue@example.com")
    assert call(client, "patch", f"/admin/users/{user_id}", {"status": "SUSPENDED"}, ADMIN).status_code == 200
    assert pool.users["sue@example.com"]["enabled"] is False and pool.signed_out == [user_id]
    assert call(client, "post", "/auth/login", {"email": "sue@example.com", "password": PASSWORD}).status_code == 401
    assert call(client, "patch", f"/admin/users/{user_id}", {"status": "ACTIVE"}, ADMIN).status_code == 200
    assert pool.users["sue@example.com"]["enabled"] is True


def test_erasing_a_profile_that_has_no_login_in_the_pool_still_erases_it(client, pool):
    headers = auth("no-login", email="nologin@example.com")
    assert call(client, "get", "/me", headers=headers).status_code == 200  # a profile from the token alone
    assert call(client, "delete", "/me", headers=headers).status_code == 202
    assert call(client, "get", "/me", headers=headers).status_code == 401
