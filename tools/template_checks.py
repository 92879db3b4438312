"""Structural checks of the expanded template: what AWS would refuse or leave broken at run time.

`make package` runs them on dist/<stage>/expanded.json after linting (`run`), and fails on any
finding; the deploy tests call the same checks, and show each one catching its defect.

The template is first resolved as AWS would hold it: each resource gets the physical id (`Ref`)
and attributes (`GetAtt`) AWS gives its type, named as AWS names them (a log group's ARN ends in
`:*`, a rule on a custom bus has the bus in its ARN, a topic's `Ref` is its ARN, ...), so a policy
that names the wrong thing fails here as it would in AWS. The checks are the questions AWS answers
at run time: may this role write that log stream, may EventBridge put that message in that queue,
may CloudWatch use that key, may this function read the parameter its settings name. Each returns
what it finds wrong, one line per problem, naming the resource.
"""
from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from local.bootstrap import ACCOUNT_ID, Resolver, Stack, Unresolvable, create_in_order
from local.iam import Decision, Need, action_matches, evaluate, required, resource_matches

REGION = "us-east-1"
PARAMETERS = {"AlarmEmail": "ops@example.com", "EmailSender": "shop@example.com", "EmailIdentity": "example.com",
              "CreateApiGatewayAccountRole": "true"}


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _generated(stack_name: str, logical: str) -> str:
    """A name CloudFormation makes up: stack-logical-SUFFIX."""
    return f"{stack_name}-{logical}-{hashlib.sha1(logical.encode()).hexdigest()[:12].upper()}"


