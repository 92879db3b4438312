"""HTTP plumbing: the request in scope, body and query parsing, responses, the error middleware."""
from __future__ import annotations

import json
import re
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Response

from chalicelib.core.errors import AppError, BadRequest, ValidationFailed, error_body, validation_details
from chalicelib.core.lazy import resolve
from chalicelib.core.logs import correlation_id_var, get_logger, request_id_var

if TYPE_CHECKING:
    from pydantic import BaseModel

# pydantic is imported on first use (see core/lazy.py): the cold start of a request that
# parses nothing does not pay for it.
Model = TypeVar("Model", bound="BaseModel")

MAX_BODY_BYTES = 64 * 1024
CORRELATION_HEADER = "X-Correlation-Id"
_SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_current_request: ContextVar[Any] = ContextVar("current_request", default=None)

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


def request_id() -> str | None:
    return request_id_var.get()


def body(model: type[Model]) -> Model:
    """The request body validated strictly against `model` (unknown fields refused)."""
    return parse_body(current_request().raw_body or b"", model)


def parse_body(raw: bytes, model: type[Model]) -> Model:
    """Raw JSON bytes validated strictly against `model`: 400 if not a JSON object, 422 if invalid."""
    from pydantic import ValidationError

    model = resolve(model)
    if len(raw) > MAX_BODY_BYTES:
        raise AppError("Request body is too large.", code="PAYLOAD_TOO_LARGE")
    if not raw.strip():
        raise BadRequest("A JSON request body is required.", code="MALFORMED_JSON")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.", code="MALFORMED_JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="MALFORMED_JSON")
    try:  # JSON escapes can smuggle in lone surrogates, which are not text
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("The request body holds invalid Unicode.", code="MALFORMED_JSON") from None
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ValidationFailed("The request body is invalid.", validation_details(exc)) from None


def query(model: type[Model]) -> Model:
    """Query-string parameters validated against `model` (strings coerced, bounds enforced)."""
    from pydantic import ValidationError

    model = resolve(model)
    params = dict(current_request().query_params or {})
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise BadRequest("The query parameters are invalid.",
                         validation_details(exc, location="query"), code="INVALID_QUERY") from None


def header(name: str) -> str | None:
    return current_request().headers.get(name.lower())


def respond(payload: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if hasattr(payload, "model_dump"):
        payload = payload.model_dump(mode="json", by_alias=True)
    return Response(body=payload if payload is not None else "", status_code=status,
                    headers=headers or {})


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _correlation_id(request: Any, fallback: str | None) -> str | None:
    given = (request.headers or {}).get(CORRELATION_HEADER.lower())
    if given and _SAFE_CORRELATION_ID.match(given):
        return given
    return fallback


def _request_id_of(request: Any, context: Any) -> str | None:
    rid = (request.context or {}).get("requestId")
    return rid or getattr(context, "aws_request_id", None)


def http_middleware(app: Any):
    """Build the middleware that scopes ids to the request and renders every failure one way."""
    def middleware(event: Any, get_response: Any) -> Response:
        rid = _request_id_of(event, app.lambda_context)
        cid = _correlation_id(event, rid)
        tokens = (_current_request.set(event), request_id_var.set(rid), correlation_id_var.set(cid))
        try:
            try:
                response = get_response(event)
            except AppError as exc:
                response = Response(body=error_body(exc.code, exc.message, rid, exc.details),
                                    status_code=exc.status, headers=dict(exc.headers))
            except Exception:  # a bug: log it with the ids, never show the trace
                get_logger("http").exception("unhandled error", extra={"path": event.path, "method": event.method})
                response = Response(body=error_body("INTERNAL_ERROR", "An internal error occurred.", rid),
                                    status_code=500)
            response = _normalise_chalice_error(response, rid)
            if cid:
                response.headers[CORRELATION_HEADER] = cid
            return response
        finally:
            _current_request.reset(tokens[0])
            request_id_var.reset(tokens[1])
            correlation_id_var.reset(tokens[2])

    return middleware


def _normalise_chalice_error(response: Response, rid: str | None) -> Response:
    payload = response.body
    if response.status_code >= 400 and isinstance(payload, dict) and "Code" in payload:
        code = _CHALICE_CODES.get(payload["Code"], "ERROR")
        message = payload.get("Message") or "The request failed."
        if code == "INTERNAL_ERROR":
            message = "An internal error occurred."
        response.body = error_body(code, message, rid)
    return response
