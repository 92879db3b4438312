"""The route table registers a domain when a request first needs it: a cold start imports one domain."""
from __future__ import annotations

import subprocess
import sys
import threading
import types

import pytest
from chalice import Blueprint, Chalice, CognitoUserPoolAuthorizer

from chalicelib.core.routing import DomainRoutes, index_of, read_index, serve_domains


def _modules_loaded_after(statement: str) -> list[str]:
    code = ("import sys, app\n"
            f"{statement}\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('chalicelib.') and m.endswith('.routes'))))\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_importing_the_app_registers_no_domain():
    assert _modules_loaded_after("pass") == []


def test_the_first_lookup_of_a_path_imports_only_the_domain_that_serves_it():
    loaded = _modules_loaded_after("assert 'GET' in app.app.routes['/products/{product_id}']")
    assert loaded == ["chalicelib.catalogue.routes"]
    loaded = _modules_loaded_after("assert app.app.routes.get('/orders/{order_id}')['GET'].view_name")
    assert loaded == ["chalicelib.orders.routes"]


def test_walking_the_table_registers_every_domain():
    from app import app

    assert len(app.routes) == len(read_index()) and set(app.routes) == set(read_index())


def test_the_committed_index_is_current():
    from tools.openapi import ROUTE_INDEX, render_route_index

    assert ROUTE_INDEX.read_text() == render_route_index(), \
        "chalicelib/route-index.json is stale: run `make openapi` and commit it"


# Two domains made here (each a module with a `routes` blueprint), to show the rules on their own.
@pytest.fixture
def two_domains():
    import types

    def make(index: dict[str, list[str]]) -> tuple[Chalice, DomainRoutes]:
        first, second = Blueprint("shop_first"), Blueprint("shop_second")
        first.route("/one")(lambda: {"one": 1})
        second.route("/two")(lambda: {"two": 2})
        second.route("/two/{n}", methods=["PUT"])(lambda n: {"n": n})
        modules = {"shop_first": first, "shop_second": second}
        imported: list[str] = []

        def import_module(name: str) -> types.ModuleType:
            imported.append(name)
            return types.SimpleNamespace(routes=modules[name])

        app = Chalice("two")
        table = serve_domains(app, list(modules), index, import_module)
        table.imported = imported  # type: ignore[attr-defined]
        return app, table

    return make


def test_a_path_the_index_names_registers_only_its_domain(two_domains):
    app, table = two_domains({"/one": ["shop_first"], "/two": ["shop_second"], "/two/{n}": ["shop_second"]})
    assert "GET" in app.routes["/two"] and table.imported == ["shop_second"]
    assert app.routes.get("/two/{n}")["PUT"].view_args == ["n"] and table.imported == ["shop_second"]
    assert "/one" in app.routes and table.imported == ["shop_second", "shop_first"] and table.loaded


def test_a_stale_index_costs_time_never_a_route(two_domains):
    app, table = two_domains({"/one": ["shop_first"]})  # written before /two existed
    assert "GET" in app.routes["/two"] and sorted(table.imported) == ["shop_first", "shop_second"]
    app, table = two_domains({})
    assert app.routes.get("/one") is not None and table.loaded


def test_an_unknown_path_is_absent_once_every_domain_is_registered(two_domains):
    app, table = two_domains({"/one": ["shop_first"], "/two": ["shop_second"], "/two/{n}": ["shop_second"]})
    assert app.routes.get("/three") is None and "/three" not in app.routes and table.loaded
    assert set(app.routes) == {"/one", "/two", "/two/{n}"}


def test_requests_arriving_together_register_a_domain_once(two_domains):
    app, table = two_domains({"/one": ["shop_first"], "/two": ["shop_second"], "/two/{n}": ["shop_second"]})
    start, errors = threading.Barrier(8), []

    def first_request():
        start.wait()
        try:
            assert "GET" in app.routes["/two"]
        except Exception as error:  # noqa: BLE001 - a duplicate registration raises ValueError
            errors.append(error)

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and table.imported == ["shop_second"]


def test_the_index_names_the_module_of_each_route(two_domains):
    app, _ = two_domains({})
    assert set(index_of(app)) == {"/one", "/two", "/two/{n}"}


def test_a_snapshotted_initialisation_registers_every_domain():
    code = ("import sys, app\n"
            "assert app.app.routes.loaded\n"
            "assert 'chalicelib.audit.routes' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    assert result.returncode == 0, result.stderr


def _one_domain(*routes: tuple[str, dict]) -> types.SimpleNamespace:
    blueprint = Blueprint("shop_guarded")
    for path, options in routes:
        def view():
            return {}
        view.__name__ = path.strip("/")
        blueprint.route(path, **options)(view)
    return types.SimpleNamespace(routes=blueprint)


def test_each_route_gets_the_gateway_authorizer_its_declared_access_needs():
    guard = CognitoUserPoolAuthorizer("Guard", provider_arns=["arn:aws:cognito-idp:us-east-1:0:userpool/x"])
    domain = _one_domain(("/open", {}), ("/guarded", {"methods": ["GET", "POST"]}))
    app = Chalice("guarded")
    serve_domains(app, ["shop_guarded"], {"/open": ["shop_guarded"]}, lambda name: domain,
                  authorizer_of=lambda view: guard if view.__name__ == "guarded" else None)
    assert app.routes["/open"]["GET"].authorizer is None  # registered by a request's lookup
    assert {m: e.authorizer for m, e in app.routes["/guarded"].items()} == {"GET": guard, "POST": guard}


def test_a_route_naming_its_own_authorizer_is_refused():
    guard = CognitoUserPoolAuthorizer("Guard", provider_arns=["arn:aws:cognito-idp:us-east-1:0:userpool/x"])
    for derived in (None, guard):  # even the one its access would give it: said twice, it could disagree
        domain = _one_domain(("/guarded", {"authorizer": guard}))
        app = Chalice("guarded")
        serve_domains(app, ["shop_guarded"], {}, lambda name, domain=domain: domain,
                      authorizer_of=lambda view, derived=derived: derived)
        with pytest.raises(ValueError, match="GET /guarded names an authorizer"):
            app.routes.load()
