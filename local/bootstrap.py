"""Creates the merge template's resources inside the emulator, so local and AWS cannot drift."""
from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

log = logging.getLogger("local.bootstrap")

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / ".chalice" / "resources.json"
ACCOUNT_ID = "123456789012"  # moto's default account


class Unresolved(Exception):
    """A reference to a resource that is not created yet (try again after the others)."""


class Unresolvable(RuntimeError):
    """References that no resource of the template (whose conditions hold) provides."""


@dataclass
class Stack:
    """What bootstrap created: physical ids (what `Ref` gives) and attributes (what `GetAtt` gives)."""

    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {logical: self.refs[logical] for logical, kind in self.types.items() if kind == resource_type}

    def summary(self) -> dict[str, Any]:
        def one(resource_type: str) -> Any:
            found = list(self.of_type(resource_type).values())
            return found[0] if found else None

        queues = self.of_type("AWS::SQS::Queue")
        return {
            "table_name": one("AWS::DynamoDB::Table"),
            "event_bus_name": one("AWS::Events::EventBus"),
            "queue_urls": queues,
            "queue_arns": {logical: self.attributes[logical]["Arn"] for logical in queues},
            "user_pool_id": one("AWS::Cognito::UserPool"),
            "user_pool_client_id": one("AWS::Cognito::UserPoolClient"),
            "rules": self.of_type("AWS::Events::Rule"),
            "images_bucket": one("AWS::S3::Bucket"),
        }


class Resolver:
    """The few intrinsic functions the template uses, evaluated for one stage."""

    def __init__(self, template: dict, stack: Stack, parameters: dict[str, str], region: str):
        self.stack = stack
        self.pseudo = {"AWS::Region": region, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws",
                       "AWS::StackName": f"shop-{parameters.get('Stage', 'local')}", "AWS::URLSuffix": "amazonaws.com",
                       "AWS::NoValue": None}
        self.parameters = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
        self.parameters.update(parameters)
        self.conditions = template.get("Conditions", {})

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not None}

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.stack.refs:
            return self.stack.refs[name]
        raise Unresolved(name)

    def get_att(self, logical: str, attribute: str) -> Any:
        try:
            return self.stack.attributes[logical][attribute]
        except KeyError:
            raise Unresolved(f"{logical}.{attribute}") from None

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            out.append(text[i:start])
            end = text.index("}", start)
            name = text[start + 2:end]
            if name.startswith("!"):  # ${!Literal} is an escaped ${Literal}
                out.append("${" + name[1:] + "}")
            elif name in variables:
                out.append(str(variables[name]))
            elif "." in name:
                out.append(str(self.get_att(*name.split(".", 1))))
            else:
                out.append(str(self.ref(name)))
            i = end + 1
        return "".join(out)


def _get_att(r: Resolver, arg: Any) -> Any:
    logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
    return r.get_att(logical, r.resolve(attribute))


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": lambda r, arg: r.ref(arg),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": lambda r, arg: r.sub(arg),
    "Fn::Join": lambda r, arg: r.resolve(arg[0]).join(str(v) for v in r.resolve(arg[1])),
    "Fn::Select": lambda r, arg: r.resolve(arg[1])[int(r.resolve(arg[0]))],
    "Fn::Split": lambda r, arg: r.resolve(arg[1]).split(r.resolve(arg[0])),
    "Fn::If": lambda r, arg: r.resolve(arg[1] if r.condition(arg[0]) else arg[2]),
    "Fn::Equals": lambda r, arg: r.resolve(arg[0]) == r.resolve(arg[1]),
    "Fn::Not": lambda r, arg: not r.resolve(arg[0]),
    "Fn::And": lambda r, arg: all(r.resolve(v) for v in arg),
    "Fn::Or": lambda r, arg: any(r.resolve(v) for v in arg),
}


def _pick(properties: dict, names: tuple[str, ...]) -> dict:
    return {name: properties[name] for name in names if name in properties}


def _api_members(client: Any, operation: str) -> set[str]:
    return set(client.meta.service_model.operation_model(operation).input_shape.members)


