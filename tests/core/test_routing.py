"""Each domain's blueprint is registered with `app.register_blueprint`: all at once, or in Lambda when a request
first needs one of its paths, so a cold start there imports one domain."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import types

import pytest
from chalice import Chalice, CognitoUserPoolAuthorizer

from chalicelib.core.routing import Domains, Routes

LAMBDA = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "shop-test"}


def _in_a_fresh_process(statement: str, **env: str) -> dict:
    """Runs `statement` after `import app` in a new process; answers what it printed (JSON) and the routes
    modules it had loaded."""
    code = ("import json, sys, app\n"
            f"{statement}\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('chalicelib.') and m.endswith('.routes'))\n"
            "print(json.dumps({'loaded': loaded, 'paths': len(app.app.routes), "
            "'registered': app.domains.registered, **globals().get('extra', {})}))\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _request(method: str, resource: str, **path: str) -> str:
    """A statement answering an API Gateway request through Chalice's entry point, as Lambda calls it."""
    event = {"resource": resource, "path": resource.format(**path), "httpMethod": method, "headers": {},
             "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
             "pathParameters": path or None, "stageVariables": None, "body": None, "isBase64Encoded": False,
             "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "api",
                                "requestId": "test-request", "identity": {"sourceIp": "127.0.0.1"}}}
    return ("import types\n"
            f"answer = app.app({event!r}, types.SimpleNamespace(aws_request_id='test-request', "
            "function_name='shop-test', memory_limit_in_mb=512, get_remaining_time_in_millis=lambda: 10_000))\n"
            "extra = {'status': answer['statusCode'], 'body': answer['body']}")


def test_outside_lambda_importing_the_app_registers_every_domain():
    from app import app, domains

    assert domains.registered and len(app.routes) == 62


def test_in_lambda_importing_the_app_registers_no_domain():
    assert _in_a_fresh_process("pass", **LAMBDA) == {"loaded": [], "paths": 0, "registered": False}


def test_in_lambda_a_request_registers_only_the_domain_serving_its_path():
    answered = _in_a_fresh_process(_request("GET", "/orders/{order_id}", order_id="o1"), **LAMBDA)
    assert answered["status"] == 401  # a user route, no token: the access its @doc declares was enforced
    assert answered["loaded"] == ["chalicelib.orders.routes"] and not answered["registered"]
    answered = _in_a_fresh_process(_request("GET", "/basket/checkout"), **LAMBDA)  # a POST route of orders
    assert answered["status"] == 405 and answered["loaded"] == ["chalicelib.orders.routes"]


def test_in_lambda_the_openapi_document_describes_every_domain():
    answered = _in_a_fresh_process(_request("GET", "/openapi.json"), **LAMBDA)
    assert answered["status"] == 200 and answered["registered"]
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "openapi.json")) as committed:
        assert json.loads(answered["body"])["paths"].keys() == json.load(committed)["paths"].keys()


