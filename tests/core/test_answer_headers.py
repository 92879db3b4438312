"""Headers every answer carries, set once by the middleware: no content sniffing anywhere, and nothing but
a public read may be cached (tokens, profiles, TOTP secrets, staff views). Rows come from the app's route
table, so a new route is covered."""
from __future__ import annotations

import re

import boto3

from tests.fakes import auth
from tests.shop import call

ADMIN = auth("boss", groups=["admin"])
JSON = {"Content-Type": "application/json"}


def _routes():
    from app import app
    from chalicelib.core.http import route_doc

    for path, entries in sorted(app.routes.items()):
        for method, entry in sorted(entries.items()):
            yield path, method, route_doc(entry.view_function).access


ROUTES = list(_routes())


def test_every_answer_says_nosniff_and_only_public_reads_may_be_cached(client):
    wrong = []
    for path, method, access in ROUTES:
        url = re.sub(r"{(\w+)}", "unknown-id", path)
        response = client.http.request(method, url, headers={**JSON, **ADMIN}, body=b"{}")
        cache = response.headers.get("Cache-Control")
        cacheable = access == "public" and method == "GET"
        if response.headers.get("X-Content-Type-Options") != "nosniff" or (cache == "no-store") == cacheable:
            wrong.append((method, path, response.status_code, cache))
    assert wrong == []


def test_token_answers_are_never_cached(client, aws):
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    idp.admin_create_user(UserPoolId=aws["user_pool_id"], Username="ann@example.com", MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": "ann@example.com"},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=aws["user_pool_id"], Username="ann@example.com",
                                Password="Correct1horse", Permanent=True)
    login = call(client, "post", "/auth/login", {"email": "ann@example.com", "password": "Correct1horse"})
    assert login.status_code == 200 and "idToken" in login.json
    assert login.headers["Cache-Control"] == "no-store"
    refreshed = call(client, "post", "/auth/refresh", {"refreshToken": login.json["refreshToken"]})
    assert refreshed.status_code == 200 and refreshed.headers["Cache-Control"] == "no-store"
    me = call(client, "get", "/me", headers={"Authorization": login.json["idToken"]})
    assert me.status_code == 200 and me.headers["Cache-Control"] == "no-store"

