"""Anyone may call a public route with anything: every value in every header, path parameter, query parameter
and body answers 2xx or 4xx in the error shape, never 5xx.

The requests are the events API Gateway hands the function (path parameters decoded, any header value, the
body base64-encoded), so the fuzzing reaches the app exactly as it would in AWS, without the local server's
own checks in front. The rows come from the app's route table: a new public route is fuzzed too. `make fuzz`
runs the longer fuzzing of the whole OpenAPI document against the local stack.
"""
from __future__ import annotations

import base64
import json
import os
import re
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.core.models import MAX_JSON_DEPTH

EXAMPLES = int(os.environ.get("PUBLIC_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("PUBLIC_FUZZ_SEED") is None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SECRET = "local-webhook-secret"


def _public_routes():
    from app import app
    from chalicelib.core.http import route_doc

    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            declared = route_doc(entry.view_function)
            if declared is not None and declared.access in ("public", "signature"):
                yield path, method, declared


PUBLIC = list(_public_routes())
WITH_BODIES = [(path, method) for path, method, declared in PUBLIC if declared.body is not None]
WITH_PARAMETERS = [(path, method) for path, method, _ in PUBLIC if "{" in path]
WITH_QUERIES = [(path, method) for path, method, declared in PUBLIC if declared.query is not None]
ROUTES = [(path, method) for path, method, _ in PUBLIC]

# Any text (surrogates and controls included), and any bytes as a header carries them (latin-1).
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=300)
NUMBERS = st.one_of(st.integers(), st.integers(10**300, 10**1000), st.floats()).map(str)
# Shaped like a signature, with anything in its parts (a 400-digit timestamp, a non-ASCII digest: once 500s).
SIGNATURES = st.builds("t={},v1={}".format,
                       st.one_of(st.sampled_from(["9" * 400, "{now}", "-{now}", " {now}", "{now}_0", "\u0661\u0662"]),
                                 NUMBERS, ANY_TEXT),
                       st.one_of(st.sampled_from(["\u00e9" * 64, "\udc80", "0" * 64, ""]), ANY_TEXT,
                                 st.text(alphabet="0123456789abcdef\u00e9", min_size=64, max_size=64)))
ANY_VALUE = st.one_of(ANY_TEXT, st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")), NUMBERS,
                      st.text(alphabet="[]{}\"\\,:=t1v", max_size=2000), SIGNATURES)
HEADER_NAMES = ["X-Signature", "X-Correlation-Id", "Content-Type", "Idempotency-Key", "Authorization", "Accept",
                "Content-Length", "Host", "X-Forwarded-For", "Cookie", "If-None-Match"]


def _json_values(max_leaves: int = 20):
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ANY_TEXT,
                       st.integers(min_value=10**20, max_value=10**400))
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(ANY_TEXT, inner, max_size=4)),
                        max_leaves=max_leaves)


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"email":' * depth  # unterminated


BODIES = st.one_of(
    st.binary(max_size=2000),
    _json_values().map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(["email", "password", "name", "code", "refreshToken", "session", "id",
                                     "type", "orderId", "amount", "currency", "refundId"]),
                    _json_values(5), max_size=6).map(lambda value: json.dumps(value).encode()),
    st.builds(_nested, st.sampled_from([MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 1000, 5000]),
              st.sampled_from(["array", "object", "open"])),
    st.integers(60_000, 200_000).map(lambda size: b'{"name": "' + b"x" * size + b'"}'),
)


