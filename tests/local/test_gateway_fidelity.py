"""Over real HTTP, the local server answers as the deployed stage's API Gateway: requests no route
declares, bodies over the gateway's quota, the stage's throttling, all in the template's gateway
responses, and a keep-alive connection stays in step whatever the request was."""
from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from chalice import Chalice
from chalice.config import Config

from chalicelib.core.http import MAX_BODY_BYTES, doc, http_middleware
from local.emulator import free_port
from local.verifying_server import GATEWAY_MAX_BODY_BYTES, Gateway, Throttle, TokenVerifier, create_server

NOT_FOUND = {"code": "NOT_FOUND", "message": "Missing Authentication Token"}


def small_shop(reached: list[str]) -> Chalice:
    """A few public routes behind the shop's own middleware."""
    app = Chalice(app_name="small-shop")
    app.register_middleware(http_middleware(app), "http")

    @app.route("/ping")
    @doc("Ping", access="public")
    def ping():
        reached.append("ping")
        return {"ok": True}

    @app.route("/auth/login", methods=["POST"])
    @doc("Sign in", access="public")
    def sign_in():
        reached.append("login")
        return {"ok": True}

    @app.route("/items/{item_id}", methods=["POST"])
    @doc("Echo", access="public")
    def echo(item_id):
        reached.append(item_id)
        return {"itemId": item_id, "bytes": len(app.current_request.raw_body or b"")}

    return app


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def serving(gateway: Gateway) -> Iterator[dict]:
    reached: list[str] = []
    verifier = TokenVerifier("http://127.0.0.1:9/jwks.json", issuer="nobody", audience="nobody")  # no route uses it
    port = free_port()
    server = create_server(small_shop(reached), Config.create(chalice_stage="local", lambda_timeout=10,
                                                              lambda_memory_size=128),
                           "127.0.0.1", port, verifier, gateway)
    thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield {"port": port, "reached": reached}
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture(scope="module")
def server():
    with serving(Gateway.from_template(throttling=False)) as running:
        yield running


@pytest.fixture
def connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=10)
    yield conn
    conn.close()


def exchange(conn, method: str, path: str, body: bytes | None = None, headers: dict | None = None, **options):
    conn.request(method, path, body=body, headers=headers or {}, **options)
    response = conn.getresponse()
    payload = response.read()
    return response, (json.loads(payload) if payload else None)


def still_in_step(conn) -> None:
    response, body = exchange(conn, "GET", "/ping")
    assert (response.status, body) == (200, {"ok": True})


@pytest.mark.parametrize("method,path", [("TRACE", "/ping"), ("QUERY", "/ping"), ("PUT", "/ping"),
                                         ("DELETE", "/items/a"), ("POST", "/nowhere"), ("PATCH", "/")])
def test_a_request_no_route_declares_is_the_gateways_404_and_its_body_is_not_the_next_request(
        connection, server, method, path):
    before = list(server["reached"])
    smuggled = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    response, body = exchange(connection, method, path, smuggled, {"Content-Type": "application/json"})
    assert response.status == 404
    assert body["error"] == NOT_FOUND and body["requestId"]
    # The template's gateway responses: nosniff, and no CORS origin unless the stack is given one.
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Access-Control-Allow-Origin") is None
    assert server["reached"] == before
    still_in_step(connection)
    assert server["reached"] == [*before, "ping"]


def test_head_is_answered_without_a_body(connection):
    connection.request("HEAD", "/ping")
    response = connection.getresponse()
    assert response.status == 404 and response.read() == b""
    still_in_step(connection)


def test_options_without_cors_is_not_a_route(connection):
    response, body = exchange(connection, "OPTIONS", "/ping")
    assert response.status == 404 and body["error"] == NOT_FOUND
    still_in_step(connection)


