"""The OpenAPI 3 document, built from the route table and the pydantic models the handlers use.

Each route carries a `@doc(...)` declaration (core/http.py) naming its models and who may call
it; the document, the middleware, the authorization tests and the fuzzer all read that one table,
with every domain registered (core/routing.py).

The document is as strict as the server: the models' constraints (and their `SchemaHint`s, for what
validators enforce), the answers each operation can really give (429 on all of them: the stage
throttles every route), and nothing nullable that the server refuses as null. Spectral with the OWASP
API security ruleset checks it (tools/spectral/.spectral.yaml, tests/api/test_spectral.py).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chalicelib.core.http import RouteDoc, route_doc
from chalicelib.core.routing import every_route

MAX_PAGE_ITEMS = 100  # a page holds at most `limit` items (PageQuery: 1-100)
MAX_CURSOR_LENGTH = 2048  # PageQuery.cursor

if TYPE_CHECKING:
    from pydantic import BaseModel

_ERROR_TEXT = {400: "Malformed request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found",
               409: "Conflict with the current state", 413: "Request body too large",
               415: "Unsupported media type", 422: "Invalid field values",
               429: "Too many requests (the stage's throttling, or a per-customer limit)", 500: "Internal error",
               503: "Dependency unavailable"}

# Path parameters: one URL segment, at most MAX_PATH_PARAMETER_LENGTH characters (the middleware answers
# 400 beyond it).
PATH_ID_MAX_LENGTH = 128
_PATH_ID = {"type": "string", "minLength": 1, "maxLength": PATH_ID_MAX_LENGTH, "pattern": "^[^/]+$"}
_INT32 = (-(2**31), 2**31 - 1)
_AUDIENCE = {"public": "Public: no token needed.", "user": "Signed-in users (the Cognito ID token).",
             "admin": "Staff only (Cognito group `admin`).",
             "signature": "The payment provider, authenticated by its signature header (`X-Signature`, or Stripe's "
                          "`Stripe-Signature`) instead of a token."}
_TAGS = {"admin": "Staff: orders, users, payments needing review, the audit trail",
         "auth": "Sign-up and sign-in (Cognito)", "basket": "My basket and the checkout",
         "docs": "This documentation", "health": "Whether the stack can serve",
         "me": "My profile, address book, notifications, export and erasure",
         "openapi.json": "This document", "orders": "My orders", "products": "The catalogue",
         "webhooks": "Calls from the payment provider"}


def _error_schema() -> dict[str, Any]:
    text = {"type": "string", "maxLength": 2000}
    return {"type": "object", "required": ["error", "requestId"], "additionalProperties": False, "properties": {
        "error": {"type": "object", "required": ["code", "message"], "additionalProperties": False, "properties": {
            "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "maxLength": 64},
            "message": text,
            "details": {"type": "array", "items": {
                "type": "object", "description": "One field's problem: `field`, `location`, `issue`, `message`.",
                "properties": {"field": text, "location": {"type": "string", "maxLength": 16},
                               "issue": {"type": "string", "maxLength": 64}, "message": text}}}}},
        "requestId": {"type": ["string", "null"], "maxLength": 128}}}


def build(app: Any, *, title: str = "Shop API", version: str = "1.0.0") -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema  # only when the document is built

    docs = []
    for path, methods in sorted(every_route(app).items()):
        for method, entry in sorted(methods.items()):
            route = route_doc(entry.view_function)
            if route is None:
                raise ValueError(f"{method} {path} has no @doc: every route documents its contract")
            docs.append((path, method, route))
    keyed = [(m, "validation" if m is r.body else "serialization") for _, _, r in docs
             for m in (r.body, r.returns) if m is not None]
    refs, defs = models_json_schema(list(dict.fromkeys(keyed)), by_alias=True,
                                    ref_template="#/components/schemas/{model}")
    schemas = {**defs.get("$defs", {}), "Error": _error_schema()}

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return refs[(model, mode)]

    paths: dict[str, Any] = {}
    for path, method, route in docs:
        tag = path.strip("/").split("/")[0] or "root"
        operation: dict[str, Any] = {"summary": route.summary, "description": _AUDIENCE[route.access],
                                     "operationId": _operation_id(method, path), "tags": [tag],
                                     "parameters": _parameters(path, route), "responses": {}}
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": ref(route.body, "validation")}}}
        success: dict[str, Any] = {"description": "Success"}
        if route.returns is not None:
            item = ref(route.returns, "serialization")
            schema = ({"type": "object", "required": ["items", "nextCursor"], "properties": {
                "items": {"type": "array", "items": item, "maxItems": MAX_PAGE_ITEMS},
                "nextCursor": {"type": ["string", "null"], "maxLength": MAX_CURSOR_LENGTH}}}
                if route.paged else item)
            success["content"] = {"application/json": {"schema": schema}}
        elif route.raw_response is not None:
            raw = dict(route.raw_response)
            media_type = raw.pop("contentMediaType", "application/json")
            success["content"] = {media_type: {"schema": raw}}
        operation["responses"][str(route.status)] = success
        for code in sorted(_errors_of(method, path, route)):
            operation["responses"][str(code)] = {"description": _ERROR_TEXT.get(code, "Error"), "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if route.access in ("user", "admin"):  # staff carry the same token, of a member of `admin`
            operation["security"] = [{"cognito": []}]
        elif route.access == "signature":
            operation["security"] = [{route.signed_by: []}]
        else:
            operation["security"] = []
        paths.setdefault(path, {})[method.lower()] = operation
    for schema in schemas.values():
        _tighten(schema)
    tags = sorted({op["tags"][0] for ops in paths.values() for op in ops.values()})
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Serverless shop backend. Money is in integer minor units with an ISO 4217 code."},
        "servers": [{"url": "/", "x-internal": False,
                     "description": "The stage serving this document: production or staging in AWS "
                                    "(https://{api-id}.execute-api.{region}.amazonaws.com/{stage}), "
                                    "or the local stack (`make run`)."}],
        "tags": [{"name": tag, "description": _TAGS.get(tag, tag)} for tag in tags],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "cognito": {"type": "apiKey", "in": "header", "name": "Authorization",
                        "description": "The Cognito ID token from POST /auth/login (a `Bearer ` prefix is accepted)."},
            "webhookSignature": {"type": "apiKey", "in": "header", "name": "X-Signature",
                                 "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>"},
            "stripeSignature": {"type": "apiKey", "in": "header", "name": "Stripe-Signature",
                                "description": "Stripe's webhook signature (t=<unix seconds>,v1=<hex HMAC-SHA256 with "
                                               "the endpoint's signing secret>; several v1 while one is rolled)"}}},
    }


def _operation_id(method: str, path: str) -> str:
    words = [w for w in re.split(r"[/{}\-]+", path) if w]
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def _parameters(path: str, route: RouteDoc) -> list[dict[str, Any]]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": dict(_PATH_ID)}
                  for name in re.findall(r"{(\w+)}", path)]
    if route.query is not None:
        schema = route.query.model_json_schema(by_alias=True, mode="validation")
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
            options = [s for s in prop.pop("anyOf", []) if s != {"type": "null"}]
            if len(options) == 1:  # a query parameter is given or left out, never null
                prop.update(options[0])
            elif options:
                prop["anyOf"] = options
            _tighten(prop)
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    for name, required, description, *kind in route.headers:  # (name, required, description[, type])
        schema = _type_schema(kind[0]) if kind else {"type": "string", "maxLength": 1024}
        parameters.append({"name": name, "in": "header", "required": required, "description": description,
                           "schema": schema})
    return parameters


def _type_schema(kind: Any) -> dict[str, Any]:
    from pydantic import TypeAdapter

    schema = TypeAdapter(kind).json_schema(mode="validation")
    _tighten(schema)
    return schema


def _tighten(schema: Any) -> None:
    """What pydantic leaves implicit, made explicit: the integer width its bounds imply, and no
    `default: null` on a property that cannot be null (a field left out is not a field set to null)."""
    if isinstance(schema, list):
        for item in schema:
            _tighten(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "integer" and "format" not in schema:
        low, high = schema.get("minimum"), schema.get("maximum")
        fits = low is not None and high is not None and _INT32[0] <= low and high <= _INT32[1]
        schema["format"] = "int32" if fits else "int64"
    if "default" in schema and schema["default"] is None and not _admits_null(schema):
        del schema["default"]
    for value in schema.values():
        _tighten(value)


def _admits_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(isinstance(s, dict) and _admits_null(s) for s in schema.get("anyOf", []) + schema.get("oneOf", []))


def _errors_of(method: str, path: str, route: RouteDoc) -> set[int]:
    """The answers an operation can really give besides its success."""
    codes = {429, 500, *route.errors}  # the stage throttles every route; a bug is a 500 anywhere
    if route.access in ("user", "admin") or (route.access == "signature" and route.signed_by == "webhookSignature"):
        codes.add(401)  # Stripe's webhook answers a bad signature 400, as Stripe's own examples do
    if route.access == "admin":
        codes.add(403)
    # Any method: the middleware measures every body, declared or not, and the REGIONAL stage's Lambda
    # proxy passes a GET's body on (no CloudFront in front to refuse it); over 10 MB the gateway answers 413.
    codes.add(413)
    if route.body is not None or route.access == "signature":
        codes |= {400, 415, 422}
    if route.query is not None or route.headers:
        codes.add(400)
    if "{" in path:
        codes |= {400, 404}  # an id longer than documented; an id of nothing (or of someone else's)
    return codes
