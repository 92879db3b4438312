"""IAM enforcement in the emulator: moto's authorizer, made to check what AWS checks.

moto can refuse calls its IAM policies do not allow, but for most services it checks only the
action name, against resource `*`. `install()` replaces that one hook (written against the moto
releases in `TESTED_MOTO`; any other release refuses to start rather than enforce wrongly) so
that every signed call is checked with `local.iam`: real resource ARNs, each transaction item on
its own table, batch calls as their single-item actions, explicit denies first. S3 too: an object's
ARN (a copy reads its source as well), a browser upload (presigned POST) checked against the policy
its signer signed and then as the signer, and unsigned reads only of what the template lets the
CDN read (the stand-in for CloudFront locally).

The emulator's own keys (`OPERATOR_KEYS`) stay an operator with full access: the bootstrap, the
demo data, the worker's plumbing, `tools.ops` and anyone inspecting the emulator use them. Every
other key must belong to an IAM user or an assumed role in the emulator, and a denied call
answers as AWS does and is logged as `AccessDenied function=... action=... resource=...`.

With `LOCAL_IAM_RECORD=<file>` in the environment, every permission a function used is appended
to that file as a JSON line, which shows a grant that nothing uses.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import re
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


def check_version() -> None:
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
    check_version()
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
        if iam_request_cls is not IAMRequest:  # S3: the resource is an ARN already (bucket, or bucket/key)
            return _authorize_s3(self, iam_request_cls, resource, credential, say, record)
        operation = self._get_action()
        if credential is None:  # unsigned: only the operations AWS serves without credentials
            target = self.headers.get("X-Amz-Target") or ""
            if target.startswith("AWSCognitoIdentityProviderService.") and iam.is_public("cognito-idp", operation):
                return
            raise _denied(self, "anonymous", iam.Need(operation, ("*",)), "*", iam.Decision.IMPLICIT_DENY)
        key, region, service = credential
        if key in OPERATOR_KEYS or iam.is_public(service, operation):
            return
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

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
    ActionAuthenticatorMixin._shop_enforcement = True


# --- S3: signed calls, browser uploads (presigned POST) and the CDN's reads ---------------------

def _s3_error(code: str, message: str, status: int) -> Exception:
    """S3's own error answer: `<Error><Code>...` with the status S3 gives it."""
    from xml.sax.saxutils import escape

    from werkzeug.exceptions import HTTPException

    class S3Refusal(HTTPException):
        def get_body(self, *args: Any, **kwargs: Any) -> str:
            return self.description or ""

        def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
            return [("Content-Type", "application/xml")]

    error = S3Refusal(description='<?xml version="1.0" encoding="UTF-8"?>\n'
                                  f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>")
    error.code = status
    return error


def _authorize_s3(response: Any, iam_request_cls: type, resource: str, credential: tuple[str, str, str] | None,
                  say: Callable[[str], None], record: Callable[[str, str, str], None]) -> None:
    """S3 as AWS authorises it: the action on the object's (or bucket's) ARN, a copy's source read too; a
    browser upload by the policy its signer signed, and as the signer; unsigned reads only where the CDN reads."""
    action = "s3:" + (response.data.get("Action") if isinstance(response.data, dict) and response.data.get("Action")
                      else response._get_action())
    form = {name.lower(): value for name, value in (getattr(response, "form_data", None) or {}).items()}
    if response.method == "POST" and "policy" in form and "x-amz-signature" in form:
        return _authorize_upload(response, resource, form, say, record)
    if credential is None:
        if action == "s3:GetObject" and any(iam.resource_matches(p, resource) for p in cdn_reads()):
            return  # what CloudFront reads through its origin access control, served to anyone
        raise _s3_error("AccessDenied", "Access Denied", 403)
    if credential[0] in OPERATOR_KEYS:
        return
    request = _authenticated(response, iam_request_cls, action.split(":", 1)[1])
    needs = [iam.Need(action, (resource,))]
    source = response.headers.get("x-amz-copy-source")
    if source and action == "s3:PutObject":  # CopyObject reads its source with the same keys
        from urllib.parse import unquote

        needs.append(iam.Need("s3:GetObject", ("arn:aws:s3:::" + unquote(source.lstrip("/").split("?")[0]),)))
    _decide(request._access_key, needs, say, record)


def _decide(access_key: Any, needs: list[iam.Need], say: Callable[[str], None],
            record: Callable[[str, str, str], None]) -> None:
    from moto.iam.access_control import IAMPolicy

    principal = access_key.arn
    policies = [IAMPolicy(p)._policy_json for p in access_key.collect_policies()]
    for need in needs:
        decision, arn = iam.decide(policies, need)
        if decision is not iam.Decision.ALLOWED:
            say(f"AccessDenied function={_function_of(principal)} action={need.action} resource={arn} "
                f"({decision.value})")
            raise _s3_error("AccessDenied", iam.denial_message(principal, need.action, arn, decision), 403)
        record(principal, need.action, arn)


def _authorize_upload(response: Any, resource: str, form: dict[str, str], say: Callable[[str], None],
                      record: Callable[[str, str, str], None]) -> None:
    """A presigned POST: signed by its signer's keys, within every condition of its policy, and allowed
    to the signer as s3:PutObject on the object. What S3 answers otherwise."""
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

    bucket = resource.rsplit(":", 1)[-1].split("/", 1)[0]
    scope = form.get("x-amz-credential", "").split("/")
    if len(scope) != 5:
        raise _s3_error("InvalidArgument", "POST requires x-amz-credential", 400)
    access_id, day, region, service, _ = scope
    try:
        access_key = create_access_key(response.current_account, "aws", access_id,
                                       {"X-Amz-Security-Token": form.get("x-amz-security-token", "")})
    except CreateAccessKeyFailure:
        raise _s3_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist.", 403) from None
    secret = access_key.create_credentials().secret_key
    signing = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(signing, form["policy"].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, form["x-amz-signature"]):
        raise _s3_error("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                 "signature you provided.", 403)
    policy = json.loads(base64.b64decode(form["policy"]))
    _check_policy(policy, {**form, "bucket": bucket}, len(response.body or b""))
    _decide(access_key, [iam.Need("s3:PutObject", (f"arn:aws:s3:::{bucket}/{form.get('key', '')}",))], say, record)


def _check_policy(policy: dict, fields: dict[str, str], length: int) -> None:
    from datetime import datetime, timezone

    def refuse(why: str) -> Exception:
        return _s3_error("AccessDenied", f"Invalid according to Policy: {why}", 403)

    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    if expires < datetime.now(timezone.utc):
        raise refuse("Policy expired.")
    covered = {"policy", "x-amz-signature", "file"}
    for condition in policy.get("conditions", []):
        if isinstance(condition, dict):
            (name, value), = condition.items()
            operator, name = "eq", name.lower()
        elif str(condition[0]).lower() == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if length > high:
                raise _s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400)
            if length < low:
                raise _s3_error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                                400)
            continue
        else:
            operator, name, value = str(condition[0]).lower(), str(condition[1]).lstrip("$").lower(), condition[2]
        covered.add(name)
        actual = fields.get(name, "")
        if not (actual == value if operator == "eq" else actual.startswith(value)):
            raise refuse(f'Policy Condition failed: ["{operator}", "${name}", "{value}"]')
    extra = sorted(name for name in fields if name not in covered and name != "bucket"
                   and not name.startswith("x-ignore-"))
    if extra:
        raise refuse("Extra input fields: " + ", ".join(extra))


