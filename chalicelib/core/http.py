"""The HTTP adapter: each route declares its contract and who may call it (`@doc`), the middleware
enforces that declaration, scopes ids to the request, and every failure is answered in one shape.

Domain code never sees any of this: services take validated models and raise plain errors
(core/errors.py), which are mapped to HTTP answers here, in `error_response`.
"""
from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from chalice import CognitoUserPoolAuthorizer, Response

from chalicelib.core.auth import Caller, caller_from_claims
from chalicelib.core.errors import (
    AppError,
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    ValidationFailed,
    error_body,
    validation_details,
)
from chalicelib.core.logs import correlation_id_var, get_logger, request_id_var

if TYPE_CHECKING:
    from pydantic import BaseModel

Model = TypeVar("Model", bound="BaseModel")
Access = Literal["public", "user", "admin", "signature"]

# Below API Gateway's own 10 MB (and Lambda's 6 MB invocation payload): every body over it is a 413.
MAX_BODY_BYTES = 64 * 1024
# Path parameters (ids) as the OpenAPI document declares them, enforced for every route at once.
MAX_PATH_PARAMETER_LENGTH = 128
CORRELATION_HEADER = "X-Correlation-Id"
_SAFE_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

_current_request: ContextVar[Any] = ContextVar("current_request", default=None)
_current_caller: ContextVar[Caller | None] = ContextVar("current_caller", default=None)

# Every route with user or admin access is behind the one Cognito authorizer, given from its @doc by
# `gateway_authorizer` (the deployed template binds it to the stack's pool, see .chalice/resources.json).
cognito = CognitoUserPoolAuthorizer("ShopUsers", provider_arns=[os.environ.get(
    "USER_POOL_ARN", "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_shop")])


# --- the route's declaration ------------------------------------------------------------

@dataclass(frozen=True)
class RouteDoc:
    """A route's contract: who may call it, what it takes and answers. The middleware enforces
    `access`; the OpenAPI document and the authorization tests read the same declaration."""

    summary: str
    access: Access
    body: Any = None
    returns: Any = None
    query: Any = None
    status: int = 200
    paged: bool = False
    errors: tuple[int, ...] = ()
    headers: tuple[tuple[Any, ...], ...] = ()  # (name, required, description[, type its value must be])
    raw_response: dict[str, Any] | None = None  # a schema for responses that are not a model
    allows_erased: bool = False  # an erased account may still call it (repeating its erasure); never a suspended one
    signed_by: str = "webhookSignature"  # a signature route: the security scheme its header is (openapi.py)


def doc(summary: str, access: Access, **details: Any) -> Callable[[Callable], Callable]:
    """Declare a route's contract; its domain errors are answered as `error_response` says."""
    def declare(view: Callable) -> Callable:
        @functools.wraps(view)
        def answering(**path_params: Any) -> Any:
            try:
                return view(**path_params)
            except AppError as exc:
                return error_response(exc)
            except Exception:  # a bug: log it with the ids, never show the trace
                request = _current_request.get()
                get_logger("http").exception("unhandled error", extra={
                    "path": getattr(request, "path", None), "method": getattr(request, "method", None)})
                return Response(body=error_body("INTERNAL_ERROR", "An internal error occurred.",
                                                request_id_var.get()), status_code=500)

        answering.__route_doc__ = RouteDoc(summary=summary, access=access, **details)  # type: ignore[attr-defined]
        return answering
    return declare


def route_doc(view: Callable) -> RouteDoc | None:
    return getattr(view, "__route_doc__", None)


def gateway_authorizer(view: Callable) -> CognitoUserPoolAuthorizer | None:
    """The authorizer API Gateway puts in front of a route, from its declared access (the routing
    layer sets it as each domain registers): user and admin routes are behind Cognito, others not."""
    declared = route_doc(view)
    return cognito if declared is not None and declared.access in ("user", "admin") else None


def error_response(exc: AppError, request_id: str | None = None) -> Response:
    """The one mapping from a domain error to its HTTP answer."""
    rid = request_id if request_id is not None else request_id_var.get()
    return Response(body=error_body(exc.code, exc.message, rid, exc.details), status_code=exc.status,
                    headers=dict(exc.headers or {}))


# --- who is calling ---------------------------------------------------------------------