def test_a_chunked_body_is_read_whole(connection):
    response, body = exchange(connection, "POST", "/items/a", iter([b'{"a":', b' "bc"}']),
                              {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                              encode_chunked=True)
    assert (response.status, body) == (200, {"itemId": "a", "bytes": 11})
    still_in_step(connection)


def test_path_parameters_arrive_decoded_as_from_the_gateway(connection):
    response, body = exchange(connection, "POST", "/items/a%20b%2Fc", b"{}", {"Content-Type": "application/json"})
    assert body["itemId"] == "a b/c"


def test_an_id_longer_than_documented_answers_400(connection, server):
    before = list(server["reached"])
    response, body = exchange(connection, "POST", "/items/" + "x" * 129, b"{}", {"Content-Type": "application/json"})
    assert response.status == 400
    assert body["error"]["code"] == "INVALID_PATH_PARAMETER"
    assert body["error"]["details"][0]["field"] == "item_id"
    assert server["reached"] == before
    assert exchange(connection, "POST", "/items/" + "x" * 128, b"{}", {"Content-Type": "application/json"}
                    )[0].status == 200


def test_a_body_over_the_apps_limit_is_413_and_the_connection_stays_usable(connection):
    response, body = exchange(connection, "POST", "/items/a", b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}',
                              {"Content-Type": "application/json"})
    assert response.status == 413 and body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    still_in_step(connection)


def test_a_body_over_the_gateways_quota_is_refused_unread_and_the_connection_closed(connection, server):
    before = list(server["reached"])
    connection.putrequest("POST", "/items/a")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(GATEWAY_MAX_BODY_BYTES + 1))
    connection.endheaders()
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.status == 413 and body["requestId"]
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"  # as the app's own 413 says, not DEFAULT_4XX's code
    assert body["error"] == json.loads(Gateway.from_template().answer("REQUEST_TOO_LARGE", "x")[2])["error"]
    assert response.getheader("Connection") == "close" and response.will_close
    assert server["reached"] == before


def test_fifty_simultaneous_connections_all_get_an_http_answer():
    """Fifty connections opened before the server accepts any are queued, not dropped or reset (a listen
    backlog of 128, not socketserver's 5), and each gets its answer."""
    import socket

    count = 50
    verifier = TokenVerifier("http://127.0.0.1:9/jwks.json", issuer="nobody", audience="nobody")
    port = free_port()
    server = create_server(small_shop([]), Config.create(chalice_stage="local", lambda_timeout=10,
                                                         lambda_memory_size=128),
                           "127.0.0.1", port, verifier, Gateway.from_template(throttling=False))
    answers: list[bytes | str] = [b""] * count
    connected = threading.Barrier(count + 1)

    def connect(index: int) -> None:
        try:
            # Shorter than the kernel's first SYN retry (1 s): a connection the backlog did not hold fails.
            with socket.create_connection(("127.0.0.1", port), timeout=0.8) as sock:
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
                connected.wait(5)
                sock.settimeout(10)
                answers[index] = sock.recv(64)
        except (OSError, threading.BrokenBarrierError) as exc:
            answers[index] = repr(exc)

    threads = [threading.Thread(target=connect, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        connected.wait(5)  # every connection is open (or has failed) before the first is accepted
    except threading.BrokenBarrierError:
        pass
    serving_thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05},
                                      daemon=True)
    serving_thread.start()
    try:
        for thread in threads:
            thread.join(20)
    finally:
        server.server.shutdown()
        server.server.server_close()
    refused = [a for a in answers if not (isinstance(a, bytes) and a.startswith(b"HTTP/1.1 200"))]
    assert not refused, f"{len(refused)} of {count}: {refused[:3]}"


# --- throttling ------------------------------------------------------------------------

