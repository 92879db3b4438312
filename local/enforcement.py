"""IAM enforcement in the emulator: moto's authorizer, made to check what AWS checks.

moto can refuse calls its IAM policies do not allow, but for most services it checks only the
action name, against resource `*`. `install()` replaces that one hook (written against the moto
releases in `TESTED_MOTO`; any other release refuses to start rather than enforce wrongly) so
that every signed call is checked with `local.iam`: real resource ARNs, each transaction item on
its own table, batch calls as their single-item actions, explicit denies first.

The emulator's own keys (`OPERATOR_KEYS`) stay an operator with full access: the bootstrap, the
demo data, the worker's plumbing, `tools.ops` and anyone inspecting the emulator use them. Every
other key must belong to an IAM user or an assumed role in the emulator, and a denied call
answers as AWS does and is logged as `AccessDenied function=... action=... resource=...`.

With `LOCAL_IAM_RECORD=<file>` in the environment, every permission a function used is appended
to that file as a JSON line, which shows a grant that nothing uses.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from local import iam

TESTED_MOTO = ("5.2.",)
# The emulator's own keys, and what `mock_aws` puts in the environment of an in-process test.
OPERATOR_KEYS = frozenset({"testing", "FOOBARKEY"})

log = logging.getLogger("local.iam")


class UnsupportedMoto(RuntimeError):
    pass


def _check_version() -> None:
    import moto

    if not moto.__version__.startswith(TESTED_MOTO):
        raise UnsupportedMoto(f"IAM enforcement is written against moto {', '.join(TESTED_MOTO)}x, "
                              f"not {moto.__version__}: pin moto or update local/enforcement.py")


def _between(text: str, start: str, end: str) -> str:
    return text.partition(start)[2].partition(end)[0]


def _credential(response: Any) -> tuple[str, str, str] | None:
    """(access key, region, signing service) of a SigV4-signed request, or None if unsigned."""
    header = response.headers.get("Authorization") or ""
    scope = _between(header, "Credential=", ",") if "Credential=" in header else ""
    if not scope:
        query = getattr(response, "querystring", {}) or {}
        scope = (query.get("X-Amz-Credential") or [""])[0]
    parts = scope.split("/")
    return (parts[0], parts[2], parts[3]) if len(parts) >= 4 else None


def _params(response: Any) -> dict:
    body = response.body
    if isinstance(body, dict):  # JSON protocols: some moto services parse the body first
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            return json.loads(body)
        except ValueError:
            pass
    return {key: values[0] if isinstance(values, list) and len(values) == 1 else values
            for key, values in (getattr(response, "querystring", {}) or {}).items()}


def _json_protocol(response: Any) -> bool:
    return bool(response.headers.get("X-Amz-Target")) or "json" in (response.headers.get("Content-Type") or "")


def _denied(response: Any, principal: str, need: iam.Need, resource: str, decision: iam.Decision) -> Exception:
    """AWS's answer: AccessDeniedException (JSON protocols, 400) or AccessDenied (query protocols, 403)."""
    from moto.core.exceptions import AccessDeniedError, JsonRESTError

    message = iam.denial_message(principal, need.action, resource, decision)
    if _json_protocol(response):
        # SQS speaks JSON but keeps its query-era error codes.
        return JsonRESTError("AccessDenied" if need.action.startswith("sqs:") else "AccessDeniedException", message)
    return AccessDeniedError(user_arn=principal, action=message.split(" is not authorized to perform: ", 1)[1])


def _function_of(principal: str) -> str:
    """The session name of an assumed role (the local stack names sessions after functions)."""
    return principal.rsplit("/", 1)[-1]


def install(report: Callable[[str], None] | None = None) -> None:
    """Replace moto's per-request authorization hook (idempotent)."""
    _check_version()
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMPolicy, IAMRequest

    if getattr(ActionAuthenticatorMixin, "_shop_enforcement", False):
        return
    say = report or (lambda line: print(line, file=sys.stderr, flush=True))
    lock = threading.Lock()

    def record(principal: str, action: str, resource: str) -> None:
        path = os.environ.get("LOCAL_IAM_RECORD")
        if path:
            line = json.dumps({"function": _function_of(principal), "action": action, "resource": resource})
            with lock, open(path, "a") as out:
                out.write(line + "\n")

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            ActionAuthenticatorMixin.request_count += 1
            return
        credential = _credential(self)
        operation = self._get_action()
        if credential is None:  # unsigned: only the operations AWS serves without credentials
            target = self.headers.get("X-Amz-Target") or ""
            if target.startswith("AWSCognitoIdentityProviderService.") and iam.is_public("cognito-idp", operation):
                return
            raise _denied(self, "anonymous", iam.Need(operation, ("*",)), "*", iam.Decision.IMPLICIT_DENY)
        key, region, service = credential
        if key in OPERATOR_KEYS or iam.is_public(service, operation):
            return
        if iam_request_cls is not IAMRequest:  # S3 keeps moto's own check (its resource is already an ARN)
            return _moto_authorize(self, iam_request_cls, resource)
        request = _authenticated(self, iam_request_cls, operation)
        principal = request._access_key.arn
        policies = [IAMPolicy(p)._policy_json for p in request._access_key.collect_policies()]
        params = _params(self)
        if service == "secretsmanager":
            params = _secret_by_arn(params, self.current_account, region)
        needs = iam.required(service, operation, params, region=region, account=self.current_account,
                             fallback_resource=resource)
        for need in needs:
            decision, arn = iam.decide(policies, need)
            if decision is iam.Decision.ALLOWED:
                record(principal, need.action, arn)
            else:
                say(f"AccessDenied function={_function_of(principal)} action={need.action} resource={arn} "
                    f"({decision.value})")
                raise _denied(self, principal, need, arn, decision)

    _moto_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
    ActionAuthenticatorMixin._shop_enforcement = True


def _secret_by_arn(params: dict, account: str, region: str) -> dict:
    """A secret named by its name, as its full ARN (AWS authorises against the ARN, random suffix included)."""
    secret_id = params.get("SecretId")
    if not isinstance(secret_id, str) or secret_id.startswith("arn:"):
        return params
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    return {**params, "SecretId": secret.arn} if secret is not None else params


# What JSON-protocol services answer for a bad key or signature (moto answers these in XML only).
_JSON_AUTH_ERRORS = {"InvalidClientTokenId": "UnrecognizedClientException",
                     "SignatureDoesNotMatch": "InvalidSignatureException"}


def _authenticated(response: Any, iam_request_cls: type, operation: str) -> Any:
    """moto's own check of the key and signature, its errors in the protocol the client speaks."""
    from moto.core.exceptions import JsonRESTError

    try:
        request = iam_request_cls(account_id=response.current_account, method=response.method, path=_path(response),
                                  data=response.data, body=response.raw_body, headers=response.headers,
                                  action=operation)
        request.check_signature()
        return request
    except Exception as error:
        code = getattr(error, "error_type", None)
        if code in _JSON_AUTH_ERRORS and _json_protocol(response):
            raise JsonRESTError(_JSON_AUTH_ERRORS[code], error.message) from None
        raise


def _path(response: Any) -> str:
    from urllib.parse import urlparse

    query = urlparse(response.uri).query
    return response.raw_path + (f"?{query}" if query else "")