# Checks run before every user or admin route (e.g. refusing a suspended account whose token
# API Gateway still honours), told whether the route admits an erased account. app.py registers them.
_account_checks: list[Callable[..., None]] = []


def register_account_check(check: Callable[..., None]) -> None:
    if check not in _account_checks:
        _account_checks.append(check)


def caller() -> Caller:
    """Who is calling this user or admin route (the middleware established and checked it)."""
    who = _current_caller.get()
    if who is None:
        raise RuntimeError("caller() on a route that does not declare user or admin access")
    return who


def _route_of(app: Any, request: Any) -> Any:
    """The route entry (view and declaration) serving the request's resource and method, if any."""
    return app.routes.get((request.context or {}).get("resourcePath"), {}).get(request.method)


def _admit(app: Any, request: Any) -> Caller | None:
    """Enforce the route's declared access: 401 without claims or for an inactive account, 403 without
    the admin group. Returns the caller of user and admin routes."""
    entry = _route_of(app, request)
    if entry is None:  # Chalice answers unknown routes and methods itself
        return None
    declared = route_doc(entry.view_function)
    if declared is None:  # fail closed: a route that does not say who may call it serves no one
        raise RuntimeError(f"{request.method} {entry.uri_pattern} declares no access (@doc)")
    if declared.access not in ("user", "admin"):
        return None
    claims = ((request.context or {}).get("authorizer") or {}).get("claims")
    who = caller_from_claims(claims)
    for check in _account_checks:
        check(who, allows_erased=declared.allows_erased)
    if declared.access == "admin" and not who.is_admin:
        raise Forbidden("You are not allowed to do this.")
    return who

# Chalice answers some failures itself ({"Code", "Message"}): give them our shape and code.
_CHALICE_CODES = {
    "InternalServerError": "INTERNAL_ERROR",
    "MethodNotAllowedError": "METHOD_NOT_ALLOWED",
    "UnsupportedMediaType": "UNSUPPORTED_MEDIA_TYPE",
    "BadRequestError": "BAD_REQUEST",
    "NotFoundError": "NOT_FOUND",
}


def current_request() -> Any:
    request = _current_request.get()
    if request is None:
        raise RuntimeError("no HTTP request in scope")
    return request


def body(model: type[Model]) -> Model:
    """The request body validated strictly against `model` (unknown fields refused)."""
    return parse_body(current_request().raw_body or b"", model)


def body_shaped(shape_of: Callable[[dict[str, Any]], type[Model]]) -> Model:
    """The request body validated strictly against the model `shape_of` names for it (a body that may take one
    of several shapes, told apart by its keys)."""
    data = _json_object(current_request().raw_body or b"")
    return _validated(data, shape_of(data))


def parse_body(raw: bytes, model: type[Model]) -> Model:
    """Raw JSON bytes validated strictly against `model`: 400 if not a JSON object, 422 if invalid."""
    return _validated(_json_object(raw), model)


def _validated(data: dict[str, Any], model: type[Model]) -> Model:
    from pydantic import ValidationError

    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ValidationFailed("The request body is invalid.", validation_details(exc)) from None


def _json_object(raw: bytes) -> dict[str, Any]:
    """Raw JSON bytes as a JSON object: 413 beyond MAX_BODY_BYTES, 400 if not one."""
    from chalicelib.core.models import MAX_JSON_DEPTH, JsonTooDeep, load_json

    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        raise BadRequest("A JSON request body is required.", code="MALFORMED_JSON")
    try:
        data = load_json(raw)
    except JsonTooDeep:
        raise BadRequest(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.",
                         code="BODY_TOO_DEEP") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.", code="MALFORMED_JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="MALFORMED_JSON")
    try:  # JSON escapes can smuggle in lone surrogates, which are not text
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("The request body holds invalid Unicode.", code="MALFORMED_JSON") from None
    return data


def query(model: type[Model]) -> Model:
    """Query-string parameters validated against `model` (strings coerced, bounds enforced)."""
    from pydantic import ValidationError

    params = dict(current_request().query_params or {})
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise BadRequest("The query parameters are invalid.",
                         validation_details(exc, location="query"), code="INVALID_QUERY") from None


def client_address() -> str | None:
    """The caller's address as API Gateway saw it (identity.sourceIp; the local gateway sets it the same way)."""
    return ((current_request().context or {}).get("identity") or {}).get("sourceIp")


