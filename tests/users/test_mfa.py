"""TOTP as a second factor, against the emulated pool: enrol with the access token, sign in with a code,
turn it off; wrong codes, spent sessions and someone else's token are refused in the error shape."""
from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

import boto3
import pytest

from tests.shop import call

PASSWORD = "Correct1horse"


@pytest.fixture
def totp_checked(monkeypatch):
    """The emulator checks TOTP codes against the secret (it accepts any code otherwise)."""
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")


def person(aws, email: str) -> str:
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    idp.admin_create_user(UserPoolId=aws["user_pool_id"], Username=email,
                          UserAttributes=[{"Name": "email", "Value": email},
                                          {"Name": "email_verified", "Value": "true"}],
                          MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=aws["user_pool_id"], Username=email, Password=PASSWORD, Permanent=True)
    return email


@pytest.fixture
def ann(aws, totp_checked):
    return person(aws, "ann@example.com")


def code_for(secret: str, at: float | None = None) -> str:
    """RFC 6238: what an authenticator app shows for the secret (SHA-1, 6 digits, 30 s)."""
    moment = time.time() if at is None else at
    if at is None and moment % 30 > 27:  # not on the edge of a step: the emulator checks the current one only
        time.sleep(30 - moment % 30 + 0.5)
        moment = time.time()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", int(moment // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def login(client, email: str):
    return call(client, "post", "/auth/login", {"email": email, "password": PASSWORD})


def enrol(client, email: str) -> tuple[dict, str]:
    """Signed in, TOTP turned on; the tokens and the secret."""
    tokens = login(client, email).json
    started = call(client, "post", "/me/mfa/totp", {"accessToken": tokens["accessToken"]},
                   {"Authorization": tokens["idToken"]})
    assert started.status_code == 200, started.body
    secret = started.json["secretCode"]
    verified = call(client, "post", "/me/mfa/totp/verify", {"accessToken": tokens["accessToken"],
                                                           "code": code_for(secret)},
                    {"Authorization": tokens["idToken"]})
    assert verified.status_code == 204, verified.body
    return tokens, secret


def test_enrolment_gives_a_secret_and_an_otpauth_uri_for_the_caller(client, ann):
    tokens = login(client, ann).json
    response = call(client, "post", "/me/mfa/totp", {"accessToken": tokens["accessToken"]},
                    {"Authorization": f"Bearer {tokens['idToken']}"})
    assert response.status_code == 200, response.body
    secret, uri = response.json["secretCode"], response.json["otpauthUri"]
    assert uri.startswith("otpauth://totp/Shop%3Aann%40example.com?") and f"secret={secret}" in uri
    assert "issuer=Shop" in uri


def test_with_totp_on_a_login_is_a_challenge_and_the_code_gives_the_tokens(client, ann):
    _, secret = enrol(client, ann)
    challenged = login(client, ann)
    assert challenged.status_code == 200
    assert set(challenged.json) == {"challenge", "session"} and challenged.json["challenge"] == "SOFTWARE_TOKEN_MFA"
    answered = call(client, "post", "/auth/mfa", {"email": ann, "session": challenged.json["session"],
                                                 "code": code_for(secret)})
    assert answered.status_code == 200, answered.body
    assert set(answered.json) == {"idToken", "accessToken", "refreshToken", "expiresIn"}
    assert call(client, "get", "/me", headers={"Authorization": answered.json["idToken"]}).status_code == 200


