"""Accounts end to end: register, confirm, reset a password, suspend, erase."""
from __future__ import annotations

import json

import boto3
import pytest

from tests.conftest import json_of
from tests.fakes import ADMIN, auth

JSON = {"Content-Type": "application/json"}


def post(client, path, payload, headers=None):
    return client.http.post(path, headers={**JSON, **(headers or {})}, body=json.dumps(payload))


def register(client, email="new@example.com", password="Str0ngpass", name="New Person"):
    return post(client, "/auth/register", {"email": email, "password": password, "name": name})


def login(client, email, password="Str0ngpass"):
    return post(client, "/auth/login", {"email": email, "password": password})


def test_register_then_login_works_in_the_local_stage(client):
    response = register(client)
    assert response.status_code == 201
    user_id = json_of(response)["userId"]
    tokens = json_of(login(client, "new@example.com"))
    assert tokens["idToken"]
    me = client.http.get("/me", headers=auth(user_id, email="new@example.com"))
    assert json_of(me)["name"] == "New Person" and json_of(me)["email"] == "new@example.com"


def test_registration_announces_the_user_without_personal_data(client, bus):
    user_id = json_of(register(client))["userId"]
    assert [(e.type, e.data) for e in bus.events] == [("UserRegistered", {"userId": user_id})]


def test_registration_answers_a_known_email_as_a_new_one_and_tells_its_holder(client, bus):
    first = register(client)
    again = register(client, email="NEW@example.com", password="Other9pass", name="Someone Else")
    assert (first.status_code, again.status_code) == (201, 201)
    assert set(json_of(again)) == set(json_of(first)) == {"userId"}
    import uuid

    held, answered = json_of(first)["userId"], json_of(again)["userId"]
    assert answered != held and uuid.UUID(answered).version == uuid.UUID(held).version == 4
    assert [e.data for e in bus.of_type("SignUpRepeated")] == [{"userId": held}]  # its holder is told
    assert register(client, email="new@example.com", password="Third9pass").status_code == 201
    assert len(bus.of_type("SignUpRepeated")) == 1  # once a day at most, however often
    assert login(client, "new@example.com").status_code == 200  # the account keeps its holder's password
    assert login(client, "new@example.com", "Other9pass").status_code == 401


@pytest.mark.parametrize("password,missing", [("short1A", "8 characters"), ("alllower1", "upper-case"),
                                              ("ALLUPPER1", "lower-case"), ("NoDigitsHere", "digit")])
def test_weak_passwords_are_refused_before_cognito(client, password, missing):
    response = register(client, password=password)
    assert response.status_code == 422
    details = json_of(response)["error"]["details"]
    assert details[0]["field"] == "password" and missing in details[0]["message"]


@pytest.mark.parametrize("payload", [
    {"email": "x@example.com", "password": "Str0ngpass"},
    {"email": "x@example.com", "password": "Str0ngpass", "name": "X", "groups": ["admin"]},
    {"email": "not-an-email", "password": "Str0ngpass", "name": "X"},
    {"email": "x@example.com", "password": "Str0ngpass", "name": "x" * 101},
])
def test_registration_validates_every_field(client, payload):
    assert post(client, "/auth/register", payload).status_code == 422


@pytest.fixture
def confirming(monkeypatch):
    """As in dev and prod: a sign-up waits for its emailed code (the test client applies the local stage's
    settings on every request, so the sign-up reads them changed)."""
    from chalicelib.core.settings import settings

    monkeypatch.setattr("chalicelib.users.auth.settings",
                        lambda: settings().model_copy(update={"auto_confirm_users": False}))


def test_login_answers_an_unconfirmed_account_exactly_as_a_wrong_password(client, confirming):
    assert register(client, email="wait@example.com").status_code == 201
    unconfirmed = login(client, "wait@example.com")  # the right password, the email not confirmed yet
    unknown = login(client, "nobody@example.com", "Wrong1password")
    assert unconfirmed.status_code == unknown.status_code == 401
    assert json_of(unconfirmed)["error"] == json_of(unknown)["error"]


def test_an_expired_unconfirmed_sign_up_gives_way_to_a_new_registration_with_its_own_password(client, aws, confirming):
    from datetime import timedelta

    from chalicelib.core.ids import now, set_clock
    from chalicelib.users.repository import UserRepository

    squatter = json_of(register(client, email="mine@example.com", password="Squat1pass", name="Squatter"))["userId"]
    # While its code runs, the sign-up keeps the email: a second registration is answered alike, changing nothing.
    within = json_of(register(client, email="mine@example.com", password="Owner1pass", name="Owner"))["userId"]
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    assert idp.admin_get_user(UserPoolId=aws["user_pool_id"], Username="mine@example.com")["Username"] != within
    later = now() + timedelta(hours=25)
    set_clock(lambda: later)
    try:
        owner = json_of(register(client, email="mine@example.com", password="Owner1pass", name="Owner"))["userId"]
    finally:
        set_clock(None)
    assert owner not in (squatter, within)
    assert UserRepository().get_profile(squatter) is None  # the squatter's profile (their name) went with it
    assert UserRepository().get_profile(owner).name == "Owner"
    idp.admin_confirm_sign_up(UserPoolId=aws["user_pool_id"], Username="mine@example.com")  # the emailed code
    assert login(client, "mine@example.com", "Owner1pass").status_code == 200
    assert login(client, "mine@example.com", "Squat1pass").status_code == 401


