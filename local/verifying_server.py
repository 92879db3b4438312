"""Chalice's local server, with the Cognito authorizer doing what API Gateway does: verify the token.

`chalice local` decodes tokens without checking them; here a forged, expired, foreign or
garbled token answers 401 and never reaches the app, in the API's error shape (the deployed
gateway answers the same way: see the gateway responses in the merge template).
"""
from __future__ import annotations

import functools
import json
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from chalice.app import CognitoUserPoolAuthorizer
from chalice.local import (ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, LocalGateway,
                           LocalGatewayAuthorizer, NotAuthorizedError)


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


def gateway_error(code: str, message: str, request_id: str) -> bytes:
    """API Gateway's own answers, as the merge template's gateway responses shape them."""
    return json.dumps({"error": {"code": code, "message": message}, "requestId": request_id}).encode()


def _unauthorized(context: Any) -> NotAuthorizedError:
    return NotAuthorizedError({"x-amzn-RequestId": context.aws_request_id,
                               "x-amzn-ErrorType": "UnauthorizedException"},
                              gateway_error("UNAUTHORIZED", "Unauthorized", context.aws_request_id))


class VerifyingAuthorizer(LocalGatewayAuthorizer):
    def __init__(self, app_object: Any, verifier: TokenVerifier):
        super().__init__(app_object)
        self._verifier = verifier

    def authorize(self, raw_path: str, lambda_event: dict, lambda_context: Any):
        route = self._route_for_event(lambda_event)
        if route is None or not isinstance(route.authorizer, CognitoUserPoolAuthorizer):
            return super().authorize(raw_path, lambda_event, lambda_context)
        header = (lambda_event.get("headers") or {}).get("authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else header
        try:
            claims = self._verifier.verify(token.strip())
        except InvalidToken:
            raise _unauthorized(lambda_context) from None
        # Claims reach the app as API Gateway passes them: strings (groups comma-joined).
        if isinstance(claims.get("cognito:groups"), list):
            claims["cognito:groups"] = ",".join(claims["cognito:groups"])
        lambda_event = self._update_lambda_event(
            lambda_event, {"context": {"claims": claims}, "principalId": claims["sub"]})
        return lambda_event, lambda_context


class VerifyingRequestHandler(ChaliceRequestHandler):
    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any,
                 verifier: TokenVerifier):
        self.local_gateway = LocalGateway(app_object, config)
        self.local_gateway._authorizer = VerifyingAuthorizer(app_object, verifier)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def _unsupported_method(self) -> None:
        """Methods no route uses (TRACE, QUERY, …): a JSON 405, as the gateway refuses them, never a 501."""
        body = gateway_error("METHOD_NOT_ALLOWED", f"Unsupported method: {self.command}", str(uuid.uuid4()))
        self.send_response(405)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # the server looks up do_<METHOD> for whatever method arrives
            return self._unsupported_method
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # one short access line per request
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


def create_server(app_object: Any, config: Any, host: str, port: int, verifier: TokenVerifier) -> LocalDevServer:
    # As chalice.local.create_local_server does: per-thread current_request for the threaded server.
    CustomLocalChalice.__bases__ = (LocalChalice, app_object.__class__)
    app_object.__class__ = CustomLocalChalice
    handler = functools.partial(VerifyingRequestHandler, verifier=verifier)
    return LocalDevServer(app_object, config, host, port, handler_cls=handler)