def test_a_wrong_code_at_login_is_401_and_a_made_up_session_too(client, ann):
    _, secret = enrol(client, ann)
    session = login(client, ann).json["session"]
    right = code_for(secret)
    wrong = call(client, "post", "/auth/mfa", {"email": ann, "session": session,
                                              "code": f"{(int(right) + 1) % 1_000_000:06d}"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "INVALID_CODE"
    made_up = call(client, "post", "/auth/mfa", {"email": ann, "session": "A" * 40, "code": right})
    assert made_up.status_code == 401 and made_up.json["error"]["code"] == "UNAUTHORIZED"


def test_a_wrong_code_at_enrolment_is_400_and_totp_stays_off(client, ann):
    tokens = login(client, ann).json
    headers = {"Authorization": tokens["idToken"]}
    secret = call(client, "post", "/me/mfa/totp", {"accessToken": tokens["accessToken"]}, headers).json["secretCode"]
    right = code_for(secret)
    response = call(client, "post", "/me/mfa/totp/verify", {"accessToken": tokens["accessToken"],
                                                           "code": f"{(int(right) + 1) % 1_000_000:06d}"}, headers)
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_CODE"
    assert "idToken" in login(client, ann).json


def test_someone_elses_access_token_or_an_id_token_is_refused(client, ann, aws):
    bob = person(aws, "bob@example.com")
    mine, theirs = login(client, ann).json, login(client, bob).json
    for token in (theirs["accessToken"], mine["idToken"], "a.b.c"):
        response = call(client, "post", "/me/mfa/totp", {"accessToken": token}, {"Authorization": mine["idToken"]})
        assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_ACCESS_TOKEN", token
        response = call(client, "post", "/me/mfa/totp/verify", {"accessToken": token, "code": "123456"},
                        {"Authorization": mine["idToken"]})
        assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_ACCESS_TOKEN", token


def test_an_access_token_whose_claims_nest_a_thousand_levels_deep_is_400_not_500(client, ann):
    import base64

    tokens = login(client, ann).json
    deep = base64.urlsafe_b64encode(b"[" * 1000 + b"]" * 1000).decode().rstrip("=")
    for path, extra in (("/me/mfa/totp", {}), ("/me/mfa/totp/verify", {"code": "123456"})):
        response = call(client, "post", path, {"accessToken": f"eyJhbGciOiJub25lIn0.{deep}.c2ln", **extra},
                        {"Authorization": tokens["idToken"]})
        assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_ACCESS_TOKEN", response.body


def test_an_access_token_the_pool_did_not_issue_is_400_not_500(client, ann):
    tokens = login(client, ann).json
    header, payload, _ = tokens["accessToken"].split(".")
    forged = f"{header}.{payload}.c2lnbmF0dXJl"  # the caller's claims, not the pool's signature
    response = call(client, "post", "/me/mfa/totp", {"accessToken": forged}, {"Authorization": tokens["idToken"]})
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_ACCESS_TOKEN"


def turn_off(client, tokens: dict, code: str, password: str = PASSWORD, access_token: str | None = None):
    return call(client, "delete", "/me/mfa", {"accessToken": access_token or tokens["accessToken"],
                                              "password": password, "code": code},
                {"Authorization": tokens["idToken"]})


def test_turning_totp_off_signs_in_with_the_password_alone_again_and_is_audited_and_told(client, ann, bus):
    tokens, secret = enrol(client, ann)
    assert "challenge" in login(client, ann).json
    assert turn_off(client, tokens, code_for(secret)).status_code == 204
    assert "idToken" in login(client, ann).json
    changes = [(e.data, e.actor) for e in bus.of_type("MfaChanged")]
    sub = changes[0][0]["userId"]
    assert changes == [({"userId": sub, "enabled": True}, sub), ({"userId": sub, "enabled": False}, sub)]
    from chalicelib.composition import Services

    for event in bus.of_type("MfaChanged"):
        Services().notifications.handle(event)
    feed = call(client, "get", "/me/notifications", headers={"Authorization": tokens["idToken"]}).json["items"]
    assert [n["kind"] for n in feed] == ["MFA_OFF", "MFA_ON"]
    # Off already: the password is checked, nothing changes, nothing is announced.
    assert turn_off(client, tokens, "000000").status_code == 204 and len(bus.of_type("MfaChanged")) == 2


def test_an_id_token_alone_cannot_turn_totp_off_nor_a_token_with_a_wrong_code_or_password(client, ann, aws):
    tokens, secret = enrol(client, ann)
    headers = {"Authorization": tokens["idToken"]}
    assert call(client, "delete", "/me/mfa", headers=headers).status_code == 400  # no proof at all
    assert call(client, "delete", "/me/mfa", {"code": code_for(secret)}, headers).status_code == 422
    right = code_for(secret)
    wrong_code = turn_off(client, tokens, f"{(int(right) + 1) % 1_000_000:06d}")
    assert wrong_code.status_code == 403 and wrong_code.json["error"]["code"] == "REAUTHENTICATION_FAILED"
    wrong_password = turn_off(client, tokens, right, password="Wrong1horse")
    assert wrong_password.status_code == 403 and wrong_password.json["error"]["code"] == "REAUTHENTICATION_FAILED"
    bob = login(client, person(aws, "bob@example.com")).json
    theirs = turn_off(client, tokens, right, access_token=bob["accessToken"])
    assert theirs.status_code == 400 and theirs.json["error"]["code"] == "INVALID_ACCESS_TOKEN"
    assert "challenge" in login(client, ann).json  # TOTP is still on


def test_failed_codes_at_sign_in_are_counted_and_the_account_waits_from_that_address(client, ann):
    from tests.shop import from_address

    _, secret = enrol(client, ann)
    session = login(client, ann).json["session"]
    right = code_for(secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with from_address("198.51.100.7"):
        answers = [call(client, "post", "/auth/mfa", {"email": ann, "session": session, "code": wrong})
                   for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert answers[-1].json["error"]["code"] == "TOO_MANY_ATTEMPTS" and int(answers[-1].headers["Retry-After"]) >= 1
        assert call(client, "post", "/auth/mfa", {"email": ann, "session": session, "code": right}).status_code == 429
    with from_address("203.0.113.9"):  # the holder, elsewhere, is not held back by it
        session = login(client, ann).json["session"]
        assert call(client, "post", "/auth/mfa", {"email": ann, "session": session,
                                                 "code": code_for(secret)}).status_code == 200


@pytest.mark.parametrize("payload", [{"email": "ann@example.com", "session": "A" * 40, "code": "12345"},
                                     {"email": "ann@example.com", "session": "short", "code": "123456"},
                                     {"email": "ann@example.com", "session": "A" * 40, "code": "12345a"},
                                     {"email": "ann@example.com", "session": "A" * 40}])
def test_the_mfa_answer_is_validated_before_cognito_is_asked(client, payload):
    assert call(client, "post", "/auth/mfa", payload).status_code == 422


def test_the_api_can_change_no_ones_factors_by_itself():
    """TOTP on or off is authorised by the user's own access token (SetUserMFAPreference), never by an IAM grant."""
    from tools.iam_policies import policies

    actions = {action for statement in policies("prod")["api_handler"]["Statement"]
               for action in statement["Action"] if "MFA" in action or "SoftwareToken" in action
               or "AuthChallenge" in action}
    assert actions == set()