def test_confirm_with_a_wrong_code_is_400(client):
    register(client)
    response = post(client, "/auth/confirm", {"email": "new@example.com", "code": "000000"})
    assert response.status_code in (400, 204)  # moto cannot check codes of auto-confirmed users
    unknown = post(client, "/auth/confirm", {"email": "ghost@example.com", "code": "123456"})
    assert unknown.status_code == 400
    assert json_of(unknown)["error"]["code"] == "INVALID_CODE"


def test_forgot_password_never_reveals_whether_the_email_exists(client):
    register(client)
    known = post(client, "/auth/forgot-password", {"email": "new@example.com"})
    unknown = post(client, "/auth/forgot-password", {"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert json_of(known) == json_of(unknown)


def test_reset_password_with_the_emailed_code(client, aws):
    register(client)
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    sent = idp.forgot_password(ClientId=aws["user_pool_client_id"], Username="new@example.com")
    code = sent["ResponseMetadata"]["HTTPHeaders"]["x-moto-forgot-password-confirmation-code"].split(":")[-1]
    response = post(client, "/auth/reset-password",
                    {"email": "new@example.com", "code": code, "password": "Different9pass"})
    assert response.status_code == 204
    assert login(client, "new@example.com", "Different9pass").status_code == 200


def test_reset_password_checks_the_new_password_policy(client):
    response = post(client, "/auth/reset-password",
                    {"email": "new@example.com", "code": "123456", "password": "weak"})
    assert response.status_code == 422


def test_cognito_errors_are_never_500(client):
    from chalicelib.core.gateways import ProviderError, replaced

    for code, status in [("LimitExceededException", 429), ("CodeMismatchException", 400),
                         ("ExpiredCodeException", 400), ("InvalidPasswordException", 422),
                         ("InternalErrorException", 503)]:
        class Failing:
            def __init__(self, code):
                self.code = code

            def sign_up(self, email, password):
                raise ProviderError("cognito-idp", self.code)

        with replaced(identity_provider=Failing(code)):
            assert register(client).status_code == status, code


# --- staff: suspension ----------------------------------------------------------------

def _registered(client, email):
    user_id = json_of(register(client, email=email))["userId"]
    return user_id, auth(user_id, email=email)


def test_suspended_user_is_refused_at_once_and_cannot_log_in(client):
    user_id, headers = _registered(client, "sue@example.com")
    assert client.http.get("/me", headers=headers).status_code == 200
    response = client.http.patch(f"/admin/users/{user_id}", headers={**JSON, **ADMIN},
                                 body=json.dumps({"status": "SUSPENDED"}))
    assert response.status_code == 200 and json_of(response)["status"] == "SUSPENDED"
    refused = client.http.get("/me", headers=headers)  # the token itself is still "valid"
    assert refused.status_code == 401
    assert json_of(refused)["error"]["code"] == "ACCOUNT_INACTIVE"
    assert login(client, "sue@example.com").status_code == 401


def test_reactivated_user_is_back(client):
    user_id, headers = _registered(client, "back@example.com")
    for status in ("SUSPENDED", "ACTIVE"):
        client.http.patch(f"/admin/users/{user_id}", headers={**JSON, **ADMIN},
                          body=json.dumps({"status": status}))
    assert client.http.get("/me", headers=headers).status_code == 200
    assert login(client, "back@example.com").status_code == 200


def test_staff_user_admin_is_admin_only_and_validated(client):
    user_id, headers = _registered(client, "c@example.com")
    assert client.http.get("/admin/users", headers=headers).status_code == 403
    assert client.http.get("/admin/users").status_code == 401
    bad = client.http.patch(f"/admin/users/{user_id}", headers={**JSON, **ADMIN},
                            body=json.dumps({"status": "ERASED"}))
    assert bad.status_code == 422
    missing = client.http.patch("/admin/users/nobody", headers={**JSON, **ADMIN},
                                body=json.dumps({"status": "SUSPENDED"}))
    assert missing.status_code == 404


def test_staff_cannot_suspend_themselves(client):
    response = client.http.patch("/admin/users/admin-1", headers={**JSON, **ADMIN},
                                 body=json.dumps({"status": "SUSPENDED"}))
    assert response.status_code == 409


def test_staff_list_users_page_by_page_and_by_status(client):
    ids = [_registered(client, f"u{i}@example.com")[0] for i in range(5)]
    client.http.patch(f"/admin/users/{ids[0]}", headers={**JSON, **ADMIN}, body=json.dumps({"status": "SUSPENDED"}))
    seen, cursor = [], None
    while True:
        body = json_of(client.http.get("/admin/users?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                                       headers=ADMIN))
        seen += [u["userId"] for u in body["items"]]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    suspended = json_of(client.http.get("/admin/users?status=SUSPENDED", headers=ADMIN))["items"]
    assert [u["userId"] for u in suspended] == [ids[0]]
    assert client.http.get("/admin/users?status=GONE", headers=ADMIN).status_code == 400


# --- erasure --------------------------------------------------------------------------

def test_erasure_removes_personal_data_and_the_login(client):
    user_id, headers = _registered(client, "gone@example.com")
    post(client, "/me/addresses", {"name": "G", "line1": "1 Road", "city": "Town", "postalCode": "1000",
                                   "country": "BE"}, headers)
    assert client.http.delete("/me", headers=headers).status_code == 202
    assert login(client, "gone@example.com").status_code == 401
    assert client.http.get("/me", headers=headers).status_code == 401
    listed = json_of(client.http.get("/admin/users?status=ERASED", headers=ADMIN))["items"]
    assert listed == [{**listed[0], "userId": user_id, "email": None, "name": None, "status": "ERASED"}]


def test_erasure_is_idempotent(client):
    user_id, headers = _registered(client, "twice@example.com")
    assert client.http.delete("/me", headers=headers).status_code == 202
    assert client.http.delete("/me", headers=headers).status_code == 202


def test_erasure_runs_every_registered_eraser(client, monkeypatch):
    from chalicelib.composition import services
    from tests.shop import erased as run_erasure

    erased = []
    monkeypatch.setitem(services().personal_data.erasers, "test-domain",
                        lambda user_id, has_time: erased.append(user_id) or True)
    user_id, headers = _registered(client, "domains@example.com")
    client.http.delete("/me", headers=headers)
    assert erased == []  # the request only disables the login and records the erasure
    assert all(answer == {"batchItemFailures": []} for answer in run_erasure(client, user_id))
    assert erased == [user_id]


def test_erased_account_cannot_be_reactivated(client):
    user_id, headers = _registered(client, "final@example.com")
    client.http.delete("/me", headers=headers)
    response = client.http.patch(f"/admin/users/{user_id}", headers={**JSON, **ADMIN},
                                 body=json.dumps({"status": "ACTIVE"}))
    assert response.status_code == 409


def test_a_registration_racing_the_replacement_of_an_expired_sign_up_keeps_whoever_signed_up_first(
        client, aws, confirming, monkeypatch):
    """Between the expired sign-up's deletion and this registration's own sign-up, another registration of
    the email gets in: it keeps the email, and this one is answered as any registration of a taken email."""
    from datetime import timedelta

    from chalicelib.core.gateways import CognitoUserPool
    from chalicelib.core.ids import now, set_clock

    register(client, email="race@example.com", password="Squat1pass")
    real_delete, raced = CognitoUserPool.delete, []

    def delete_then_someone_signs_up(self, username):
        real_delete(self, username)
        if not raced:
            raced.append(CognitoUserPool().sign_up("race@example.com", "First1pass"))

    monkeypatch.setattr(CognitoUserPool, "delete", delete_then_someone_signs_up)
    later = now() + timedelta(hours=25)
    set_clock(lambda: later)
    try:
        answered = register(client, email="race@example.com", password="Second1pass")
    finally:
        set_clock(None)
    assert answered.status_code == 201 and json_of(answered)["userId"] != raced[0].user_id
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    idp.admin_confirm_sign_up(UserPoolId=aws["user_pool_id"], Username="race@example.com")
    assert login(client, "race@example.com", "First1pass").status_code == 200
    assert login(client, "race@example.com", "Second1pass").status_code == 401


def test_a_suspended_account_cannot_erase_itself_and_staff_can_still_reactivate_it(client, bus):
    user_id, headers = _registered(client, "fraud@example.com")
    client.http.patch(f"/admin/users/{user_id}", headers={**JSON, **ADMIN}, body=json.dumps({"status": "SUSPENDED"}))
    refused = client.http.delete("/me", headers=headers)
    assert refused.status_code == 401 and json_of(refused)["error"]["code"] == "ACCOUNT_INACTIVE"
    assert bus.of_type("UserErased") == []
    back = client.http.patch(f"/admin/users/{user_id}", headers={**JSON, **ADMIN},
                             body=json.dumps({"status": "ACTIVE"}))
    assert back.status_code == 200 and json_of(back)["status"] == "ACTIVE"
    assert json_of(client.http.get("/me", headers=headers))["email"] == "fraud@example.com"


def test_a_suspension_landing_while_the_account_is_remembered_active_still_stops_its_erasure(client, bus):
    from chalicelib.users.repository import UserRepository

    user_id, headers = _registered(client, "late@example.com")
    assert client.http.get("/me", headers=headers).status_code == 200  # remembered ACTIVE in this container
    seen = UserRepository().get_profile(user_id)
    UserRepository().change_status(seen, "SUSPENDED", "2026-12-07T00:00:00.000Z", [])  # another container
    refused = client.http.delete("/me", headers=headers)
    assert refused.status_code == 401 and json_of(refused)["error"]["code"] == "ACCOUNT_INACTIVE"
    assert UserRepository().get_profile(user_id).status == "SUSPENDED" and bus.of_type("UserErased") == []
