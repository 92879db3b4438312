"""Domain errors (plain exceptions, no web framework) and their one wire shape:
{"error": {code, message, details?}, "requestId"}. core/http.py maps them to HTTP answers.
"""
from __future__ import annotations

from typing import Any


class AppError(Exception):
    """A failure the client can act on. Subclasses fix the status it maps to and the error code."""

    status = 400
    code = "BAD_REQUEST"
    headers: dict[str, str] | None = None  # what the answer says besides its body (Retry-After)

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class BadRequest(AppError):
    status, code = 400, "BAD_REQUEST"


class ValidationFailed(AppError):
    status, code = 422, "VALIDATION_FAILED"


class Unauthorized(AppError):
    status, code = 401, "UNAUTHORIZED"


class Forbidden(AppError):
    status, code = 403, "FORBIDDEN"


class NotFound(AppError):
    status, code = 404, "NOT_FOUND"


class Conflict(AppError):
    status, code = 409, "CONFLICT"


class PayloadTooLarge(AppError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class TooManyRequests(AppError):
    status, code = 429, "TOO_MANY_REQUESTS"


class ServiceUnavailable(AppError):
    status, code = 503, "SERVICE_UNAVAILABLE"


def same_version(current: int, seen: int | None, what: str) -> None:
    """409 VERSION_CONFLICT unless the version the editor saw (`seen`; None: not given, nothing to check) is
    `current`, the version of `what` ("product", "promotion") as read."""
    if seen is not None and current != seen:
        raise Conflict(f"The {what} was changed by someone else; reload it and try again.",
                       [{"field": "version", "issue": "stale", "message": f"current version is {current}"}],
                       code="VERSION_CONFLICT")


def still_changing(what: str) -> Conflict:
    """Others kept changing `what` ("The basket") between this request's reads and writes, each time."""
    return Conflict(f"{what} keeps changing; try again.", code="CONCURRENT_CHANGE")


def error_body(code: str, message: str, request_id: str | None,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error, "requestId": request_id}


def validation_details(exc: Any, location: str = "body") -> list[dict[str, Any]]:
    """Field-level details from a pydantic ValidationError, without echoing the input back."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    # A field that may be left out (`X | None`) fails as each member of its union: pydantic names the member in
    # the location (`price.constrained-int`, `price.none`). The field is what the caller sent; null is no answer.
    paths = [".".join(str(part) for part in err.get("loc", ()) if not _union_member(part)) for err in errors]
    details = []
    for err, path in zip(errors, paths, strict=True):
        if err.get("type") == "none_required" and paths.count(path) > 1:
            continue
        details.append({"field": path or location, "location": location,
                        "issue": err.get("type", "invalid"), "message": err.get("msg", "invalid")})
    return details


def _union_member(part: Any) -> bool:
    """A location part naming a union's member (`none`, `constrained-int`, `function-after[...]`), never a field
    (fields are camelCase names or list indexes)."""
    return isinstance(part, str) and (part == "none" or "-" in part or "[" in part)