class Creator:
    """One method per resource type the local stack needs; every other type is AWS-only."""

    def __init__(self, session: boto3.session.Session, endpoint_url: str | None, region: str):
        def client(service: str) -> Any:
            return session.client(service, endpoint_url=endpoint_url, region_name=region)

        self.ddb, self.sqs, self.events, self.idp, self.logs, self.secrets, self.s3 = (
            client(s) for s in ("dynamodb", "sqs", "events", "cognito-idp", "logs", "secretsmanager", "s3"))
        self.region = region

    def create(self, resource_type: str, properties: dict) -> tuple[Any, dict] | None:
        method = getattr(self, "_" + resource_type.replace("::", "_").lower(), None)
        return method(properties) if method else None

    def _aws_dynamodb_table(self, p: dict) -> tuple[Any, dict]:
        request = _pick(p, ("TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
                            "LocalSecondaryIndexes", "ProvisionedThroughput", "StreamSpecification",
                            "DeletionProtectionEnabled"))
        if "SSESpecification" in p:
            request["SSESpecification"] = {"Enabled": bool(p["SSESpecification"].get("SSEEnabled"))}
        table = self.ddb.create_table(**request)["TableDescription"]
        name = table["TableName"]
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            self.ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        pitr = p.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled"):
            self.ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        return name, {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn")}

    def _aws_events_eventbus(self, p: dict) -> tuple[Any, dict]:
        arn = self.events.create_event_bus(Name=p["Name"])["EventBusArn"]
        return p["Name"], {"Arn": arn, "Name": p["Name"]}

    def _aws_sqs_queue(self, p: dict) -> tuple[Any, dict]:
        attributes = {}
        for name, value in p.items():
            if name in ("QueueName", "Tags"):
                continue
            if isinstance(value, dict):
                value = json.dumps(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            attributes[name] = str(value)
        url = self.sqs.create_queue(QueueName=p["QueueName"], Attributes=attributes)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {"Arn": arn, "QueueName": p["QueueName"], "QueueUrl": url}

    def _aws_sqs_queuepolicy(self, p: dict) -> tuple[Any, dict]:
        for url in p["Queues"]:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
        return "queue-policy", {}

    def _aws_events_rule(self, p: dict) -> tuple[Any, dict]:
        request = _pick(p, ("Name", "EventBusName", "ScheduleExpression", "State", "Description"))
        if "EventPattern" in p:
            pattern = p["EventPattern"]
            request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        arn = self.events.put_rule(**request)["RuleArn"]
        targets = p.get("Targets", [])
        if targets:
            self.events.put_targets(Rule=p["Name"], EventBusName=p.get("EventBusName", "default"), Targets=targets)
        return p["Name"], {"Arn": arn}

    def _aws_logs_loggroup(self, p: dict) -> tuple[Any, dict]:
        # Nothing writes to them locally; they exist so the functions' policies resolve as in AWS.
        name = p["LogGroupName"]
        self.logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in p:
            self.logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))
        return name, {"Arn": f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{name}:*"}

    def _aws_cognito_userpool(self, p: dict) -> tuple[Any, dict]:
        request = {"PoolName": p.get("UserPoolName", "shop-local"), **p}
        request = {k: v for k, v in request.items() if k in _api_members(self.idp, "CreateUserPool")}
        pool = self.idp.create_user_pool(**request)["UserPool"]
        return pool["Id"], {"Arn": pool["Arn"], "ProviderName": f"cognito-idp.{self.region}.amazonaws.com/{pool['Id']}",
                            "ProviderURL": f"https://cognito-idp.{self.region}.amazonaws.com/{pool['Id']}"}

    def _aws_cognito_userpoolclient(self, p: dict) -> tuple[Any, dict]:
        request = {k: v for k, v in p.items() if k in _api_members(self.idp, "CreateUserPoolClient")}
        request.setdefault("ClientName", "web")
        app_client = self.idp.create_user_pool_client(**request)["UserPoolClient"]
        return app_client["ClientId"], {"ClientSecret": app_client.get("ClientSecret")}

    def _aws_secretsmanager_secret(self, p: dict) -> tuple[Any, dict]:
        # CreateSecret has no GenerateSecretString (CloudFormation generates it): a random value of that length,
        # or, given a SecretStringTemplate (a JSON object), that object with the random value at GenerateStringKey.
        import secrets

        generate = p.get("GenerateSecretString", {})
        length = int(generate.get("PasswordLength", 32))
        value = p.get("SecretString") or secrets.token_urlsafe(length)[:length]
        if not p.get("SecretString") and "SecretStringTemplate" in generate:
            value = json.dumps({**json.loads(generate["SecretStringTemplate"]), generate["GenerateStringKey"]: value})
        arn = self.secrets.create_secret(Name=p["Name"], Description=p.get("Description", ""),
                                         SecretString=value)["ARN"]
        return arn, {"Id": arn}

    def _aws_s3_bucket(self, p: dict) -> tuple[Any, dict]:
        # Its settings as the template gives them; S3's object-created events go to the default bus, where
        # the template's rule takes uploads to the validator's queue (the emulator sends them there too).
        name = p["BucketName"]
        self.s3.create_bucket(Bucket=name)
        # There is no CloudFront locally: what the template lets the CDN read, the emulator serves to anyone.
        from local.enforcement import cdn_reads
        from local.iam import resource_matches

        served = [f"arn:aws:s3:::{name}/{pattern.split('/', 1)[1]}" for pattern in cdn_reads()
                  if "/" in pattern and resource_matches(pattern.split("/", 1)[0], f"arn:aws:s3:::{name}")]
        if served:
            self.s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Sid": "LocalStandInForTheCdn", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": served}]}))
        if "PublicAccessBlockConfiguration" in p:
            self.s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
        if "BucketEncryption" in p:
            self.s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                          for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]]})
        if "CorsConfiguration" in p:
            self.s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
                {key: value for key, value in rule.items() if key != "MaxAge"} | {"MaxAgeSeconds": rule.get("MaxAge", 0)}
                for rule in p["CorsConfiguration"]["CorsRules"]]})
        if "LifecycleConfiguration" in p:
            self.s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
                {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")},
                 "Expiration": {"Days": rule["ExpirationInDays"]},
                 "AbortIncompleteMultipartUpload": rule["AbortIncompleteMultipartUpload"]}
                for rule in p["LifecycleConfiguration"]["Rules"]]})
        if p.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            self.s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})
        return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                      "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com"}

    def _aws_cognito_userpoolgroup(self, p: dict) -> tuple[Any, dict]:
        request = {k: v for k, v in p.items() if k in _api_members(self.idp, "CreateGroup")}
        self.idp.create_group(**request)
        return p["GroupName"], {}


