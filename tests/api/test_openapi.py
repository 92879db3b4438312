"""The OpenAPI document: complete, current, and served by the app."""
from __future__ import annotations

import json
import pathlib

import pytest

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
            assert doc is not None, f"{method} {path}"  # its gateway authorizer: test_gateway_authorizer.py


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


# --- as strict as the server ----------------------------------------------------------------

def _spec() -> dict:
    from tools.openapi import render

    return json.loads(render())


def _operations(spec: dict):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method.upper(), operation


def test_every_operation_documents_throttling_and_a_body_too_large():
    spec = _spec()
    assert spec["servers"] and all(s["url"].startswith(("/", "https://")) for s in spec["servers"])
    for path, method, operation in _operations(spec):
        responses = operation["responses"]
        assert "429" in responses and "500" in responses, f"{method} {path}"
        assert "413" in responses, f"{method} {path}"  # any method may carry a body; the limit is measured
        assert "401" in responses or operation["security"] in ([], [{"stripeSignature": []}]), f"{method} {path}"
        ids = [p for p in operation["parameters"] if p["in"] == "path"]
        for parameter in ids:
            assert parameter["schema"]["maxLength"] == 128 and parameter["schema"]["pattern"] == "^[^/]+$"
        if ids:
            assert "400" in responses and "404" in responses, f"{method} {path}"
        can_be_malformed = ids or "requestBody" in operation or any(p["in"] != "path" for p in operation["parameters"])
        signed = operation["security"] in ([{"webhookSignature": []}], [{"stripeSignature": []}])
        assert ("400" in responses) == bool(can_be_malformed or signed), (
            f"{method} {path}")


@pytest.mark.parametrize("path", ["/health", "/products"])
def test_a_body_over_the_limit_on_a_get_is_the_documented_413(client, path):
    from chalicelib.core.http import MAX_BODY_BYTES

    response = client.http.get(path, headers={"Content-Type": "application/json"},
                               body=b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}')
    assert response.status_code == 413 and json_of(response)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "413" in _spec()["paths"][path]["get"]["responses"]


def test_the_path_id_limit_is_the_one_the_middleware_enforces():
    from chalicelib.core.http import MAX_PATH_PARAMETER_LENGTH
    from chalicelib.core.openapi import PATH_ID_MAX_LENGTH

    assert PATH_ID_MAX_LENGTH == MAX_PATH_PARAMETER_LENGTH


def test_the_docs_page_and_its_assets_are_not_json():
    paths = _spec()["paths"]
    assert list(paths["/docs"]["get"]["responses"]["200"]["content"]) == ["text/html"]
    for path, methods in paths.items():
        if path.startswith("/docs/"):
            assert "application/json" not in methods["get"]["responses"]["200"]["content"], path


def test_the_idempotency_key_header_carries_the_pattern_the_server_checks():
    import re

    from pydantic import TypeAdapter

    from chalicelib.orders.models import IdempotencyKey

    operation = _spec()["paths"]["/basket/checkout"]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert header["required"] and (header["schema"]["minLength"], header["schema"]["maxLength"]) == (8, 128)
    adapter = TypeAdapter(IdempotencyKey)
    for key in ("abcdefgh", "a" * 128, "order:2026-11-23.1_x"):
        assert re.fullmatch(header["schema"]["pattern"], key) and adapter.validate_python(key)
    for key in ("short", "a" * 129, "has space!", "ключ-ключ-ключ"):
        assert not re.fullmatch(header["schema"]["pattern"], key)


def test_addresses_are_described_as_the_server_takes_them():
    """A checkout names at most one address (none: the basket's); a basket's address is an address or a saved
    one's id, never both."""
    import jsonschema

    spec = _spec()
    address = {"name": "A", "line1": "1 Main St", "city": "Ghent", "postalCode": "9000", "country": "BE"}
    schema = {**spec["components"]["schemas"]["CheckoutRequest"], "components": spec["components"]}
    validator = jsonschema.Draft202012Validator(schema)
    for taken in ({}, {"addressId": "a1"}, {"shippingAddress": address}):
        assert validator.is_valid(taken), taken
    for refused in ({"addressId": "a1", "shippingAddress": address}, {"addressId": None}):
        assert not validator.is_valid(refused), refused
    schema = {**spec["components"]["schemas"]["BasketAddress"], "components": spec["components"]}
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(address) and validator.is_valid({"addressId": "a1"})
    assert validator.is_valid({**address, "country": "US", "region": "US-CA"})
    for refused in ({**address, "addressId": "a1"}, {}, {"addressId": ""}, {**address, "region": "us-ca"}):
        assert not validator.is_valid(refused), refused


def test_patches_offer_null_only_where_the_server_takes_it():
    from chalicelib.catalogue.models import ProductPatch
    from chalicelib.users.models import ProfilePatch

    schemas = _spec()["components"]["schemas"]

    def nullable(model: str) -> set[str]:
        return {name for name, prop in schemas[model]["properties"].items()
                if {"type": "null"} in prop.get("anyOf", []) or prop.get("default", 0) is None}

    assert nullable("ProfilePatch") == {"phone"}
    assert nullable("ProductPatch") == set()
    ProfilePatch.model_validate({"phone": None}, strict=True)  # what the schema offers, the server takes
    for field in ("name", "marketing"):
        with pytest.raises(ValueError):
            ProfilePatch.model_validate({field: None}, strict=True)
    with pytest.raises(ValueError):
        ProductPatch.model_validate({"name": None, "version": 1}, strict=True)


def test_the_password_rules_are_in_the_schema_and_agree_with_the_server():
    import re

    from chalicelib.users.models import RegisterRequest

    password = _spec()["components"]["schemas"]["RegisterRequest"]["properties"]["password"]
    assert password["minLength"] == 8 and "upper-case" in password["description"]
    for candidate in ("Shopper123", "aB3aaaaa", "Pass word 9", "short1A", "alllower123", "ALLUPPER123",
                      "NoDigitsHere", " Leading1a", "Trailing1a "):
        documented = len(candidate) >= password["minLength"] and bool(re.fullmatch(password["pattern"], candidate))
        try:
            RegisterRequest.model_validate({"email": "a@example.com", "password": candidate, "name": "A"},
                                           strict=True)
            accepted = True
        except ValueError:
            accepted = False
        assert documented == accepted, candidate


def test_timestamps_are_date_times_and_emails_emails():
    schemas = _spec()["components"]["schemas"]
    stamps = [(name, prop) for name, model in schemas.items() for prop_name, prop in model.get("properties", {}).items()
              if prop_name == "at" or prop_name.endswith("At")]
    assert len(stamps) > 10
    for name, prop in stamps:
        formats = {prop.get("format")} | {option.get("format") for option in prop.get("anyOf", [])}
        assert "date-time" in formats, name
    assert schemas["RegisterRequest"]["properties"]["email"]["format"] == "email"