@functools.lru_cache(maxsize=1)
def cdn_reads() -> tuple[str, ...]:
    """The objects the template's bucket policies let CloudFront read (and serve to anyone), as ARN patterns:
    each `${Bucket.Arn}` becomes the bucket's name with every `${...}` in it a wildcard."""
    from local.bootstrap import load_template

    resources = load_template().get("Resources", {})

    def pattern(value: Any) -> str:
        text = value.get("Fn::Sub", "") if isinstance(value, dict) else str(value)
        for logical, resource in resources.items():
            if resource.get("Type") == "AWS::S3::Bucket":
                name = resource["Properties"].get("BucketName", {})
                name = name.get("Fn::Sub", "") if isinstance(name, dict) else name
                text = text.replace("${%s.Arn}" % logical, "arn:aws:s3:::" + name)
        return re.sub(r"\$\{[^}]*\}", "*", text)

    found = []
    for resource in resources.values():
        if resource.get("Type") != "AWS::S3::BucketPolicy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            principal = statement.get("Principal", {})
            if statement.get("Effect") == "Allow" and isinstance(principal, dict) \
                    and principal.get("Service") == "cloudfront.amazonaws.com":
                listed = statement["Resource"]
                found += [pattern(r) for r in (listed if isinstance(listed, list) else [listed])]
    return tuple(found)


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