def event(path: str, method: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
          query: dict[str, list[str]] | None = None, body: bytes | None = None) -> dict:
    """The Lambda proxy event API Gateway (REST) sends for one request."""
    params = params if params is not None else {name: "p-1" for name in re.findall(r"{(\w+)}", path)}
    concrete = re.sub(r"{(\w+)}", lambda m: params.get(m.group(1), ""), path)
    headers = {"Content-Type": "application/json", **(headers or {})}
    return {
        "resource": path, "path": concrete, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params or None, "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "path": f"/api{concrete}", "stage": "api",
                           "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "192.0.2.1"}},
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def answer(request: dict) -> tuple[int, object]:
    """Invoke the API function as Lambda would, under its own role: (status, parsed body)."""
    from chalice.local import LambdaContext

    from app import app
    from local import identities

    with identities.running_as("api_handler"):
        response = app(request, LambdaContext("api_handler", memory_size=1024))
    raw = response["body"] or ""
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8", "replace")
    try:
        return response["statusCode"], json.loads(raw)
    except ValueError:  # the docs page and its assets are not JSON
        return response["statusCode"], raw


def assert_answered(status: int, payload: object, request: dict) -> None:
    shown = {key: request[key] for key in ("path", "headers", "queryStringParameters")}
    assert status < 500, (status, payload, shown)
    if status >= 400:
        assert isinstance(payload, dict) and set(payload) == {"error", "requestId"}, (status, payload, shown)
        assert isinstance(payload["error"]["code"], str) and isinstance(payload["error"]["message"], str), payload


@pytest.fixture
def api(aws, monkeypatch):
    from tests.shop import Bus

    bus = Bus()
    for where in ("chalicelib.core.outbox.publish", "chalicelib.core.events.publish"):
        monkeypatch.setattr(where, bus.publish)
    return aws


def test_every_public_route_is_fuzzed():
    assert {("/auth/login", "POST"), ("/webhooks/payments", "POST"), ("/products/{product_id}", "GET"),
            ("/products", "GET"), ("/health", "GET")} <= set(ROUTES)
    assert ("/webhooks/payments", "POST") in WITH_BODIES and ("/products", "GET") in WITH_QUERIES


@FUZZ
@given(route=st.sampled_from(ROUTES), headers=st.dictionaries(st.sampled_from(HEADER_NAMES), ANY_VALUE, max_size=4))
def test_any_header_values_on_a_public_route_answer_4xx_never_5xx(api, route, headers):
    path, method = route
    now = str(int(time.time()))
    headers = {name: value.replace("{now}", now) for name, value in headers.items()}
    request = event(path, method, headers=headers, body=b"{}" if route in WITH_BODIES else None)
    assert_answered(*answer(request), request)


@settings(FUZZ, max_examples=3 * EXAMPLES)
@given(signature=SIGNATURES, body=st.one_of(st.just(b"{}"), BODIES))
def test_any_signature_on_the_webhook_answers_401_never_5xx(api, signature, body):
    request = event("/webhooks/payments", "POST", body=body,
                    headers={"X-Signature": signature.replace("{now}", str(int(time.time())))})
    status, payload = answer(request)
    assert_answered(status, payload, request)
    assert status in (401, 413), payload  # nothing is believed, or even read, before the signature holds


@FUZZ
@given(route=st.sampled_from(WITH_PARAMETERS), value=st.one_of(ANY_VALUE, st.text(max_size=129)))
def test_any_path_parameter_of_a_public_route_answers_4xx_never_5xx(api, route, value):
    path, method = route
    request = event(path, method, params={name: value for name in re.findall(r"{(\w+)}", path)})
    assert_answered(*answer(request), request)


@FUZZ
@given(route=st.sampled_from(WITH_QUERIES),
       query=st.dictionaries(st.sampled_from(["limit", "cursor", "category", "from", "status", "x"]),
                             st.lists(ANY_VALUE, min_size=1, max_size=3), max_size=4))
def test_any_query_of_a_public_route_answers_4xx_never_5xx(api, route, query):
    path, method = route
    request = event(path, method, query=query)
    assert_answered(*answer(request), request)


@FUZZ
@given(route=st.sampled_from(WITH_BODIES), body=BODIES, signed=st.booleans())
def test_any_body_of_a_public_route_answers_4xx_never_5xx(api, route, body, signed):
    """Bytes, JSON of every shape, bodies nested to thousands of levels or larger than the limit; the
    webhook's signed with the right secret too, so its body reaches the parser."""
    from chalicelib.payments.signature import sign

    path, method = route
    headers = {"X-Signature": sign(SECRET, body)} if signed else {}
    request = event(path, method, headers=headers, body=body)
    assert_answered(*answer(request), request)