def header(name: str) -> str | None:
    return current_request().headers.get(name.lower())


def respond(payload: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if hasattr(payload, "model_dump"):
        payload = payload.model_dump(mode="json", by_alias=True)
    return Response(body=payload if payload is not None else "", status_code=status,
                    headers=headers or {})


def page(result: Any) -> dict[str, Any]:
    """A list answer: `{"items": [...], "nextCursor": str | null}`."""
    return {"items": [item.model_dump(mode="json", by_alias=True) for item in result.items],
            "nextCursor": result.next_cursor}


def _correlation_id(request: Any, fallback: str | None) -> str | None:
    given = (request.headers or {}).get(CORRELATION_HEADER.lower())
    if given and _SAFE_CORRELATION_ID.fullmatch(given):  # whole value: `$` would admit a trailing newline
        return given
    return fallback


def _request_id_of(request: Any, context: Any) -> str | None:
    rid = (request.context or {}).get("requestId")
    return rid or getattr(context, "aws_request_id", None)


def http_middleware(app: Any):
    """Build the middleware that scopes ids to the request, admits callers as each route declares,
    and renders every failure one way."""
    def middleware(event: Any, get_response: Any) -> Response:
        rid = _request_id_of(event, app.lambda_context)
        cid = _correlation_id(event, rid)
        tokens = (_current_request.set(event), request_id_var.set(rid), correlation_id_var.set(cid))
        admitted = _current_caller.set(None)
        try:
            try:
                _current_caller.set(_admit(app, event))
                _check_limits(event)
                response = get_response(event)
            except AppError as exc:
                response = error_response(exc, rid)
            except Exception:  # a bug: log it with the ids, never show the trace
                get_logger("http").exception("unhandled error", extra={"path": event.path, "method": event.method})
                response = Response(body=error_body("INTERNAL_ERROR", "An internal error occurred.", rid),
                                    status_code=500)
            response = _normalise_chalice_error(response, rid)
            # The gateway's access log cannot log the correlation header: this line joins its requestId to it.
            get_logger("http").info("answered", extra={"method": event.method, "route": event.path,
                                                       "status": response.status_code})
            if cid:
                response.headers[CORRELATION_HEADER] = cid
            _protect(app, event, response)
            return response
        finally:
            _current_caller.reset(admitted)
            _current_request.reset(tokens[0])
            request_id_var.reset(tokens[1])
            correlation_id_var.reset(tokens[2])

    return middleware


def _protect(app: Any, request: Any, response: Response) -> None:
    """Headers every answer carries: no content sniffing, and no caching of anything but a public read
    (tokens, profiles, baskets, TOTP secrets must never sit in a shared or browser cache)."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if "Cache-Control" in response.headers:
        return  # the route chose (the docs page's versioned assets)
    entry = _route_of(app, request)
    declared = route_doc(entry.view_function) if entry is not None else None
    if declared is None or declared.access != "public" or request.method not in ("GET", "HEAD"):
        response.headers["Cache-Control"] = "no-store"


def _check_limits(request: Any) -> None:
    """What every route promises before its handler runs: ids within their documented length, bodies
    within MAX_BODY_BYTES. After admission, as behind the gateway, whose authorizer answers first."""
    problems = []
    for name, value in sorted((request.uri_params or {}).items()):
        if len(value) > MAX_PATH_PARAMETER_LENGTH:
            problems.append({"field": name, "location": "path", "issue": "string_too_long",
                             "message": f"At most {MAX_PATH_PARAMETER_LENGTH} characters"})
        elif not _is_text(value):  # a lone surrogate: DynamoDB refuses it as a key, which would be a 500
            problems.append({"field": name, "location": "path", "issue": "invalid_characters",
                             "message": "Must be Unicode text"})
    if problems:
        raise BadRequest("The path parameters are invalid.", problems, code="INVALID_PATH_PARAMETER")
    if len(request.raw_body or b"") > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes.")


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _normalise_chalice_error(response: Response, rid: str | None) -> Response:
    payload = response.body
    if response.status_code >= 400 and isinstance(payload, dict) and "Code" in payload:
        code = _CHALICE_CODES.get(payload["Code"], "ERROR")
        message = payload.get("Message") or "The request failed."
        if code == "INTERNAL_ERROR":
            message = "An internal error occurred."
        response.body = error_body(code, message, rid)
    return response
