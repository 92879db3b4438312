"""The OpenAPI document: complete, current, and served by the app."""
from __future__ import annotations

import json
import pathlib

from tests.conftest import json_of


def test_committed_document_is_current():
    from tools.openapi import TARGET, render

    assert pathlib.Path(TARGET).read_text() == render(), "openapi.json is stale: run `make openapi` and commit it"


def test_every_route_is_documented_with_its_access():
    from app import app
    from chalicelib.core.http import route_doc

    for path, methods in app.routes.items():
        for method, entry in methods.items():
            doc = route_doc(entry.view_function)
            assert doc is not None, f"{method} {path}"
            assert (entry.authorizer is not None) == (doc.access in ("user", "admin")), f"{method} {path}"


def test_document_is_valid_openapi():
    from openapi_spec_validator import validate

    from tools.openapi import render

    validate(json.loads(render()))


def test_the_app_serves_the_document_and_a_docs_page(client):
    spec = json_of(client.http.get("/openapi.json"))
    assert spec["openapi"].startswith("3.") and "/basket/checkout" in spec["paths"]
    page = client.http.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "openapi.json" in html and "http://" not in html and "https://" not in html  # nothing from a CDN


def test_secured_operations_declare_their_scheme():
    from tools.openapi import render

    spec = json.loads(render())
    assert spec["paths"]["/products"]["get"]["security"] == []
    assert spec["paths"]["/products"]["post"]["security"] == [{"cognito": []}]
    assert "403" in spec["paths"]["/products"]["post"]["responses"]
    assert spec["paths"]["/webhooks/payments"]["post"]["security"] == [{"webhookSignature": []}]