def _physical(kind: str, logical: str, p: dict, stack_name: str, region: str = REGION,
              account: str = ACCOUNT_ID) -> tuple[Any, dict]:
    """(Ref, GetAtt attributes) of a resource of type `kind` with resolved properties `p`."""
    prefix = f"arn:aws:{{}}:{region}:{account}"
    generated = _generated(stack_name, logical)
    if kind == "AWS::DynamoDB::Table":
        name = p.get("TableName", generated)
        return name, {"Arn": f"{prefix.format('dynamodb')}:table/{name}",
                      "StreamArn": f"{prefix.format('dynamodb')}:table/{name}/stream/2026-11-22T00:00:00.000"}
    if kind == "AWS::SQS::Queue":
        name = p.get("QueueName", generated)
        url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        return url, {"Arn": f"{prefix.format('sqs')}:{name}", "QueueName": name, "QueueUrl": url}
    if kind == "AWS::Events::EventBus":
        return p["Name"], {"Arn": f"{prefix.format('events')}:event-bus/{p['Name']}", "Name": p["Name"]}
    if kind == "AWS::Events::Rule":
        name = p.get("Name", generated)
        bus = str(p.get("EventBusName", "default")).rsplit("event-bus/", 1)[-1]
        on_custom_bus = bus != "default"
        arn = f"{prefix.format('events')}:rule/{bus + '/' if on_custom_bus else ''}{name}"
        return (f"{bus}|{name}" if on_custom_bus else name), {"Arn": arn}
    if kind == "AWS::Logs::LogGroup":
        name = p.get("LogGroupName", generated)
        return name, {"Arn": f"{prefix.format('logs')}:log-group:{name}:*"}
    if kind == "AWS::Lambda::Function":
        name = p.get("FunctionName", generated)
        return name, {"Arn": f"{prefix.format('lambda')}:function:{name}"}
    if kind == "AWS::Lambda::Version":  # Ref is the qualified ARN; numbered from 1 per function
        function = str(p["FunctionName"]).rsplit(":function:", 1)[-1]
        return f"{prefix.format('lambda')}:function:{function}:1", {"Version": "1"}
    if kind == "AWS::Lambda::Alias":  # Ref is the alias' ARN: the function's, qualified by the alias' name
        function = str(p["FunctionName"]).rsplit(":function:", 1)[-1]
        arn = f"{prefix.format('lambda')}:function:{function}:{p['Name']}"
        return arn, {"AliasArn": arn}
    if kind == "AWS::IAM::Role":
        name = p.get("RoleName", generated)
        return name, {"Arn": f"arn:aws:iam::{account}:role/{name}", "RoleId": f"AROA{logical.upper()[:16]}"}
    if kind == "AWS::Cognito::UserPool":
        pool = f"{region}_{hashlib.sha1(logical.encode()).hexdigest()[:9]}"
        return pool, {"Arn": f"{prefix.format('cognito-idp')}:userpool/{pool}", "UserPoolId": pool,
                      "ProviderName": f"cognito-idp.{region}.amazonaws.com/{pool}",
                      "ProviderURL": f"https://cognito-idp.{region}.amazonaws.com/{pool}"}
    if kind == "AWS::SNS::Topic":
        name = p.get("TopicName", generated)
        arn = f"{prefix.format('sns')}:{name}"
        return arn, {"TopicArn": arn, "TopicName": name}
    if kind == "AWS::KMS::Key":
        key = hashlib.sha1(logical.encode()).hexdigest()
        key = f"{key[:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:32]}"
        return key, {"Arn": f"{prefix.format('kms')}:key/{key}", "KeyId": key}
    if kind == "AWS::CloudWatch::Alarm":
        name = p.get("AlarmName", generated)
        return name, {"Arn": f"{prefix.format('cloudwatch')}:alarm:{name}"}
    if kind == "AWS::ApiGateway::RestApi":
        return logical.lower()[:10], {"RootResourceId": "root"}
    if kind == "AWS::ApiGateway::Stage":
        return p["StageName"], {}
    if kind == "AWS::SecretsManager::Secret":  # Ref is the ARN: the name and six random characters
        arn = f"{prefix.format('secretsmanager')}:secret:{p.get('Name', generated)}-AbC123"
        return arn, {"Id": arn}
    if kind == "AWS::S3::Bucket":  # global names, ARNs without region or account
        name = p.get("BucketName", generated.lower())
        return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                      "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com"}
    if kind == "AWS::CloudFront::OriginAccessControl":
        return "E" + hashlib.sha1(logical.encode()).hexdigest()[:13].upper(), {
            "Id": "E" + hashlib.sha1(logical.encode()).hexdigest()[:13].upper()}
    if kind == "AWS::CloudFront::Distribution":
        distribution = "E" + hashlib.sha1(logical.encode()).hexdigest()[:13].upper()
        return distribution, {"Id": distribution, "DomainName": f"d{distribution[1:].lower()}.cloudfront.net"}
    if kind == "AWS::WAFv2::WebACL":
        acl = hashlib.sha1(logical.encode()).hexdigest()[:36]
        return f"{p['Name']}|{acl}|{p['Scope']}", {
            "Arn": f"{prefix.format('wafv2')}:{p['Scope'].lower()}/webacl/{p['Name']}/{acl}", "Id": acl}
    return generated, {}


@dataclass
class Deployed:
    """The expanded template's resources whose conditions hold, resolved."""

    resources: dict[str, dict]
    stack: Stack
    parameters: dict[str, Any] = field(default_factory=dict)

    def of_type(self, kind: str) -> dict[str, dict]:
        return {logical: r for logical, r in self.resources.items() if r["Type"] == kind}

    def arn(self, logical: str) -> str:
        return self.stack.attributes[logical]["Arn"]

    def logical_of(self, physical: str) -> str:
        """The logical id whose Ref or Arn is `physical`."""
        for logical in self.resources:
            if physical in (self.stack.refs.get(logical), self.stack.attributes.get(logical, {}).get("Arn")):
                return logical
        raise KeyError(physical)

    def function_of(self, physical: str) -> str:
        """The function a name or ARN invokes: itself, or the function behind a version or an alias."""
        for logical, resource in self.resources.items():  # names are not unique across types (table, bus, API)
            if resource["Type"] == "AWS::Lambda::Function" and physical in (self.stack.refs.get(logical),
                                                                            self.arn(logical)):
                return logical
        logical = self.logical_of(physical)
        if self.resources[logical]["Type"] in ("AWS::Lambda::Version", "AWS::Lambda::Alias"):
            return self.function_of(self.resources[logical]["Properties"]["FunctionName"])
        raise KeyError(physical)

    def function_role(self, function: str) -> str:
        return self.logical_of(self.resources[function]["Properties"]["Role"])

    def role_policies(self, role: str) -> list[dict]:
        return [p["PolicyDocument"] for p in self.resources[role]["Properties"].get("Policies", [])]

    def copy(self) -> Deployed:
        return copy.deepcopy(self)


