"""Chalice's local server, made to answer as the deployed stage's API Gateway does.

- The Cognito authorizer verifies the token: `chalice local` decodes tokens without checking them;
  here a forged, expired, foreign or garbled token answers 401 and never reaches the app.
- Requests no route declares (unknown paths, methods a path does not have, TRACE, HEAD, OPTIONS
  without CORS) are answered as API Gateway answers them, after their body is read, so a keep-alive
  connection stays in step; bodies over the gateway's 10 MB are refused unread and the connection closed.
- The stage's throttling (MethodSettings, per route and method, a token bucket each) and its web ACL's
  rate limits per client address (WAF's rate-based rules, before anything else) are read from the merge
  template at start; `LOCAL_THROTTLING=off` turns both off.
- Every answer of the gateway's own is the template's gateway response (code, status, headers), so
  local and deployed errors cannot drift.
"""
from __future__ import annotations

import collections
import functools
import json
import os
import pathlib
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

import jwt
from chalice.app import CognitoUserPoolAuthorizer
from chalice.local import (ChaliceRequestHandler, CustomLocalChalice, LambdaEventConverter, LocalChalice,
                           LocalDevServer, LocalGateway, LocalGatewayAuthorizer, LocalGatewayException,
                           NotAuthorizedError, ThreadedHTTPServer)

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / ".chalice" / "resources.json"
GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota: larger requests never reach Lambda

class InvalidToken(Exception):
    pass


class TokenVerifier:
    """Verify a Cognito ID token: RS256 signature against the pool's JWKS, expiry, issuer, audience, use."""

    def __init__(self, jwks_url: str, issuer: str, audience: str):
        self.issuer = issuer
        self.audience = audience
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600)

    def verify(self, token: str) -> dict[str, Any]:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer,
                                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]})
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise InvalidToken(str(exc)) from None
        if claims.get("token_use") != "id":
            raise InvalidToken("not an ID token")
        return claims


# API Gateway's own status and message for each response type (before the template customises it).
_GATEWAY_DEFAULTS = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "Forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "THROTTLED": (429, "Too Many Requests"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "DEFAULT_4XX": (400, "Bad Request"),
}


@dataclass(frozen=True)
class Throttle:
    """One MethodSettings entry: the path and method it covers (None: every one) and its limits."""

    path: str | None
    method: str | None
    rate: float | None
    burst: int | None

    @classmethod
    def from_setting(cls, setting: dict) -> Throttle:
        # A MethodSettings path is "/" then the resource path with "/" escaped as "~1" ("/~1auth~1login"
        # is /auth/login, "/~1" the root); "/*" is every resource.
        raw = setting.get("ResourcePath", "/*")
        path = None if raw == "/*" else raw[1:].replace("~1", "/").replace("~0", "~")
        method = setting.get("HttpMethod", "*")
        rate, burst = setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
        return cls(path, None if method == "*" else method.upper(),
                   None if rate is None else float(rate), None if burst is None else int(burst))

    def covers(self, path: str, method: str) -> bool:
        return self.path in (None, path) and self.method in (None, method)

    @property
    def precedence(self) -> tuple[bool, bool]:  # a route's own setting over the stage's, a method over "*"
        return self.path is not None, self.method is not None


