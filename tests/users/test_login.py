"""Signing in: tokens for the right password, one answer for every wrong one."""
from __future__ import annotations

import json

import boto3
import pytest

from tests.conftest import json_of

PASSWORD = "Correct1horse"


@pytest.fixture
def member(aws):
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    idp.admin_create_user(UserPoolId=aws["user_pool_id"], Username="ann@example.com",
                          UserAttributes=[{"Name": "email", "Value": "ann@example.com"},
                                          {"Name": "email_verified", "Value": "true"}],
                          MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=aws["user_pool_id"], Username="ann@example.com",
                                Password=PASSWORD, Permanent=True)
    return "ann@example.com"


def login(client, email, password):
    return client.http.post("/auth/login", headers={"Content-Type": "application/json"},
                            body=json.dumps({"email": email, "password": password}))


def test_login_returns_the_token_set(client, member):
    response = login(client, member, PASSWORD)
    assert response.status_code == 200
    tokens = json_of(response)
    assert set(tokens) == {"idToken", "accessToken", "refreshToken", "expiresIn"}
    assert tokens["idToken"].count(".") == 2 and tokens["expiresIn"] > 0


def test_email_is_case_insensitive(client, member):
    assert login(client, "  ANN@Example.COM ", PASSWORD).status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(client, member):
    wrong = login(client, member, "Wrong1password")
    unknown = login(client, "nobody@example.com", "Wrong1password")
    assert wrong.status_code == unknown.status_code == 401
    assert json_of(wrong)["error"] == json_of(unknown)["error"]


def test_disabled_user_cannot_log_in(client, member, aws):
    boto3.client("cognito-idp", region_name="us-east-1").admin_disable_user(
        UserPoolId=aws["user_pool_id"], Username=member)
    response = login(client, member, PASSWORD)
    assert response.status_code == 401


@pytest.mark.parametrize("payload", [{"email": "not-an-email", "password": "x"}, {"email": "a@b.co"},
                                     {"email": "a@b.co", "password": ""},
                                     {"email": "a@b.co", "password": "x", "remember": True}])
def test_login_validates_its_body(client, payload):
    response = client.http.post("/auth/login", headers={"Content-Type": "application/json"},
                                body=json.dumps(payload))
    assert response.status_code == 422


def test_refresh_issues_new_tokens(client, member):
    tokens = json_of(login(client, member, PASSWORD))
    response = client.http.post("/auth/refresh", headers={"Content-Type": "application/json"},
                                body=json.dumps({"refreshToken": tokens["refreshToken"]}))
    assert response.status_code == 200
    fresh = json_of(response)
    assert fresh["idToken"] and fresh["refreshToken"] == tokens["refreshToken"]


def test_refresh_with_a_bad_token_is_401(client, member):
    response = client.http.post("/auth/refresh", headers={"Content-Type": "application/json"},
                                body=json.dumps({"refreshToken": "not-a-real-token"}))
    assert response.status_code == 401


def test_throttling_by_cognito_is_429(client, member):
    from chalicelib.core.gateways import ProviderError, replaced

    class Throttled:
        def password_sign_in(self, email, password):
            raise ProviderError("cognito-idp", "TooManyRequestsException")

    with replaced(identity_provider=Throttled()):
        assert login(client, member, PASSWORD).status_code == 429


def test_a_challenge_the_api_does_not_offer_is_403(client):
    from chalicelib.core.gateways import Challenge, replaced

    class AsksForANewPassword:
        def password_sign_in(self, email, password):
            return Challenge(name="NEW_PASSWORD_REQUIRED", session="s" * 40)

    with replaced(identity_provider=AsksForANewPassword()):
        response = login(client, "ann@example.com", PASSWORD)
    assert response.status_code == 403 and json_of(response)["error"]["code"] == "CHALLENGE_REQUIRED"


# --- wrong passwords are counted: per account from one address, and per account -------------------

def _from(client, address, email, password):
    from tests.shop import from_address

    with from_address(address):
        return login(client, email, password)


def test_one_client_hammering_sign_in_does_not_hold_back_the_real_customer(client, member):
    from chalicelib.core.ids import now, set_clock

    attacker, moment = "198.51.100.66", now()
    set_clock(lambda: moment)  # the attack takes no time: a slow machine must not let the waits run out
    try:
        answers = [_from(client, attacker, email, "Wrong1password").status_code
                   for email in [member] * 10 + [f"victim{n}@example.com" for n in range(30)]]
        assert set(answers) <= {401, 429} and answers.count(429) == 7  # it waits after three misses per account
        assert _from(client, "203.0.113.20", member, PASSWORD).status_code == 200  # the customer, from home
    finally:
        set_clock(None)


def test_after_three_misses_from_an_address_even_the_right_password_waits_there_and_says_how_long(client, member):
    address = "198.51.100.1"
    assert [_from(client, address, member, "Wrong1password").status_code for _ in range(3)] == [401] * 3
    held = _from(client, address, member, PASSWORD)
    assert held.status_code == 429 and json_of(held)["error"]["code"] == "TOO_MANY_ATTEMPTS"
    assert int(held.headers["Retry-After"]) >= 1 and held.headers["Cache-Control"] == "no-store"


def test_the_wait_doubles_with_each_miss_and_ends_with_a_success(client, member):
    from datetime import timedelta

    from chalicelib.core.ids import now, set_clock

    address, moment = "198.51.100.2", [now()]
    set_clock(lambda: moment[0])
    try:
        for _ in range(3):
            assert _from(client, address, member, "Wrong1password").status_code == 401
        for wait in (1, 2, 4):
            assert _from(client, address, member, "Wrong1password").status_code == 429
            moment[0] += timedelta(seconds=wait)
            assert _from(client, address, member, "Wrong1password").status_code == 401
        moment[0] += timedelta(seconds=8)
        assert _from(client, address, member, PASSWORD).status_code == 200
        assert _from(client, address, member, "Wrong1password").status_code == 401  # counted afresh
    finally:
        set_clock(None)


def test_an_account_guessed_from_many_addresses_waits_everywhere_known_or_not(client, member):
    for email in (member, "nobody@example.com"):
        for n in range(20):
            assert _from(client, f"198.51.100.{100 + n}", email, "Wrong1password").status_code == 401
        held = _from(client, "203.0.113.50", email, "Wrong1password")
        assert held.status_code == 429, email  # an unknown email waits exactly as a known one
        assert json_of(held)["error"] == {"code": "TOO_MANY_ATTEMPTS", "message": json_of(held)["error"]["message"]}
