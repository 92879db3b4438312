"""API Gateway's authorizer on each route follows the access its `@doc` declares, said nowhere else.

Each domain's blueprint (core/routing.py's `Routes`) gives `route()` the authorizer its declared access needs,
so every way a domain is registered carries it: all at once (packaging, the local server, the tests) or, in
Lambda, by the request that first needs one of its paths.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from chalicelib.core.http import cognito, route_doc

SECURED = ("user", "admin")


def _behind_cognito(view) -> bool:
    return route_doc(view).access in SECURED


def test_every_route_of_the_full_table_is_behind_cognito_iff_it_declares_user_or_admin_access():
    from app import app, domains

    entries = [entry for methods in app.routes.values() for entry in methods.values()]
    assert domains.registered and len(entries) > 40
    for entry in entries:
        expected = cognito if _behind_cognito(entry.view_function) else None
        assert entry.authorizer is expected, f"{entry.method} {entry.uri_pattern}"
    assert {route_doc(e.view_function).access for e in entries if e.authorizer is None} == {"public", "signature"}


def test_a_domain_registered_by_a_request_gets_the_same_authorizers():
    # A fresh Lambda environment: a request registers its domain (PUT is no method of the path: no AWS call).
    event = {"path": "/products/p1", "httpMethod": "PUT", "headers": {}, "multiValueHeaders": {},
             "queryStringParameters": None, "multiValueQueryStringParameters": None,
             "pathParameters": {"product_id": "p1"}, "stageVariables": None, "body": None, "isBase64Encoded": False,
             "requestContext": {"resourcePath": "/products/{product_id}", "httpMethod": "PUT", "stage": "api"}}
    code = ("import types, app\n"
            "from chalicelib.core.http import cognito\n"
            f"assert app.app({event!r}, types.SimpleNamespace(aws_request_id='r'))['statusCode'] == 405\n"
            "products = app.app.routes['/products/{product_id}']\n"
            "assert not app.domains.registered\n"
            "print(*sorted(f'{m}={e.authorizer is cognito}' for m, e in products.items()))\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "AWS_LAMBDA_FUNCTION_NAME": "shop-test"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["DELETE=True", "GET=False", "PATCH=True"]  # admin, public, admin


def test_the_packaged_swagger_puts_the_authorizer_on_exactly_the_user_and_admin_methods():
    from chalice.deploy.swagger import CFNSwaggerGenerator

    from app import app

    swagger = CFNSwaggerGenerator().generate_swagger(app)
    assert swagger["securityDefinitions"]["ShopUsers"]["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            operation = swagger["paths"][path][method.lower()]
            if _behind_cognito(entry.view_function):
                assert operation["security"] == [{"ShopUsers": []}], f"{method} {path}"
            else:
                assert "security" not in operation, f"{method} {path}"
    generated = {(path, method) for path, methods in swagger["paths"].items() for method in methods}
    assert generated == {(path, method.lower()) for path, methods in app.routes.items() for method in methods}


@pytest.mark.parametrize("access", ["public", "signature"])
def test_public_and_signed_routes_reach_the_app_without_a_token(access):
    from chalicelib.core.http import doc, gateway_authorizer

    assert gateway_authorizer(doc("x", access=access)(lambda: None)) is None
    assert gateway_authorizer(lambda: None) is None  # no @doc: the middleware refuses it (fails closed)
