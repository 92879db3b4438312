"""The OpenAPI 3 document, built from the route table and the pydantic models the handlers use.

Each route carries a `@doc(...)` declaration (core/http.py) naming its models and who may call
it; the document, the middleware, the authorization tests and the fuzzer all read that one table.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chalicelib.core.http import RouteDoc, route_doc

if TYPE_CHECKING:
    from pydantic import BaseModel

_ERROR_TEXT = {400: "Malformed request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found",
               409: "Conflict with the current state", 415: "Unsupported media type",
               422: "Invalid field values", 429: "Too many requests", 500: "Internal error",
               503: "Dependency unavailable"}


def _error_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["error", "requestId"], "additionalProperties": False, "properties": {
        "error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object"}}}},
        "requestId": {"type": ["string", "null"]}}}


def build(app: Any, *, title: str = "Shop API", version: str = "1.0.0") -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema  # only when the document is built

    docs = []
    for path, methods in sorted(app.routes.items()):
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
        operation: dict[str, Any] = {"summary": route.summary, "operationId": _operation_id(method, path),
                                     "tags": [path.strip("/").split("/")[0] or "root"],
                                     "parameters": _parameters(path, route), "responses": {}}
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": ref(route.body, "validation")}}}
        success: dict[str, Any] = {"description": "Success"}
        if route.returns is not None:
            item = ref(route.returns, "serialization")
            schema = ({"type": "object", "required": ["items", "nextCursor"], "properties": {
                "items": {"type": "array", "items": item}, "nextCursor": {"type": ["string", "null"]}}}
                if route.paged else item)
            success["content"] = {"application/json": {"schema": schema}}
        elif route.raw_response is not None:
            success["content"] = {"application/json": {"schema": route.raw_response}}
        operation["responses"][str(route.status)] = success
        for code in sorted(_errors_of(path, route)):
            operation["responses"][str(code)] = {"description": _ERROR_TEXT.get(code, "Error"), "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if route.access in ("user", "admin"):
            operation["security"] = [{"cognito": []}]
        elif route.access == "signature":
            operation["security"] = [{"webhookSignature": []}]
        else:
            operation["security"] = []
        if route.access == "admin":
            operation["description"] = "Staff only (Cognito group `admin`)."
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Serverless shop backend. Money is in integer minor units with an ISO 4217 code."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "cognito": {"type": "apiKey", "in": "header", "name": "Authorization",
                        "description": "The Cognito ID token from POST /auth/login (a `Bearer ` prefix is accepted)."},
            "webhookSignature": {"type": "apiKey", "in": "header", "name": "X-Signature",
                                 "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>"}}},
    }


def _operation_id(method: str, path: str) -> str:
    words = [w for w in re.split(r"[/{}\-]+", path) if w]
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def _parameters(path: str, route: RouteDoc) -> list[dict[str, Any]]:
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1, "maxLength": 128}}
                  for name in re.findall(r"{(\w+)}", path)]
    if route.query is not None:
        schema = route.query.model_json_schema(by_alias=True, mode="validation")
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    for name, required, description in route.headers:
        parameters.append({"name": name, "in": "header", "required": required, "description": description,
                           "schema": {"type": "string"}})
    return parameters


def _errors_of(path: str, route: RouteDoc) -> set[int]:
    codes = {500, *route.errors}
    if route.access in ("user", "admin", "signature"):
        codes.add(401)
    if route.access == "admin":
        codes.add(403)
    if route.body is not None or route.access == "signature":
        codes |= {400, 415, 422}
    if route.query is not None:
        codes.add(400)
    if "{" in path:
        codes.add(404)
    return codes