def deploy(template: dict, stage: str = "prod", parameters: dict | None = None, *, known: Stack | None = None,
           region: str = REGION, account: str = ACCOUNT_ID) -> Deployed:
    """Resolve every resource of `template` (expanded) in dependency order, as CloudFormation creates them.

    Resources named in `known` take the physical ids and attributes it holds (what a deployment really made);
    the others are named as AWS names them, in `account` and `region`."""
    parameters = {"Stage": stage, **PARAMETERS, **(parameters or {})}
    stack = Stack()
    resolver = Resolver(template, stack, parameters, region)
    resolver.pseudo["AWS::AccountId"] = account
    pending = {logical: r for logical, r in template["Resources"].items()
               if "Condition" not in r or resolver.condition(r["Condition"])}
    resources: dict[str, dict] = {}

    def create(logical: str, kind: str, properties: dict) -> tuple[str, dict]:
        resources[logical] = {"Type": kind, "Properties": properties}
        if known is not None and logical in known.refs:
            return known.refs[logical], known.attributes.get(logical, {})
        return _physical(kind, logical, properties, resolver.pseudo["AWS::StackName"], region, account)

    create_in_order(pending, resolver, stack, create)
    for logical, resource in resources.items():  # how CloudFormation updates it (a CodeDeploy alias shift)
        if "UpdatePolicy" in template["Resources"][logical]:
            resource["UpdatePolicy"] = resolver.resolve(template["Resources"][logical]["UpdatePolicy"])
    return Deployed(resources, stack, resolver.parameters)


# --- resource-based policies (queues, topics, keys) --------------------------------------------