THROTTLED_TEMPLATE = {
    "Parameters": {"StageRate": {"Type": "Number", "Default": 2}, "StageBurst": {"Type": "Number", "Default": 3},
                   "ItemBurst": {"Type": "Number", "Default": 1}},
    "Resources": {"RestAPI": {"Properties": {
        "DefinitionBody": {"x-amazon-apigateway-gateway-responses": {"THROTTLED": {"responseTemplates": {
            "application/json": '{"error":{"code":"SLOW_DOWN","message":$context.error.messageString},'
                                '"requestId":"$context.requestId"}'}}}},
        "MethodSettings": [
            {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": {"Ref": "StageRate"},
             "ThrottlingBurstLimit": {"Ref": "StageBurst"}},
            {"ResourcePath": "/~1items~1{item_id}", "HttpMethod": "POST", "ThrottlingBurstLimit": {"Ref": "ItemBurst"}},
        ]}}},
}


def test_every_method_settings_entry_is_read_with_its_references_resolved():
    gateway = Gateway.from_template(THROTTLED_TEMPLATE, throttling=True)
    assert gateway.throttles == [Throttle(None, None, 2.0, 3), Throttle("/items/{item_id}", "POST", None, 1)]
    assert gateway.limits("/ping", "GET") == (2.0, 3)
    assert gateway.limits("/items/{item_id}", "POST") == (2.0, 1)  # the route's burst, the stage's rate


def test_the_stage_and_its_routes_throttle_as_the_merge_template_says():
    from local.bootstrap import TEMPLATE, Resolver, Stack

    template = json.loads(TEMPLATE.read_text())
    resolver = Resolver(template, Stack(), {"Stage": "local"}, "us-east-1")
    settings = resolver.resolve(template["Resources"]["RestAPI"]["Properties"]["MethodSettings"])
    gateway = Gateway.from_template(throttling=True)
    assert settings, "the stage declares its throttling"
    for setting in settings:
        path = None if setting["ResourcePath"] == "/*" else setting["ResourcePath"][1:].replace("~1", "/")
        assert gateway.limits(path or "/health", setting["HttpMethod"] if setting["HttpMethod"] != "*" else "GET") \
            == (float(setting["ThrottlingRateLimit"]), int(setting["ThrottlingBurstLimit"]))
    responses = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"]
    status, _, body = gateway.answer("THROTTLED", "rid")
    assert status == int(responses["THROTTLED"].get("statusCode", 429)) == 429
    assert f'"code":"{json.loads(body)["error"]["code"]}"' in responses["THROTTLED"]["responseTemplates"][
        "application/json"]


def test_local_throttling_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("LOCAL_THROTTLING", "off")
    gateway = Gateway.from_template(THROTTLED_TEMPLATE)
    assert all(gateway.admit("/ping", "GET") for _ in range(20))


def test_over_its_burst_a_route_answers_429_in_the_error_shape_until_tokens_refill():
    clock = Clock()
    with serving(Gateway.from_template(THROTTLED_TEMPLATE, throttling=True, clock=clock)) as running:
        conn = http.client.HTTPConnection("127.0.0.1", running["port"], timeout=10)
        statuses = [exchange(conn, "GET", "/ping")[0].status for _ in range(3)]
        response, body = exchange(conn, "GET", "/ping")
        assert statuses == [200, 200, 200] and response.status == 429
        assert body["error"] == {"code": "SLOW_DOWN", "message": "Too Many Requests"} and body["requestId"]
        assert running["reached"] == ["ping"] * 3
        # Each route and method has its own bucket, with its own limits.
        assert exchange(conn, "POST", "/items/a", b"{}", {"Content-Type": "application/json"})[0].status == 200
        assert exchange(conn, "POST", "/items/b", b"{}", {"Content-Type": "application/json"})[0].status == 429
        clock.now += 0.5  # the stage's rate is 2 per second: one token back
        assert [exchange(conn, "GET", "/ping")[0].status for _ in range(2)] == [200, 429]
        conn.close()


# --- the web ACL's rate limits per client address --------------------------------------------