class TokenBucket:
    """API Gateway's throttle: `burst` requests at once, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._at = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class RateRule:
    """One WAF rate-based rule aggregated by client address: more than `limit` requests (within its scope,
    a regular expression on the path) in the trailing `window` seconds, and that address is answered
    `blocked` (status, headers, body) until its rate drops back. Blocked requests count too, as WAF counts them."""

    def __init__(self, name: str, limit: int, window: int, scope: str | None,
                 blocked: tuple[int, dict[str, str], bytes], clock: Callable[[], float] = time.monotonic):
        self.name, self.limit, self.window, self.blocked = name, limit, window, blocked
        self._scope = re.compile(scope) if scope else None
        self._clock = clock
        self._seen: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_rule(cls, rule: dict, bodies: dict, clock: Callable[[], float] = time.monotonic) -> RateRule | None:
        rate = (rule.get("Statement") or {}).get("RateBasedStatement")
        if not rate or rate.get("AggregateKeyType") != "IP":
            return None
        scope = ((rate.get("ScopeDownStatement") or {}).get("RegexMatchStatement") or {})
        if rate.get("ScopeDownStatement") and "UriPath" not in scope.get("FieldToMatch", {}):
            raise ValueError(f"WAF rule {rule.get('Name')}: only a regular expression on the path is emulated")
        custom = ((rule.get("Action") or {}).get("Block") or {}).get("CustomResponse") or {}
        headers = {"Content-Type": "application/json",
                   **{h["Name"]: h["Value"] for h in custom.get("ResponseHeaders", [])}}
        body = (bodies.get(custom.get("CustomResponseBodyKey")) or {}).get("Content", "")
        return cls(rule.get("Name", "rate"), int(rate["Limit"]), int(rate.get("EvaluationWindowSec", 300)),
                   scope.get("RegexString"), (int(custom.get("ResponseCode", 403)), headers, body.encode()), clock)

    def admits(self, address: str, path: str) -> bool:
        if self._scope is not None and not self._scope.search(path):
            return True
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(address, collections.deque(maxlen=self.limit + 1))
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            seen.append(now)
            return len(seen) <= self.limit


class Gateway:
    """The deployed stage's edge as the merge template declares it: its web ACL's rate limits per address, its
    gateway responses and its throttling, with `Ref`s resolved to the Parameters' defaults (the local stage's
    values)."""

    def __init__(self, responses: dict[str, dict], throttles: list[Throttle], throttling: bool = True,
                 clock: Callable[[], float] = time.monotonic, rate_rules: list[RateRule] | None = None):
        self.responses = responses
        self.throttles = throttles
        self.throttling = throttling
        self.rate_rules = list(rate_rules or [])
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_template(cls, template: dict | pathlib.Path | None = None, *, throttling: bool | None = None,
                      parameters: dict[str, str] | None = None, clock: Callable[[], float] = time.monotonic,
                      ) -> Gateway:
        from local.bootstrap import Resolver, Stack

        if not isinstance(template, dict):
            template = json.loads(pathlib.Path(template or TEMPLATE).read_text())
        resolver = Resolver(template, Stack(), {"Stage": "local", **(parameters or {})},
                            os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        api = (template.get("Resources", {}).get("RestAPI") or {}).get("Properties", {})
        responses = resolver.resolve((api.get("DefinitionBody") or {}).get("x-amazon-apigateway-gateway-responses",
                                                                           {}))
        settings = resolver.resolve(api.get("MethodSettings", []))
        acl = template.get("Resources", {}).get("WebAcl") or {}
        rules: list[RateRule] = []
        if acl and ("Condition" not in acl or resolver.condition(acl["Condition"])):
            properties = resolver.resolve(acl.get("Properties", {}))
            bodies = properties.get("CustomResponseBodies", {})
            rules = [r for r in (RateRule.from_rule(rule, bodies, clock) for rule in
                                 sorted(properties.get("Rules", []), key=lambda rule: rule.get("Priority", 0))) if r]
        if throttling is None:
            throttling = os.environ.get("LOCAL_THROTTLING", "on").lower() not in ("off", "0", "false", "no")
        return cls(responses, [Throttle.from_setting(s) for s in settings], throttling, clock, rules)

    # --- the web ACL ----------------------------------------------------------------------

    def blocked_by_waf(self, address: str, path: str) -> tuple[int, dict[str, str], bytes] | None:
        """The answer of the first rate rule over its limit for this address (every rule counts the request)."""
        if not self.throttling:
            return None
        verdicts = [(rule, rule.admits(address, path)) for rule in self.rate_rules]
        return next((rule.blocked for rule, admitted in verdicts if not admitted), None)

    # --- throttling -----------------------------------------------------------------------

    def limits(self, path: str, method: str) -> tuple[float | None, int | None]:
        """The (rate, burst) a route's method gets: every setting that covers it, the most specific last."""
        rate = burst = None
        for throttle in sorted((t for t in self.throttles if t.covers(path, method)), key=lambda t: t.precedence):
            rate = throttle.rate if throttle.rate is not None else rate
            burst = throttle.burst if throttle.burst is not None else burst
        return rate, burst

    def admit(self, path: str, method: str) -> bool:
        """Take a token from the route's own bucket (API Gateway applies the stage's limits per method)."""
        if not self.throttling:
            return True
        key = (path, method)
        with self._lock:
            if key not in self._buckets:
                rate, burst = self.limits(path, method)
                unlimited = rate is None or burst is None or rate < 0 or burst < 0
                self._buckets[key] = None if unlimited else TokenBucket(rate, burst, self._clock)
            bucket = self._buckets[key]
        return bucket is None or bucket.take()

    def describe(self) -> str:
        """One line for the banner: the limits each MethodSettings entry sets."""
        if not self.throttling:
            return "off (LOCAL_THROTTLING=off)"
        parts = []
        for throttle in self.throttles:
            where = "stage" if throttle.path is None else f"{throttle.method or 'ANY'} {throttle.path}"
            rate, burst = self.limits(throttle.path or "/*", throttle.method or "*")
            parts.append(f"{where} {rate:g}/s burst {burst}")
        parts += [f"WAF {rule.name} {rule.limit} per address per {rule.window} s" for rule in self.rate_rules]
        return "; ".join(parts) or "none declared"

    # --- the gateway's own answers --------------------------------------------------------

    def answer(self, kind: str, request_id: str, message: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of a gateway response, rendered as the template declares it
        (DEFAULT_4XX/5XX where the type is not customised; API Gateway's own default otherwise)."""
        status, default_message = _GATEWAY_DEFAULTS.get(kind, (400, "Bad Request"))
        message = message or default_message
        fallback = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        response = self.responses.get(kind) or self.responses.get(fallback) or {}
        status = int(response.get("statusCode") or status)
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
        for name, value in (response.get("responseParameters") or {}).items():
            if name.startswith("gatewayresponse.header.") and isinstance(value, str) and value[:1] == "'":
                headers[name.removeprefix("gatewayresponse.header.")] = value.strip("'")
        body_template = (response.get("responseTemplates") or {}).get("application/json")
        if body_template is None:
            return status, headers, json.dumps({"message": message}).encode()
        body = (body_template.replace("$context.error.messageString", json.dumps(message))
                .replace("$context.error.message", message).replace("$context.requestId", request_id))
        return status, headers, body.encode()


def _unauthorized(gateway: Gateway, context: Any) -> NotAuthorizedError:
    status, headers, body = gateway.answer("UNAUTHORIZED", context.aws_request_id)
    error = NotAuthorizedError({**headers, "x-amzn-ErrorType": "UnauthorizedException"}, body)
    error.CODE = status
    return error


class VerifyingAuthorizer(LocalGatewayAuthorizer):
    def __init__(self, app_object: Any, verifier: TokenVerifier, gateway: Gateway):
        super().__init__(app_object)
        self._verifier = verifier
        self._gateway = gateway

    def authorize(self, raw_path: str, lambda_event: dict, lambda_context: Any):
        route = self._route_for_event(lambda_event)
        if route is None or not isinstance(route.authorizer, CognitoUserPoolAuthorizer):
            return super().authorize(raw_path, lambda_event, lambda_context)
        header = (lambda_event.get("headers") or {}).get("authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else header
        try:
            claims = self._verifier.verify(token.strip())
        except InvalidToken:
            raise _unauthorized(self._gateway, lambda_context) from None
        # Claims reach the app as API Gateway passes them: strings (groups comma-joined).
        if isinstance(claims.get("cognito:groups"), list):
            claims["cognito:groups"] = ",".join(claims["cognito:groups"])
        lambda_event = self._update_lambda_event(
            lambda_event, {"context": {"claims": claims}, "principalId": claims["sub"]})
        return lambda_event, lambda_context


class DecodingEventConverter(LambdaEventConverter):
    """Events as API Gateway builds them: path parameters URL-decoded (`chalice local` passes them raw)."""

    def create_lambda_event(self, method: str, path: str, headers: dict, body: bytes | None = None) -> dict:
        event = super().create_lambda_event(method=method, path=path, headers=headers, body=body)
        event["pathParameters"] = {name: unquote(value) for name, value in (event["pathParameters"] or {}).items()}
        return event


class VerifyingRequestHandler(ChaliceRequestHandler):
    """One connection. Every request is routed here first, as API Gateway routes it, whatever its method."""

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any,
                 verifier: TokenVerifier, gateway: Gateway):
        self.gateway = gateway
        self.routes = app_object.routes
        self.local_gateway = LocalGateway(app_object, config)
        self.local_gateway.event_converter = DecodingEventConverter(
            self.local_gateway.event_converter._route_matcher, app_object.api.binary_types)
        self.local_gateway._authorizer = VerifyingAuthorizer(app_object, verifier, gateway)
        # The app sees the caller's address as API Gateway gives it (identity.sourceIp), not chalice's constant.
        self.local_gateway.event_converter.LOCAL_SOURCE_IP = client_address[0]
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def _handle(self) -> None:
        request_id = str(uuid.uuid4())
        body, refusal = self._read_body()
        if refusal is not None:  # the rest of the body is unread: this connection cannot carry another request
            self._send_gateway_answer(refusal, request_id, close=True)
            return
        blocked = self.gateway.blocked_by_waf(self.client_address[0], self.path.split("?", 1)[0])
        if blocked is not None:  # WAF answers before API Gateway sees the request
            self._send_answer(*blocked)
            return
        resource = self._resource()
        if resource is None:
            self._send_gateway_answer("MISSING_AUTHENTICATION_TOKEN", request_id)
            return
        if not self.gateway.admit(resource, self.command):
            self._send_gateway_answer("THROTTLED", request_id)
            return
        try:
            response = self.local_gateway.handle_request(method=self.command, path=self.path,
                                                         headers=dict(self.headers), body=body)
            headers = {**response["headers"], **response["multiValueHeaders"]}
            self._send_http_response(response["statusCode"], headers, self._handle_binary(response)["body"])
        except LocalGatewayException as error:
            self._send_error_response(error)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # the server looks up do_<METHOD> for whatever method arrives (TRACE, QUERY…)
            return self._handle
        raise AttributeError(name)

    def _resource(self) -> str | None:
        """The route (resource path) this request's path and method reach, as the deployed API declares
        them: no route for a method the path does not have, nor OPTIONS unless the route enables CORS."""
        try:
            resource = self.local_gateway.event_converter._route_matcher.match_route(self.path).route
        except ValueError:
            return None
        views = self.routes.get(resource, {})
        if self.command in views or (self.command == "OPTIONS" and any(v.cors for v in views.values())):
            return resource
        return None

    def _read_body(self) -> tuple[bytes | None, str | None]:
        """The whole body (declared length or chunks), or the gateway response refusing it unread."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunks()
        declared = self.headers.get("Content-Length")
        if declared is None:
            return None, None
        try:
            length = int(declared)
        except ValueError:
            return None, "DEFAULT_4XX"
        if length < 0:
            return None, "DEFAULT_4XX"
        if length > GATEWAY_MAX_BODY_BYTES:
            return None, "REQUEST_TOO_LARGE"
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            return None, "DEFAULT_4XX"
        return body or None, None

    def _read_chunks(self) -> tuple[bytes | None, str | None]:
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
            except ValueError:
                return None, "DEFAULT_4XX"
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks) or None, None
            total += size
            if size < 0 or total > GATEWAY_MAX_BODY_BYTES:
                return None, "REQUEST_TOO_LARGE" if size > 0 else "DEFAULT_4XX"
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send_gateway_answer(self, kind: str, request_id: str, close: bool = False) -> None:
        self._send_answer(*self.gateway.answer(kind, request_id), close=close)

    def _send_answer(self, status: int, headers: dict[str, str], body: bytes, close: bool = False) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_http_response_with_body(self, code: int, headers: dict, body: str | bytes) -> None:
        if self.command != "HEAD":
            return super()._send_http_response_with_body(code, headers, body)
        # A HEAD answer has the headers of the full one and no body, or the next response is misread.
        self.send_response(code)
        self.send_header("Content-Length", str(len(body.encode() if isinstance(body, str) else body)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)

    def log_message(self, format: str, *args: Any) -> None:  # one short access line per request
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


class GatewayHTTPServer(ThreadedHTTPServer):
    """Chalice's threaded server with a listen backlog for load: socketserver's default of 5 pending
    connections reset the rest of a burst (API Gateway queues them instead)."""

    request_queue_size = 128


def create_server(app_object: Any, config: Any, host: str, port: int, verifier: TokenVerifier,
                  gateway: Gateway | None = None) -> LocalDevServer:
    """The app behind a local API Gateway; `gateway` defaults to the merge template's (LOCAL_THROTTLING=off
    turns its throttling off)."""
    # As chalice.local.create_local_server does: per-thread current_request for the threaded server.
    CustomLocalChalice.__bases__ = (LocalChalice, app_object.__class__)
    app_object.__class__ = CustomLocalChalice
    handler = functools.partial(VerifyingRequestHandler, verifier=verifier,
                                gateway=gateway if gateway is not None else Gateway.from_template())
    return LocalDevServer(app_object, config, host, port, handler_cls=handler, server_cls=GatewayHTTPServer)