def load_template(path: str | pathlib.Path = TEMPLATE) -> dict:
    return json.loads(pathlib.Path(path).read_text())


def bootstrap(stage: str = "local", endpoint_url: str | None = None, *, region: str = "us-east-1",
              template: dict | None = None, session: boto3.session.Session | None = None) -> dict[str, Any]:
    """Create every resource of the template the emulator can hold; returns `Stack.summary()`.

    Resources are created in dependency order (whatever can be resolved, until nothing is left);
    entries without a type merge into Chalice's own resources, and types that only matter in AWS
    (alarms, dashboards, keys, the WAF web ACL, ...) are skipped.
    """
    return bootstrap_stack(stage, endpoint_url=endpoint_url, region=region, template=template,
                           session=session).summary()


def create_in_order(pending: dict[str, dict], resolver: Resolver, stack: Stack,
                    create: Callable[[str, str, dict], tuple[str, dict]]) -> None:
    """Create each resource of `pending` once its references resolve, as CloudFormation orders creation:
    `create(logical id, type, resolved properties)` gives its physical id and attributes, which `stack`
    records for the resources that refer to it. Raises Unresolvable naming what nothing provides."""
    pending = dict(pending)
    while pending:
        progressed = False
        for logical, resource in list(pending.items()):
            try:
                properties = resolver.resolve(resource.get("Properties", {}))
            except Unresolved:
                continue
            stack.refs[logical], stack.attributes[logical] = create(logical, resource["Type"], properties)
            stack.types[logical] = resource["Type"]
            del pending[logical]
            progressed = True
        if not progressed:
            missing = {}
            for logical, resource in pending.items():
                try:
                    resolver.resolve(resource.get("Properties", {}))
                except Unresolved as exc:
                    missing[logical] = str(exc)
            raise Unresolvable(f"cannot resolve references in the template: {missing}")


def bootstrap_stack(stage: str = "local", endpoint_url: str | None = None, *, region: str = "us-east-1",
                    template: dict | None = None, session: boto3.session.Session | None = None,
                    existing: Callable[[str, str, dict], tuple[Any, dict] | None] | None = None) -> Stack:
    """As `bootstrap`, returning the `Stack`. `existing(logical id, type, properties)` may name a resource
    already there (its physical id and attributes), which is then kept instead of created."""
    template = template if template is not None else load_template()
    stack = Stack()
    resolver = Resolver(template, stack, {"Stage": stage}, region)
    creator = Creator(session or boto3.session.Session(), endpoint_url, region)
    pending = {}
    for logical, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        if kind is None or not hasattr(creator, "_" + kind.replace("::", "_").lower()):
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        pending[logical] = resource

    def create(logical: str, kind: str, properties: dict) -> tuple[str, dict]:
        kept = existing(logical, kind, properties) if existing is not None else None
        if kept is not None:
            return kept
        physical, attributes = creator.create(kind, properties)
        log.debug("created %s %s = %s", kind, logical, physical)
        return physical, attributes

    create_in_order(pending, resolver, stack, create)
    log.info("created %d resources from %s", len(stack.refs), TEMPLATE.name)
    return stack
