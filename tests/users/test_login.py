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
