"""Over real HTTP, a protected route answers 401 exactly as API Gateway does unless the token is genuine."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from chalice import Chalice, CognitoUserPoolAuthorizer
from chalice.config import Config

from local.emulator import free_port, local_opener
from local.verifying_server import TokenVerifier, create_server
from tests.local import tokens

UNAUTHORIZED = {"code": "UNAUTHORIZED", "message": "Unauthorized"}


def throwaway_app(reached: list[str]) -> Chalice:
    app = Chalice(app_name="throwaway")
    pool = CognitoUserPoolAuthorizer("Users", provider_arns=["arn:aws:cognito-idp:us-east-1:123456789012:userpool/x"])

    @app.route("/public")
    def public():
        reached.append("public")
        return {"ok": True}

    @app.route("/private", authorizer=pool)
    def private():
        reached.append("private")
        return {"claims": app.current_request.context["authorizer"]["claims"]}

    return app


@pytest.fixture(scope="module")
def pool(stack, client_for, emulator):
    idp = client_for("cognito-idp")
    summary = stack.summary()
    email = tokens.make_user(idp, summary["user_pool_id"], "http@example.com", group="admin")
    return {"id": summary["user_pool_id"], "client_id": summary["user_pool_client_id"],
            "tokens": tokens.login(idp, summary["user_pool_client_id"], email)}


@pytest.fixture(scope="module")
def server(pool, emulator):
    reached: list[str] = []
    verifier = TokenVerifier(f"{emulator.url}/{pool['id']}/.well-known/jwks.json",
                             issuer=f"https://cognito-idp.us-east-1.amazonaws.com/{pool['id']}",
                             audience=pool["client_id"])
    port = free_port()
    dev_server = create_server(throwaway_app(reached), Config.create(chalice_stage="local", lambda_timeout=10,
                                                                      lambda_memory_size=128),
                               "127.0.0.1", port, verifier)
    thread = threading.Thread(target=dev_server.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{port}", "reached": reached}
    dev_server.server.shutdown()
    dev_server.server.server_close()


def get(server, path: str, authorization: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(server["url"] + path)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with local_opener().open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def refused_without_reaching_the_app(server, authorization: str | None) -> None:
    before = list(server["reached"])
    status, body = get(server, "/private", authorization)
    assert (status, body["error"]) == (401, UNAUTHORIZED) and body["requestId"]
    assert server["reached"] == before


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "CONNECT", "PUT"])
def test_methods_no_route_uses_answer_as_the_gateway_does_in_json(server, method):
    """API Gateway answers a method a resource does not have as an unknown route (the template: 404)."""
    request = urllib.request.Request(server["url"] + "/public", method=method)
    with pytest.raises(urllib.error.HTTPError) as refused:
        local_opener().open(request, timeout=10)
    assert refused.value.code == 404
    assert json.loads(refused.value.read())["error"]["code"] == "NOT_FOUND"


def test_public_route_needs_no_token(server):
    assert get(server, "/public") == (200, {"ok": True})


def test_missing_header_is_refused(server):
    refused_without_reaching_the_app(server, None)


@pytest.mark.parametrize("header", ["", "garbage", "Bearer ", "Bearer garbage", "a.b.c"])
def test_garbage_header_is_refused(server, header):
    refused_without_reaching_the_app(server, header)


def test_forged_tokens_are_refused(server, pool):
    claims = tokens.claims_of(pool["tokens"]["IdToken"])
    for forged in (tokens.unsigned(claims), tokens.sign(claims, tokens.foreign_key()),
                   tokens.tampered(pool["tokens"]["IdToken"], sub="someone-else"),
                   tokens.signed_by_pool(tokens.expired(claims), pool["id"]),
                   tokens.sign({**claims, "cognito:groups": ["admin"]}, tokens.packaged_private_key())):
        refused_without_reaching_the_app(server, forged)


def test_access_token_is_refused(server, pool):
    refused_without_reaching_the_app(server, pool["tokens"]["AccessToken"])


@pytest.mark.parametrize("prefix", ["", "Bearer "])
def test_genuine_id_token_reaches_the_app_with_its_claims(server, pool, prefix):
    status, body = get(server, "/private", prefix + pool["tokens"]["IdToken"])
    assert status == 200
    assert body["claims"]["email"] == "http@example.com"
    assert body["claims"]["sub"] == tokens.claims_of(pool["tokens"]["IdToken"])["sub"]
    assert "admin" in body["claims"]["cognito:groups"]
