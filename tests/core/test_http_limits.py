"""The limits every route keeps, enforced once by the middleware: ids within their documented length,
bodies within MAX_BODY_BYTES (413), JSON nested at most MAX_JSON_DEPTH deep (400). Rows come from the app's route
table, so a new route is covered."""
from __future__ import annotations

import json
import re

import pytest

from chalicelib.core.http import MAX_BODY_BYTES, MAX_PATH_PARAMETER_LENGTH, route_doc
from chalicelib.core.models import MAX_JSON_DEPTH, JsonTooDeep, load_json
from tests.conftest import json_of
from tests.fakes import auth

ADMIN = auth("boss", groups=["admin"])
JSON = {"Content-Type": "application/json"}


def _routes(with_parameters: bool | None = None, methods: tuple[str, ...] | None = None):
    from app import app

    for path, entries in sorted(app.routes.items()):
        if with_parameters is not None and bool(re.search(r"{\w+}", path)) != with_parameters:
            continue
        for method in sorted(entries):
            if methods is None or method in methods:
                yield path, method


WITH_IDS = list(_routes(with_parameters=True))
WRITES = list(_routes(methods=("POST", "PUT", "PATCH")))


def _url(path: str, length: int, only: str | None = None) -> str:
    return re.sub(r"{(\w+)}", lambda m: "a" * (length if only in (None, m.group(1)) else 8), path)


def _send(client, method: str, url: str, body: str | None = None, headers: dict | None = None):
    return client.http.request(method, url, headers={**JSON, **ADMIN, **(headers or {})},
                               body=(body if body is not None else "{}").encode())


def test_every_route_with_an_id_is_covered():
    assert len(WITH_IDS) >= 10


@pytest.mark.parametrize("path,method", WITH_IDS, ids=[f"{m} {p}" for p, m in WITH_IDS])
def test_an_id_longer_than_documented_answers_400_naming_it(client, path, method):
    for name in re.findall(r"{(\w+)}", path):
        response = _send(client, method, _url(path, MAX_PATH_PARAMETER_LENGTH + 1, only=name),
                         headers={"Idempotency-Key": "limits-test-key"})
        assert response.status_code == 400, response.body
        error = json_of(response)["error"]
        assert error["code"] == "INVALID_PATH_PARAMETER"
        assert [(d["field"], d["location"]) for d in error["details"]] == [(name, "path")]


@pytest.mark.parametrize("path,method", WITH_IDS, ids=[f"{m} {p}" for p, m in WITH_IDS])
def test_an_id_of_the_documented_length_is_not_refused_for_its_length(client, path, method):
    response = _send(client, method, _url(path, MAX_PATH_PARAMETER_LENGTH))
    assert response.status_code < 500
    if response.status_code == 400:
        assert json_of(response)["error"]["code"] != "INVALID_PATH_PARAMETER"


def test_an_id_that_is_not_unicode_text_answers_400_naming_it_on_every_route(client):
    """A lone surrogate (what a percent-encoded half of a UTF-16 pair decodes to) is no key DynamoDB takes."""
    for path, method in WITH_IDS:
        for name in re.findall(r"{(\w+)}", path):
            url = re.sub(r"{(\w+)}", lambda m: "a\udc80" if m.group(1) == name else "a" * 8, path)
            response = _send(client, method, url, headers={"Idempotency-Key": "limits-test-key"})
            assert response.status_code == 400, (method, path, response.body)
            error = json_of(response)["error"]
            assert error["code"] == "INVALID_PATH_PARAMETER" and error["details"][0]["field"] == name, (method, path)


def test_the_caller_is_checked_before_the_id(client):
    response = client.http.delete("/basket/items/" + "a" * (MAX_PATH_PARAMETER_LENGTH + 1))
    assert response.status_code == 401


def test_deleting_a_basket_line_with_a_129_character_id_is_refused(client):
    response = client.http.delete("/basket/items/" + "p" * 129, headers=auth("ann"))
    assert response.status_code == 400


@pytest.mark.parametrize("path,method", WRITES, ids=[f"{m} {p}" for p, m in WRITES])
def test_a_body_over_the_limit_answers_413_on_every_write(client, path, method):
    body = json.dumps({"name": "x" * MAX_BODY_BYTES})
    response = _send(client, method, _url(path, 8), body, headers={"Idempotency-Key": "limits-test-key"})
    assert response.status_code == 413, response.body
    payload = json_of(response)
    assert payload["error"]["code"] == "PAYLOAD_TOO_LARGE" and payload["requestId"]


def test_a_body_at_the_limit_is_read(client):
    padding = MAX_BODY_BYTES - len(json.dumps({"name": ""}))
    response = _send(client, "POST", "/products", json.dumps({"name": "x" * padding}))
    assert len(json.dumps({"name": "x" * padding})) == MAX_BODY_BYTES
    assert response.status_code in (400, 422) and json_of(response)["error"]["code"] != "PAYLOAD_TOO_LARGE"


def _takes_a_body(path: str, method: str) -> bool:
    from app import app

    return route_doc(app.routes[path][method].view_function).body is not None


# Every route that reads a body, /auth/* and the webhook included: the parser once raised RecursionError (500).
BODIES = [(path, method) for path, method in WRITES if _takes_a_body(path, method)]


def test_every_route_with_a_body_is_covered():
    assert {("/auth/login", "POST"), ("/webhooks/payments", "POST"), ("/basket/checkout", "POST")} <= set(BODIES)


def test_a_body_nested_a_thousand_levels_deep_answers_400_on_every_route_with_a_body(client):
    from chalicelib.payments.signature import sign

    for path, method in BODIES:  # one stack for every route: the check is the middleware's, not the route's
        for deep in ("[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000, '{"a":' + "[" * 2000):
            response = _send(client, method, _url(path, 8), deep, headers={
                "Idempotency-Key": "limits-test-key", "X-Signature": sign("local-webhook-secret", deep.encode())})
            assert response.status_code == 400, (method, path, response.body)
            payload = json_of(response)
            assert payload["error"]["code"] in ("BODY_TOO_DEEP", "MALFORMED_JSON") and payload["requestId"], (
                method, path, payload)


def test_json_is_read_to_the_depth_limit_and_no_deeper():
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    assert load_json('{"a": "' + "[{" * 5000 + '"}') == {"a": "[{" * 5000}  # brackets in strings are text
    assert load_json(r'["\"[[[[", {"b": [1]}]') == ['"[[[[', {"b": [1]}]
    with pytest.raises(JsonTooDeep):
        load_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    for not_json in ("NaN", "[Infinity]", "-Infinity", "{", "[1,]"):
        with pytest.raises(ValueError):
            load_json(not_json)
