"""IAM as AWS applies it to one API call: the permissions the call needs, and whether policies grant them.

`required()` turns a call into the (action, resource ARN) pairs AWS authorises: each item of a
DynamoDB transaction as its own Put/Update/Delete/ConditionCheckItem on its own table, a Query on
an index against the index's ARN, batch calls as the single-item action on every queue or table
they touch, PutEvents against the bus of every entry. `evaluate()` is identity-based policy
evaluation: an explicit Deny wins, otherwise an Allow is needed; Action/NotAction and
Resource/NotResource with `*` and `?` wildcards, actions case-insensitive, ARNs matched segment
by segment.

Not evaluated (written down in the README): conditions (a statement applies as if its condition
held), resource-based policies (queue, topic and key policies), permission boundaries, SCPs and
KMS key policies.
"""
from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any


class Decision(enum.Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "no identity-based policy allows the action"
    EXPLICIT_DENY = "an identity-based policy explicitly denies the action"


@dataclass(frozen=True)
class Need:
    """One permission a call needs: `action` on any one of `resources` (alternatives, usually one)."""

    action: str
    resources: tuple[str, ...]


# --- evaluation ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern:
    # IAM knows only two wildcards: * (any run of characters) and ? (one character).
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, True).fullmatch(action) is not None


def resource_matches(pattern: str, arn: str) -> bool:
    """ARNs match segment by segment (a wildcard never spans partition:service:region:account).

    A pattern that is neither `*` nor an ARN matches nothing (IAM refuses such a policy outright).
    """
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(_glob(w, False).fullmatch(a) is not None for w, a in zip(wanted, actual))


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _statement_applies(statement: Mapping, action: str, resource: str) -> bool:
    if "Action" in statement:
        if not any(action_matches(p, action) for p in _listed(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(action_matches(p, action) for p in _listed(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        return any(resource_matches(p, resource) for p in _listed(statement["Resource"]))
    if "NotResource" in statement:
        return not any(resource_matches(p, resource) for p in _listed(statement["NotResource"]))
    return False  # an identity-based statement without a resource grants nothing


def evaluate(policies: Iterable[Mapping], action: str, resource: str) -> Decision:
    """The decision of a set of identity-based policy documents for one action on one resource."""
    allowed = False
    for policy in policies:
        statements = policy.get("Statement", [])
        for statement in [statements] if isinstance(statements, Mapping) else statements:
            if not _statement_applies(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


def decide(policies: list[Mapping], need: Need) -> tuple[Decision, str]:
    """Allowed if any alternative resource is allowed; else the decision for the first one."""
    first = None
    for resource in need.resources:
        decision = evaluate(policies, need.action, resource)
        if decision is Decision.ALLOWED:
            return decision, resource
        first = first or (decision, resource)
    return first or (Decision.IMPLICIT_DENY, "*")


def denial_message(principal: str, action: str, resource: str, decision: Decision) -> str:
    """The sentence AWS answers with."""
    why = ("with an explicit deny in an identity-based policy" if decision is Decision.EXPLICIT_DENY
           else f"because no identity-based policy allows the {action} action")
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"


# --- what a call needs ------------------------------------------------------------------------

# The IAM prefix of services whose signing name differs from it.
_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}

# Cognito user pool operations authorised by the caller's tokens or the app client, never by IAM.
COGNITO_PUBLIC = frozenset({
    "SignUp", "ConfirmSignUp", "ResendConfirmationCode", "InitiateAuth", "RespondToAuthChallenge",
    "ForgotPassword", "ConfirmForgotPassword", "GetUser", "GlobalSignOut", "ChangePassword",
    "UpdateUserAttributes", "DeleteUser", "DeleteUserAttributes", "VerifyUserAttribute",
    "GetUserAttributeVerificationCode", "RevokeToken", "AssociateSoftwareToken", "VerifySoftwareToken",
    "SetUserMFAPreference", "ConfirmDevice", "ForgetDevice", "GetDevice", "ListDevices",
    "UpdateDeviceStatus", "GetUserAuthFactors",
})

# Always allowed, whatever the policies say.
UNCONDITIONAL = frozenset({("sts", "GetCallerIdentity")})


def is_public(service: str, operation: str) -> bool:
    return (service == "cognito-idp" and operation in COGNITO_PUBLIC) or (service, operation) in UNCONDITIONAL


class _Call:
    def __init__(self, service: str, operation: str, params: Mapping, region: str, account: str):
        self.service, self.operation, self.params = service, operation, params
        self.region, self.account = region, account
        self.prefix = _PREFIX.get(service, service)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def need(self, operation: str, *resources: str) -> Need:
        return Need(f"{self.prefix}:{operation}", tuple(resources) or ("*",))


def _dynamodb(call: _Call) -> list[Need] | None:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else call.arn("dynamodb", f"table/{name}")

    p, op = call.params, call.operation
    if op == "TransactWriteItems":
        kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
        return [call.need(kinds[kind], table(body["TableName"]))
                for item in p.get("TransactItems", []) for kind, body in item.items() if kind in kinds]
    if op == "TransactGetItems":
        return [call.need("GetItem", table(item["Get"]["TableName"])) for item in p.get("TransactItems", [])]
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [call.need(op, table(name)) for name in p.get("RequestItems", {})]
    if "TableName" in p:
        arn = table(p["TableName"])
        return [call.need(op, f"{arn}/index/{p['IndexName']}" if p.get("IndexName") else arn)]
    if "ResourceArn" in p:
        return [call.need(op, p["ResourceArn"])]
    return None


_SQS_SINGLE = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
               "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def _sqs(call: _Call) -> list[Need] | None:
    p = call.params
    if "QueueUrl" in p:
        owner, name = p["QueueUrl"].rstrip("/").rsplit("/", 2)[-2:]
        arn = f"arn:aws:sqs:{call.region}:{owner if owner.isdigit() else call.account}:{name}"
    elif "QueueName" in p:
        arn = call.arn("sqs", p["QueueName"])
    else:
        return None
    return [call.need(_SQS_SINGLE.get(call.operation, call.operation), arn)]


def _events(call: _Call) -> list[Need] | None:
    p, op = call.params, call.operation

    def bus(name: str | None) -> str:
        name = name or "default"
        return name if name.startswith("arn:") else call.arn("events", f"event-bus/{name}")

    if op == "PutEvents":
        return [call.need(op, b) for b in dict.fromkeys(bus(e.get("EventBusName")) for e in p.get("Entries", []))]
    rule = p.get("Rule") or (p.get("Name") if op == "PutRule" else None)
    if rule:
        bus_name = (p.get("EventBusName") or "default").rsplit("/", 1)[-1]
        return [call.need(op, call.arn("events", f"rule/{rule}" if bus_name == "default" else
                                       f"rule/{bus_name}/{rule}"))]
    if op in ("CreateEventBus", "DescribeEventBus", "DeleteEventBus") and p.get("Name"):
        return [call.need(op, bus(p["Name"]))]
    if p.get("ArchiveName"):
        return [call.need(op, call.arn("events", f"archive/{p['ArchiveName']}"))]
    if p.get("ReplayName"):
        return [call.need(op, call.arn("events", f"replay/{p['ReplayName']}"))]
    return None


def _cognito(call: _Call) -> list[Need] | None:
    pool = call.params.get("UserPoolId")
    return [call.need(call.operation, call.arn("cognito-idp", f"userpool/{pool}"))] if pool else None


def _ssm(call: _Call) -> list[Need] | None:
    p = call.params
    names = p.get("Names") or ([p["Name"]] if "Name" in p else [p["Path"]] if "Path" in p else [])
    return [call.need(call.operation, call.arn("ssm", "parameter/" + name.lstrip("/"))) for name in names] or None


def _ses(call: _Call) -> list[Need] | None:
    p = call.params
    if call.operation not in ("SendEmail", "SendRawEmail", "SendTemplatedEmail", "SendBulkTemplatedEmail"):
        return None
    if p.get("SourceArn") or p.get("FromArn"):
        return [call.need(call.operation, p.get("SourceArn") or p["FromArn"])]
    address = parseaddr(p.get("Source") or p.get("FromEmailAddress") or "")[1]
    if not address:
        return None
    # Sending is authorised against the verified identity: the address itself, or its domain.
    return [call.need(call.operation, call.arn("ses", f"identity/{address}"),
                      call.arn("ses", f"identity/{address.rsplit('@', 1)[-1]}"))]


def _secretsmanager(call: _Call) -> list[Need] | None:
    # AWS authorises against the secret's full ARN (its name and a random suffix); the emulator's
    # enforcement resolves a secret named by name to that ARN before asking (local/enforcement.py).
    secret = call.params.get("SecretId")
    if not secret:
        return None
    return [call.need(call.operation, secret if secret.startswith("arn:") else call.arn("secretsmanager",
                                                                                       f"secret:{secret}"))]


def _sts(call: _Call) -> list[Need] | None:
    role = call.params.get("RoleArn")
    return [call.need(call.operation, role)] if role else None


def _logs(call: _Call) -> list[Need] | None:
    p = call.params
    group = p.get("logGroupName")
    if not group:
        return None
    resource = f"log-group:{group}:log-stream:{p.get('logStreamName', '')}" if "logStreamName" in p else \
        f"log-group:{group}"
    return [call.need(call.operation, call.arn("logs", resource))]


_SERVICES = {"dynamodb": _dynamodb, "sqs": _sqs, "events": _events, "cognito-idp": _cognito, "ssm": _ssm,
             "ses": _ses, "email": _ses, "sts": _sts, "logs": _logs, "secretsmanager": _secretsmanager}


def required(service: str, operation: str, params: Mapping, *, region: str, account: str,
             fallback_resource: str = "*") -> list[Need]:
    """What AWS authorises for one call (`service` as in the request's credential scope).

    Operations this module does not know are checked as `<prefix>:<operation>` on
    `fallback_resource` (the emulator's own guess: exact for S3, IAM and STS, `*` elsewhere).
    """
    call = _Call(service, operation, params, region, account)
    mapper = _SERVICES.get(service)
    needs = mapper(call) if mapper else None
    return needs if needs is not None else [call.need(operation, fallback_resource)]