def test_a_snapshotted_initialisation_registers_every_domain():
    answered = _in_a_fresh_process("pass", **LAMBDA, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    assert answered["registered"] and answered["paths"] == 62 and "chalicelib.audit.routes" in answered["loaded"]


def test_every_route_is_served_by_the_domain_whose_prefix_names_its_path():
    from app import app, domains

    for path, methods in app.routes.items():
        for method, entry in methods.items():
            assert domains.owner(path) == entry.view_function.__module__, f"{method} {path}: add its prefix in app.py"


# Two domains made here (each a module with a `routes` blueprint), to show the rules on their own.
@pytest.fixture
def two_domains():
    def make(**prefixes: tuple[str, ...]) -> tuple[Chalice, Domains, list[str]]:
        first, second = Routes("shop_first"), Routes("shop_second")
        first.route("/one")(lambda: {"one": 1})
        first.route("/two/{n}/one")(lambda n: {"n": n})
        second.route("/two")(lambda: {"two": 2})
        second.route("/two/{n}", methods=["PUT"])(lambda n: {"n": n})
        modules = {"shop_first": first, "shop_second": second}
        imported: list[str] = []

        def import_module(name: str) -> types.SimpleNamespace:
            imported.append(name)
            return types.SimpleNamespace(routes=modules[name])

        app = Chalice("two")
        domains = Domains(app, lazy=True, import_module=import_module)
        for module in modules:
            domains.add(module, *prefixes.get(module, ()))
        return app, domains, imported

    return make


def _answer(app: Chalice, method: str, resource: str) -> int:
    event = {"path": resource, "httpMethod": method, "headers": {}, "multiValueHeaders": {},
             "queryStringParameters": None, "multiValueQueryStringParameters": None,
             "pathParameters": {"n": "7"} if "{n}" in resource else None,
             "stageVariables": None, "body": None, "isBase64Encoded": False,
             "requestContext": {"resourcePath": resource, "httpMethod": method}}
    return app(event, types.SimpleNamespace(aws_request_id="r"))["statusCode"]


def test_a_request_registers_the_domain_of_the_longest_prefix_of_its_path(two_domains):
    app, domains, imported = two_domains(shop_first=("/one", "/two/{n}/one"), shop_second=("/two",))
    assert domains.owner("/two/{n}") == "shop_second" and domains.owner("/two/{n}/one") == "shop_first"
    assert _answer(app, "PUT", "/two/{n}") == 200 and imported == ["shop_second"]
    assert _answer(app, "GET", "/two") == 200 and imported == ["shop_second"]
    assert _answer(app, "GET", "/two/{n}/one") == 200 and imported == ["shop_second", "shop_first"]
    assert domains.registered


def test_a_path_no_prefix_names_costs_time_never_a_route(two_domains):
    app, domains, imported = two_domains(shop_first=("/one",))  # /two forgotten
    assert _answer(app, "GET", "/two") == 200 and sorted(imported) == ["shop_first", "shop_second"]
    app, domains, _ = two_domains(shop_first=("/one", "/two"))  # /two claimed by the wrong domain
    assert _answer(app, "GET", "/two") == 200 and domains.registered


def test_requests_arriving_together_register_a_domain_once(two_domains):
    app, _, imported = two_domains(shop_first=("/one",), shop_second=("/two",))
    start, statuses = threading.Barrier(8), []

    def first_request():
        start.wait()
        statuses.append(_answer(app, "GET", "/two"))  # a second registration would raise (duplicate route)

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8 and imported == ["shop_second"]


def test_registering_every_domain_eagerly_needs_no_request():
    first = Routes("shop_eager")
    first.route("/one")(lambda: {"one": 1})
    app = Chalice("eager")
    domains = Domains(app, lazy=False, import_module=lambda name: types.SimpleNamespace(routes=first))
    domains.add("shop_eager", "/one")
    assert domains.registered and list(app.routes) == ["/one"]


def _guarded(access: str):
    from chalicelib.core.http import doc

    def view():
        return {}
    return doc("a route", access)(view)


def test_each_route_gets_the_gateway_authorizer_its_declared_access_needs():
    from chalicelib.core.http import cognito

    routes = Routes("shop_guarded")
    for path, access in (("/open", "public"), ("/signed", "signature"), ("/mine", "user"), ("/staff", "admin")):
        routes.route(path, methods=["GET", "POST"])(_guarded(access))

    @routes.route("/undeclared")  # no @doc: no authorizer here, and the middleware serves no one
    def undeclared():
        return {}

    app = Chalice("guarded")
    app.register_blueprint(routes)
    assert {path: {method: entry.authorizer for method, entry in methods.items()}
            for path, methods in app.routes.items()} == {
        "/open": {"GET": None, "POST": None}, "/signed": {"GET": None, "POST": None},
        "/mine": {"GET": cognito, "POST": cognito}, "/staff": {"GET": cognito, "POST": cognito},
        "/undeclared": {"GET": None}}


def test_a_route_naming_its_own_authorizer_is_refused():
    from chalicelib.core.http import cognito

    other = CognitoUserPoolAuthorizer("Other", provider_arns=["arn:aws:cognito-idp:us-east-1:0:userpool/x"])
    for named in (other, cognito):  # even the one its access would give it: said twice, it could disagree
        with pytest.raises(ValueError, match="PUT /guarded names an authorizer"):
            Routes("shop_guarded").route("/guarded", methods=["PUT"], authorizer=named)
