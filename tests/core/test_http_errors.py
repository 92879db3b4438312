"""Every failure reaches clients in one shape, with no internals."""
from __future__ import annotations

from tests.conftest import json_of


def test_health_checks_the_table(client):
    response = client.http.get("/health")
    assert response.status_code == 200
    assert json_of(response) == {"status": "ok", "checks": {"table": "ok"}}


def test_health_reports_an_unreachable_table_as_503(client, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "missing-table")
    from chalicelib.core.settings import reset_settings

    reset_settings()
    from chalice.test import Client

    from app import app

    # A client for a stage whose table does not exist.
    with Client(app, stage_name="no-such-stage") as other:
        response = other.http.get("/health")
    assert response.status_code == 503
    assert json_of(response)["error"]["code"] == "UNHEALTHY"


def test_unexpected_exception_is_a_500_in_the_error_shape_without_trace(client, monkeypatch, capsys):
    from chalicelib.catalogue.repository import ProductRepository

    def explode(self, product_id):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(ProductRepository, "get", explode)
    response = client.http.get("/products/abc", headers={"X-Correlation-Id": "trace-me"})
    assert response.status_code == 500
    body = json_of(response)
    assert body["error"] == {"code": "INTERNAL_ERROR", "message": "An internal error occurred."}
    assert body["requestId"]
    assert "hunter2" not in response.body.decode()
    logged = capsys.readouterr().out
    assert "hunter2" in logged and body["requestId"] in logged and "trace-me" in logged


def test_method_not_allowed_uses_the_error_shape(client):
    response = client.http.put("/health")
    assert response.status_code == 405
    assert json_of(response)["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_wrong_content_type_is_415_in_the_error_shape(client):
    from tests.fakes import ADMIN

    response = client.http.post("/products", headers={"Content-Type": "text/plain", **ADMIN}, body="x")
    assert response.status_code == 415
    assert json_of(response)["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_oversized_body_is_refused(client):
    from tests.fakes import ADMIN

    response = client.http.post("/products", headers={"Content-Type": "application/json", **ADMIN},
                                body='{"name": "' + "x" * 70000 + '"}')
    assert response.status_code == 413
    assert json_of(response)["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_nan_is_not_json(client):
    from tests.fakes import ADMIN

    response = client.http.post("/products", headers={"Content-Type": "application/json", **ADMIN},
                                body='{"price": NaN}')
    assert response.status_code == 400


def test_lone_surrogates_in_json_are_400_not_500(client):
    from tests.fakes import auth

    body = '{"name": "x", "line1": "\\ud800", "city": "c", "postalCode": "1", "country": "BE"}'
    response = client.http.post("/me/addresses", headers={"Content-Type": "application/json", **auth("ann")},
                                body=body)
    assert response.status_code == 400


def test_a_route_that_declares_no_access_serves_no_one(client, capsys):
    """Fail closed: a route added without `@doc` is not public by omission."""
    from chalice import Chalice
    from chalice.test import Client

    from chalicelib.core.http import doc, http_middleware
    from tests.fakes import ADMIN

    app = Chalice(app_name="undeclared")
    app.register_middleware(http_middleware(app), "http")

    @app.route("/forgotten")
    def forgotten():
        return {"secret": "stock levels"}

    @app.route("/declared")
    @doc("A public route", "public")
    def declared():
        return {"ok": True}

    with Client(app) as local:
        assert local.http.get("/declared").status_code == 200
        for headers in ({}, ADMIN):
            response = local.http.get("/forgotten", headers=headers)
            assert response.status_code == 500
            assert json_of(response)["error"]["code"] == "INTERNAL_ERROR"
            assert "stock levels" not in response.body.decode()
    assert "declares no access" in capsys.readouterr().out