def test_the_web_acls_rate_rules_per_address_are_read_from_the_merge_template():
    gateway = Gateway.from_template(throttling=True)
    by_name = {rule.name: rule for rule in gateway.rate_rules}
    assert set(by_name) == {"AuthRatePerIp", "RatePerIp"}
    auth, everything = by_name["AuthRatePerIp"], by_name["RatePerIp"]
    assert (auth.limit, auth.window, everything.limit) == (100, 300, 2000)
    status, headers, body = auth.blocked
    assert status == 429 and headers["Retry-After"] == "300" and headers["X-Content-Type-Options"] == "nosniff"
    assert json.loads(body)["error"]["code"] == "TOO_MANY_REQUESTS"
    # The sign-in routes' rule covers them with or without the stage's name in front, and nothing else.
    for path, covered in (("/auth/login", True), ("/api/auth/refresh", True), ("/products", False),
                          ("/me/mfa", False)):
        assert (auth._scope.search(path) is not None) is covered, path
    # One address's whole window on /auth/* is less than what one sign-in route admits at once.
    assert all(gateway.limits(path, "POST")[1] > auth.limit for path in ("/auth/login", "/auth/mfa", "/auth/refresh"))


WAF_TEMPLATE = {
    "Parameters": {"EnableWaf": {"Type": "String", "Default": "true"}},
    "Conditions": {"HasWaf": {"Fn::Equals": [{"Ref": "EnableWaf"}, "true"]}},
    "Resources": {"WebAcl": {"Condition": "HasWaf", "Properties": {
        "CustomResponseBodies": {"slow": {"ContentType": "APPLICATION_JSON", "Content": '{"error":{"code":"SLOW"}}'}},
        "Rules": [{"Name": "Auth", "Priority": 0, "Statement": {"RateBasedStatement": {
            "Limit": 3, "AggregateKeyType": "IP", "EvaluationWindowSec": 60, "ScopeDownStatement": {
                "RegexMatchStatement": {"RegexString": "^/auth/", "FieldToMatch": {"UriPath": {}}}}}},
            "Action": {"Block": {"CustomResponse": {"ResponseCode": 429, "CustomResponseBodyKey": "slow"}}}}]}}},
}


def _from(address: str, port: int, path: str, method: str = "POST") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(address, 0))
    try:
        conn.request(method, path, body=b"{}", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_one_address_hammering_a_sign_in_route_is_stopped_and_another_address_still_gets_in():
    clock = Clock()
    with serving(Gateway.from_template(WAF_TEMPLATE, throttling=True, clock=clock)) as running:
        port = running["port"]
        assert [_from("127.0.0.2", port, "/auth/login") for _ in range(5)] == [200, 200, 200, 429, 429]
        assert running["reached"].count("login") == 3  # blocked requests never reach the app
        assert _from("127.0.0.3", port, "/auth/login") == 200  # another client is not held back
        assert _from("127.0.0.2", port, "/ping", "GET") == 200  # the rule covers the sign-in routes only
        clock.now += 61  # the window passes: the address is admitted again
        assert _from("127.0.0.2", port, "/auth/login") == 200


def test_the_app_sees_the_callers_address_as_the_gateway_gives_it():
    seen: list[str] = []
    app = Chalice(app_name="address")
    app.register_middleware(http_middleware(app), "http")

    @app.route("/who")
    @doc("Who", access="public")
    def who():
        seen.append(app.current_request.context["identity"]["sourceIp"])
        return {}

    verifier = TokenVerifier("http://127.0.0.1:9/jwks.json", issuer="nobody", audience="nobody")
    port = free_port()
    server = create_server(app, Config.create(chalice_stage="local", lambda_timeout=10, lambda_memory_size=128),
                           "127.0.0.1", port, verifier, Gateway.from_template(throttling=False))
    thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        assert _from("127.0.0.4", port, "/who", "GET") == 200 and _from("127.0.0.5", port, "/who", "GET") == 200
    finally:
        server.server.shutdown()
        server.server.server_close()
    assert seen == ["127.0.0.4", "127.0.0.5"]