def _condition_holds(condition: dict, context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            actual = context.get(key)
            if actual is None:
                return False
            if operator in ("StringEquals", "ArnEquals"):
                matched = actual in _listed(wanted)
            elif operator == "ArnLike":
                matched = any(resource_matches(w, actual) for w in _listed(wanted))
            elif operator == "StringLike":
                matched = any(fnmatch.fnmatchcase(actual, w) for w in _listed(wanted))
            elif operator == "Bool":
                matched = actual.lower() in [str(w).lower() for w in _listed(wanted)]
            else:
                raise NotImplementedError(f"condition operator {operator}")
            if not matched:
                return False
    return True


def _principal_is(statement: dict, service: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*"):
        return True
    return isinstance(principal, dict) and service in _listed(principal.get("Service", []))


def service_may(policy: dict, service: str, action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether a resource-based `policy` lets the AWS `service`, acting with request `context`, do `action`."""
    allowed = False
    for statement in _listed(policy.get("Statement", [])):
        if not (_principal_is(statement, service)
                and any(action_matches(a, action) for a in _listed(statement.get("Action", [])))
                and any(resource_matches(r, resource) for r in _listed(statement.get("Resource", "*")))
                and _condition_holds(statement.get("Condition", {}), context)):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def _source_arns(statement: dict) -> set[str]:
    """The aws:SourceArn values a statement admits; {"*"} when it admits any source."""
    condition = statement.get("Condition", {})
    admitted: set[str] = set()
    for operator in ("ArnEquals", "ArnLike", "StringEquals", "StringLike"):
        admitted.update(_listed(condition.get(operator, {}).get("aws:SourceArn", [])))
    return admitted or {"*"}


def queue_policies_of(deployed: Deployed, queue: str) -> list[str]:
    url = deployed.stack.refs[queue]
    return [logical for logical, p in deployed.of_type("AWS::SQS::QueuePolicy").items()
            if url in p["Properties"]["Queues"]]


def admitted_sources(deployed: Deployed, queue: str, service: str) -> set[str]:
    """The source ARNs on whose behalf `service` may send messages to `queue`."""
    admitted: set[str] = set()
    for policy in queue_policies_of(deployed, queue):
        for statement in _listed(deployed.resources[policy]["Properties"]["PolicyDocument"]["Statement"]):
            if (statement["Effect"] == "Allow" and _principal_is(statement, service)
                    and any(action_matches(a, "sqs:SendMessage") for a in _listed(statement["Action"]))
                    and any(resource_matches(r, deployed.arn(queue)) for r in _listed(statement["Resource"]))):
                admitted |= _source_arns(statement)
    return admitted


def rule_deliveries(deployed: Deployed) -> dict[str, set[str]]:
    """Queue logical id -> ARNs of the rules that send to it (as target or as the target's dead-letter queue)."""
    queues = {deployed.arn(q): q for q in deployed.of_type("AWS::SQS::Queue")}
    users: dict[str, set[str]] = {}
    for rule, resource in deployed.of_type("AWS::Events::Rule").items():
        for target in resource["Properties"].get("Targets", []):
            for arn in (target["Arn"], target.get("DeadLetterConfig", {}).get("Arn")):
                if arn in queues:
                    users.setdefault(queues[arn], set()).add(deployed.arn(rule))
    return users


def queue_admission_problems(deployed: Deployed) -> list[str]:
    """Every queue admits exactly the bus rules that deliver to it, through its one queue policy."""
    problems = []
    users = rule_deliveries(deployed)
    for queue in deployed.of_type("AWS::SQS::Queue"):
        policies = queue_policies_of(deployed, queue)
        if len(policies) > 1:
            problems.append(f"{queue}: {len(policies)} queue policies, but a queue holds one ({policies})")
        admitted, expected = admitted_sources(deployed, queue, "events.amazonaws.com"), users.get(queue, set())
        if admitted != expected:
            problems.append(f"{queue}: admits {sorted(admitted - expected)} that do not use it, "
                            f"refuses {sorted(expected - admitted)} that do")
    return problems


# --- identity-based policies (function roles) ---------------------------------------------------

def _denied(deployed: Deployed, function: str, action: str, resource: str) -> str | None:
    role = deployed.function_role(function)
    decision = evaluate(deployed.role_policies(role), action, resource)
    return None if decision is Decision.ALLOWED else f"{function} ({role}): {action} on {resource}: {decision.value}"


def log_group_of(deployed: Deployed, function: str) -> str:
    """Where Lambda writes a function's logs: its LoggingConfig's group, else /aws/lambda/<name>."""
    properties = deployed.resources[function]["Properties"]
    return properties.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{deployed.stack.refs[function]}"


def log_problems(deployed: Deployed) -> list[str]:
    """Every function's log group exists with a retention, and its role may write streams into it."""
    problems = []
    groups = {r["Properties"]["LogGroupName"]: r["Properties"] for r in deployed.of_type("AWS::Logs::LogGroup").values()}
    for function in deployed.of_type("AWS::Lambda::Function"):
        group = log_group_of(deployed, function)
        if not groups.get(group, {}).get("RetentionInDays"):
            problems.append(f"{function}: no log group {group} with a retention in the stack")
        stream = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}:log-stream:2026/11/22/[$LATEST]0123abcd"
        problems += filter(None, (_denied(deployed, function, a, stream)
                                  for a in ("logs:CreateLogStream", "logs:PutLogEvents")))
    return problems


def failure_destinations(deployed: Deployed) -> dict[str, set[str]]:
    """Function -> the SQS queues Lambda sends its failures to (its DLQ, its on-failure destinations)."""
    result: dict[str, set[str]] = {}
    for function, resource in deployed.of_type("AWS::Lambda::Function").items():
        target = resource["Properties"].get("DeadLetterConfig", {}).get("TargetArn")
        if target:
            result.setdefault(function, set()).add(target)
    for config in deployed.of_type("AWS::Lambda::EventInvokeConfig").values():
        destination = config["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination:
            result.setdefault(deployed.function_of(config["Properties"]["FunctionName"]), set()).add(destination)
    return result


def failure_problems(deployed: Deployed) -> list[str]:
    return [problem for function, queues in failure_destinations(deployed).items() for queue in queues
            if (problem := _denied(deployed, function, "sqs:SendMessage", queue))]


def consumer_problems(deployed: Deployed) -> list[str]:
    """Every SQS event source's function may receive, delete and read the attributes of its queue."""
    problems = []
    for mapping in deployed.of_type("AWS::Lambda::EventSourceMapping").values():
        source = mapping["Properties"]["EventSourceArn"]
        if source.startswith("arn:aws:sqs:"):
            function = deployed.function_of(mapping["Properties"]["FunctionName"])
            problems += filter(None, (_denied(deployed, function, a, source) for a in
                                      ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")))
    return problems


def own_resources(deployed: Deployed) -> set[str]:
    """The ARNs a function's policy may name: the stack's own data resources and secrets, its SES identity,
    the parameters its functions' settings name."""
    owned = {deployed.arn(q) for q in deployed.of_type("AWS::SQS::Queue")}
    for kinds in ("AWS::Events::EventBus", "AWS::Cognito::UserPool", "AWS::Logs::LogGroup"):
        owned |= {deployed.arn(r) for r in deployed.of_type(kinds)}
    for table, resource in deployed.of_type("AWS::DynamoDB::Table").items():
        indexes = [i["IndexName"] for i in resource["Properties"].get("GlobalSecondaryIndexes", [])]
        owned |= {deployed.arn(table), deployed.arn(table) + "/index/*"}
        owned |= {f"{deployed.arn(table)}/index/{name}" for name in indexes}
    owned |= {deployed.stack.refs[secret] for secret in deployed.of_type("AWS::SecretsManager::Secret")}
    from tools.merge_template import PUBLISHED_PREFIX, UPLOADS_PREFIX

    for bucket in deployed.of_type("AWS::S3::Bucket"):  # a bucket's objects by the prefixes the app writes
        owned |= {deployed.arn(bucket), *(f"{deployed.arn(bucket)}/{prefix}*" for prefix in
                                          (UPLOADS_PREFIX, PUBLISHED_PREFIX))}
    owned.add(f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{deployed.parameters['EmailIdentity']}")
    owned |= {need.resources[0] for function in deployed.of_type("AWS::Lambda::Function")
              for need in stored_settings(deployed, function).values() if need.action.startswith("ssm:")}
    return owned


def scope_problems(deployed: Deployed, owned: set[str], unscoped_actions: Iterable[str]) -> list[str]:
    """Every function role's Allow names only `owned` resources; `*` only for actions that take no resource."""
    problems = []
    functions_roles = {deployed.function_role(f) for f in deployed.of_type("AWS::Lambda::Function")}
    for role in sorted(functions_roles):
        if deployed.resources[role]["Properties"].get("ManagedPolicyArns"):
            problems.append(f"{role}: managed policies {deployed.resources[role]['Properties']['ManagedPolicyArns']}")
        for document in deployed.role_policies(role):
            for statement in _listed(document["Statement"]):
                if statement["Effect"] != "Allow":
                    continue
                for resource in _listed(statement.get("Resource", [])):
                    if resource == "*":
                        loose = [a for a in _listed(statement["Action"]) if a not in unscoped_actions]
                        if loose:
                            problems.append(f"{role}/{statement.get('Sid')}: {loose} on *")
                    elif resource not in owned:
                        problems.append(f"{role}/{statement.get('Sid')}: {resource} is not the stack's own")
    return problems


# --- prod-only grants: settings kept in SSM and Secrets Manager, tracing ---------------------------

# A function's environment names each stored setting it may read: `*_PARAMETER` an SSM parameter (by
# name), `*_SECRET` a Secrets Manager secret (by ARN, as the template's Ref gives it, or by name).
# The functions of a stage share one environment but for a few settings only some are given; which of them
# read a setting is the code's business, said here (Chalice function names) beside where it reads it:
READERS = {
    # chalicelib/payments/webhook.py: the signing secret of POST /webhooks/payments.
    "PAYMENT_WEBHOOK_SECRET_PARAMETER": frozenset({"api_handler"}),
    # chalicelib/core/dynamo.py (cursor_key): the key that signs cursors, wherever a query pages
    # (the API's listings, the sweeps).
    "CURSOR_KEY_SECRET": frozenset({"api_handler", "housekeeping"}),
    # chalicelib/payments (the Stripe adapter): the secret key and the webhook's signing secret, read by the API
    # (intents, POST /webhooks/stripe) and the provider's consumer (refunds, cancellations); no other function
    # is given the setting (tools/merge_template.py FUNCTION_ENVIRONMENT).
    "STRIPE_SECRET": frozenset({"api_handler", "payment_provider"}),
}
# Settings that must reach no function but their readers (keys to the shop's money): given to any other function,
# its code could read the value if its role were ever widened, and the template would not say so.
CONFINED = frozenset({"STRIPE_SECRET"})
# Suffix -> the call that reads such a setting: (service, operation, the argument naming it).
STORED = {"_PARAMETER": ("ssm", "GetParameter", "Name"), "_SECRET": ("secretsmanager", "GetSecretValue", "SecretId")}
# Whatever a policy writes, a grant of any of these reads a stored value.
READ_ACTIONS = ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory",
                "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue")
TRACE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


def stored_settings(deployed: Deployed, function: str) -> dict[str, Need]:
    """A function's stored settings: environment variable -> what reading it needs (the action on the ARN
    AWS authorises, as the local IAM evaluator derives it from the call the code makes)."""
    variables = deployed.resources[function]["Properties"].get("Environment", {}).get("Variables", {})
    settings = {}
    for variable, value in sorted(variables.items()):
        for suffix, (service, operation, argument) in STORED.items():
            if variable.endswith(suffix) and isinstance(value, str) and value:
                (need,) = required(service, operation, {argument: value}, region=REGION, account=ACCOUNT_ID)
                if service == "secretsmanager" and not value.startswith("arn:"):  # AWS appends six characters
                    need = Need(need.action, (need.resources[0] + "-AbC123",))
                settings[variable] = need
    return settings


def stored_setting_problems(deployed: Deployed, readers: dict[str, frozenset[str]] = READERS) -> list[str]:
    """Each function whose code reads a stored setting may read exactly the parameter or secret its environment
    names; no statement lets any function read anything else (another name, a wildcard, a setting it does not
    read); a CONFINED setting is given to its readers only."""
    from tools.merge_template import FUNCTIONS

    problems = []
    for function in deployed.of_type("AWS::Lambda::Function"):
        name = FUNCTIONS.get(function, (function,))[0]
        role = deployed.function_role(function)
        reads: dict[str, Need] = {}
        for variable, need in stored_settings(deployed, function).items():
            if variable not in readers:
                problems.append(f"{function}: {variable} names a stored setting that no function is said to read "
                                f"(tools/template_checks.py READERS)")
            elif name in readers[variable]:
                reads[variable] = need
                if denied := _denied(deployed, function, need.action, need.resources[0]):
                    problems.append(f"{denied} (what its {variable} names)")
            elif variable in CONFINED:
                problems.append(f"{function}: {variable} is given to a function that does not read it "
                                f"(tools/template_checks.py READERS)")
        named = {need.resources[0] for need in reads.values()}
        for document in deployed.role_policies(role):
            for statement in _listed(document["Statement"]):
                actions = [a for a in _listed(statement.get("Action", [])) if statement["Effect"] == "Allow"
                           and any(action_matches(a, read) for read in READ_ACTIONS)]
                other = [r for r in _listed(statement.get("Resource", [])) if actions and r not in named]
                if other:
                    problems.append(f"{role}/{statement.get('Sid')}: {actions} on {other}, which no setting "
                                    f"{function} reads names")
    return problems


def tracing_problems(deployed: Deployed) -> list[str]:
    """Every traced function (active tracing) may send what its collector forwards to X-Ray."""
    return [problem for function, resource in deployed.of_type("AWS::Lambda::Function").items()
            if resource["Properties"].get("TracingConfig", {}).get("Mode") == "Active"
            for action in TRACE_ACTIONS if (problem := _denied(deployed, function, action, "*"))]


# --- alarms reach someone ---------------------------------------------------------------------------

# What SNS gives a topic that has no policy of its own: anything the account owns may publish.
DEFAULT_TOPIC_POLICY = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish",
                                       "Resource": "*", "Condition": {"StringEquals": {"AWS:SourceOwner": ACCOUNT_ID}}}]}


def alarm_delivery_problems(deployed: Deployed) -> list[str]:
    """CloudWatch may publish every alarm to its topic: the topic policy admits it, the topic's key lets it in."""
    problems = []
    topics = deployed.of_type("AWS::SNS::Topic")
    for alarm, resource in deployed.of_type("AWS::CloudWatch::Alarm").items():
        context = {"aws:SourceAccount": ACCOUNT_ID, "aws:SourceArn": deployed.arn(alarm), "AWS:SourceOwner": ACCOUNT_ID}
        for action in resource["Properties"].get("AlarmActions", []) + resource["Properties"].get("OKActions", []):
            topic = next((t for t in topics if deployed.stack.refs[t] == action), None)
            if topic is None:
                problems.append(f"{alarm}: notifies {action}, not a topic of the stack")
                continue
            problems += _topic_problems(deployed, topic, alarm, context)
    return sorted(set(problems))


def _topic_problems(deployed: Deployed, topic: str, alarm: str, context: dict[str, str]) -> list[str]:
    problems = []
    arn = deployed.stack.refs[topic]
    policies = [p["Properties"]["PolicyDocument"] for p in deployed.of_type("AWS::SNS::TopicPolicy").values()
                if arn in p["Properties"]["Topics"]] or [DEFAULT_TOPIC_POLICY]
    if not any(service_may(p, "cloudwatch.amazonaws.com", "sns:Publish", arn, context) for p in policies):
        problems.append(f"{topic}: its policy does not let CloudWatch publish {alarm}")
    key = deployed.resources[topic]["Properties"].get("KmsMasterKeyId")
    if key is None:
        return problems
    owner = next((k for k in deployed.of_type("AWS::KMS::Key") if key in (deployed.stack.refs[k], deployed.arn(k))),
                 None)
    if owner is None:
        return problems + [f"{topic}: encrypted with {key}, a key whose policy the stack cannot give CloudWatch"]
    key_properties = deployed.resources[owner]["Properties"]
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        if not service_may(key_properties["KeyPolicy"], "cloudwatch.amazonaws.com", action, deployed.arn(owner),
                           context):
            problems.append(f"{topic}: key {owner} does not let CloudWatch {action} for {alarm}")
    return problems


def key_problems(deployed: Deployed) -> list[str]:
    """Every key of the stack rotates and can be administered by the account (else it is lost to it)."""
    problems = []
    root = f"arn:aws:iam::{ACCOUNT_ID}:root"
    for key, resource in deployed.of_type("AWS::KMS::Key").items():
        properties = resource["Properties"]
        if properties.get("EnableKeyRotation") is not True:
            problems.append(f"{key}: rotation off")
        administered = any(
            s["Effect"] == "Allow" and root in _listed(s.get("Principal", {}).get("AWS", []))
            and any(action_matches(a, "kms:PutKeyPolicy") for a in _listed(s["Action"]))
            for s in _listed(properties["KeyPolicy"]["Statement"]))
        if not administered:
            problems.append(f"{key}: the account cannot administer it")
    return problems


# --- releases: the live aliases move to a new version through CodeDeploy, rolled back by alarms ----------

def alias_shifts(deployed: Deployed) -> dict[str, str]:
    """Alias logical id -> the CodeDeploy deployment group that moves it to each new version."""
    groups = {deployed.stack.refs[g]: g for g in deployed.of_type("AWS::CodeDeploy::DeploymentGroup")}
    shifts = {}
    for alias, resource in deployed.of_type("AWS::Lambda::Alias").items():
        update = resource.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate", {})
        shifts[alias] = groups.get(update.get("DeploymentGroupName"))
    return shifts


def release_problems(deployed: Deployed) -> list[str]:
    """Every live alias moves through CodeDeploy: gradually in prod, rolled back automatically when one of its
    alarms fires; the alarms are the stack's and one watches the function itself; CodeDeploy's role may move
    the alias and read those alarms."""
    problems = []
    alarms = {deployed.stack.refs[a]: a for a in deployed.of_type("AWS::CloudWatch::Alarm")}
    for alias, group in sorted(alias_shifts(deployed).items()):
        function = deployed.function_of(deployed.resources[alias]["Properties"]["FunctionName"])
        if group is None:
            problems.append(f"{alias}: a new version takes all of {function}'s traffic at once, with no rollback")
            continue
        properties = deployed.resources[group]["Properties"]
        kind = str(properties.get("DeploymentConfigName", "CodeDeployDefault.OneAtATime"))
        if deployed.parameters.get("Stage") == "prod" and not kind.startswith(("CodeDeployDefault.LambdaCanary",
                                                                               "CodeDeployDefault.LambdaLinear")):
            problems.append(f"{group}: {kind} moves all of {function}'s traffic at once in prod")
        rollback = properties.get("AutoRollbackConfiguration", {})
        if not rollback.get("Enabled") or "DEPLOYMENT_STOP_ON_ALARM" not in rollback.get("Events", []):
            problems.append(f"{group}: no automatic rollback when an alarm fires")
        watched = [a["Name"] for a in properties.get("AlarmConfiguration", {}).get("Alarms", [])
                   if properties["AlarmConfiguration"].get("Enabled")]
        foreign = [name for name in watched if name not in alarms]
        if not watched or foreign:
            problems.append(f"{group}: rolls back on {foreign or 'no alarm'}, not alarms of the stack")
        name = deployed.stack.refs[function]
        if not any(d.get("Value") == name for a in watched if a in alarms
                   for d in deployed.resources[alarms[a]]["Properties"]["Dimensions"]):
            problems.append(f"{group}: none of its alarms watches {function}")
        role = deployed.logical_of(properties["ServiceRoleArn"])
        for action, resource in [("lambda:UpdateAlias", deployed.stack.refs[alias])] + [
                ("cloudwatch:DescribeAlarms", deployed.arn(alarms[a])) for a in watched if a in alarms]:
            decision = evaluate(deployed.role_policies(role), action, resource)
            if decision is not Decision.ALLOWED:
                problems.append(f"{group} ({role}): {action} on {resource}: {decision.value}")
    return problems


def dependencies(template: dict, logical: str) -> set[str]:
    """Everything `logical` waits for in CloudFormation (DependsOn, Ref, GetAtt, Sub, in properties and metadata)."""
    resources = template["Resources"]

    def direct(name: str) -> set[str]:
        found: set[str] = set(_listed(resources[name].get("DependsOn", [])))

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    if key == "Ref" and isinstance(item, str):
                        found.add(item)
                    elif key == "Fn::GetAtt":
                        found.add(item[0] if isinstance(item, list) else item.split(".")[0])
                    elif key == "Fn::Sub":
                        text = item if isinstance(item, str) else item[0]
                        found.update(part.split("}")[0].split(".")[0] for part in text.split("${")[1:])
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(resources[name].get("Properties", {}))
        walk(resources[name].get("Metadata", {}))
        return {f for f in found if f in resources}

    seen: set[str] = set()
    todo = [logical]
    while todo:
        for name in direct(todo.pop()) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def access_log_format(deployed: Deployed, stage: str) -> dict:
    return json.loads(deployed.resources[stage]["Properties"]["AccessLogSetting"]["Format"])


# --- all of them, as `make package` runs them -----------------------------------------------------

def _scope_problems(deployed: Deployed) -> list[str]:
    from tools.iam_policies import UNSCOPED_ACTIONS

    return scope_problems(deployed, own_resources(deployed), UNSCOPED_ACTIONS)


CHECKS: dict[str, Callable[[Deployed], list[str]]] = {
    "log groups": log_problems,
    "failure destinations": failure_problems,
    "queue consumers": consumer_problems,
    "rule queues": queue_admission_problems,
    "own resources only": _scope_problems,
    "stored settings": stored_setting_problems,
    "tracing": tracing_problems,
    "alarm delivery": alarm_delivery_problems,
    "keys": key_problems,
    "releases": release_problems,
}


def run(expanded: dict, stage: str, parameters: dict | None = None) -> tuple[list[str], list[str]]:
    """Every check on the expanded template deployed as `stage`: (the checks that passed, one line per finding)."""
    try:
        deployed = deploy(expanded, stage, parameters)
    except Unresolvable as error:
        return [], [f"template: {error}"]
    passed, findings = [], []
    for name, check in CHECKS.items():
        problems = check(deployed)
        findings += [f"{name}: {problem}" for problem in problems]
        if not problems:
            passed.append(name)
    return passed, findings
