"""Does what `chalice deploy` made equal what the packaged template declares for the same stage?

    python -m tools.equivalence --stage dev [--expanded dist/dev/expanded.json]

The packaged template (`make package`, after the SAM transform) is resolved against what the stage really
stands on (the resources stack `make deploy` recorded in .chalice/deployed/<stage>/stack.json, the functions
and API Chalice made), then compared resource by resource with what AWS (or the emulator) holds: each
function's runtime, architecture, memory, timeout, handler, environment, layers, tracing, log group, reserved
concurrency and role policy (which must hold no `${...}` and name only the stack's own resources); each SQS
event source (queue, batch size, batching window, partial batch responses); the sweeper's invoke config; each
rule (bus, pattern or schedule, state, targets with their retries and dead-letter queue); each API route (the
function it invokes, its authorizer and the pool that names); the stage's access logs and throttling; the
gateway responses. It prints one line per difference, then what only the packaged path gives
(tools/stacks.py PACKAGED_ONLY), and exits 1 if anything differs.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
from dataclasses import dataclass, field
from typing import Any

from tools import stacks
from tools.merge_template import FUNCTIONS
from tools.template_checks import Deployed, deploy, own_resources

ROOT = pathlib.Path(__file__).resolve().parent.parent
# What Lambda answers for a property the template leaves out.
LAMBDA_DEFAULTS = {"Architectures": ["x86_64"], "MemorySize": 128, "Timeout": 3, "Layers": [],
                   "TracingConfig": {"Mode": "PassThrough"}}


@dataclass
class Report:
    differences: list[str] = field(default_factory=list)
    packaged_only: list[str] = field(default_factory=list)

    def differ(self, what: str, deployed: Any, declared: Any) -> None:
        if _normal(deployed) != _normal(declared):
            self.differences.append(f"{what}: deployed {json.dumps(_normal(deployed), sort_keys=True)}, "
                                    f"packaged {json.dumps(_normal(declared), sort_keys=True)}")


def _normal(value: Any) -> Any:
    """Compared as AWS compares: key order, the order of a statement's actions and resources, and numbers given as
    text do not matter."""
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_normal(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def expected(stage: str, expanded: dict, known, recorded: dict) -> Deployed:
    """The packaged template as it would stand on what this stage stands on."""
    return deploy(expanded, stage, recorded["parameters"], known=known, region=recorded["region"],
                  account=recorded["account"])


def compare(stage: str, declared: Deployed, aws: Any, made: dict) -> Report:
    """`aws(service)` gives a client of where the stage was deployed; `made` is Chalice's deployed record."""
    report = Report()
    lambda_, iam = aws("lambda"), aws("iam")
    owned = own_resources(declared)
    for logical, (name, _) in FUNCTIONS.items():
        _function(report, declared, logical, name, stage, lambda_, iam, owned)
    _rules(report, declared, aws("events"))
    _api(report, declared, aws("apigateway"), {r["name"]: r for r in made["resources"]}["rest_api"]["rest_api_id"])
    report.packaged_only = packaged_only(declared)
    return report


def _function(report: Report, declared: Deployed, logical: str, name: str, stage: str, lambda_: Any, iam: Any,
              owned: set[str]) -> None:
    wanted = declared.resources[logical]["Properties"]
    physical = declared.stack.refs[logical]
    actual = lambda_.get_function_configuration(FunctionName=physical)
    for key in ("Runtime", "Architectures", "MemorySize", "Timeout", "Handler", "TracingConfig"):
        report.differ(f"{logical} {key}", actual.get(key, LAMBDA_DEFAULTS.get(key)),
                      wanted.get(key, LAMBDA_DEFAULTS.get(key)))
    report.differ(f"{logical} Environment", actual.get("Environment", {}).get("Variables", {}),
                  wanted.get("Environment", {}).get("Variables", {}))
    report.differ(f"{logical} Layers", [layer["Arn"] for layer in actual.get("Layers", [])], wanted.get("Layers", []))
    report.differ(f"{logical} log group", actual.get("LoggingConfig", {}).get("LogGroup", f"/aws/lambda/{physical}"),
                  wanted.get("LoggingConfig", {}).get("LogGroup", f"/aws/lambda/{physical}"))
    reserved = lambda_.get_function_concurrency(FunctionName=physical).get("ReservedConcurrentExecutions")
    report.differ(f"{logical} ReservedConcurrentExecutions", reserved, wanted.get("ReservedConcurrentExecutions"))
    _policy(report, declared, logical, actual["Role"], iam, owned)
    _event_sources(report, declared, logical, physical, lambda_)
    _invoke_config(report, declared, logical, physical, lambda_)


def _policy(report: Report, declared: Deployed, logical: str, role_arn: str, iam: Any, owned: set[str]) -> None:
    from tools.iam_policies import UNSCOPED_ACTIONS

    role = role_arn.rsplit("/", 1)[-1]
    documents = [iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                 for name in iam.list_role_policies(RoleName=role)["PolicyNames"]]
    documents = [json.loads(d) if isinstance(d, str) else d for d in documents]
    statements = [s for d in documents for s in _listed(d["Statement"])]
    report.differ(f"{logical} role policy", statements,
                  [s for d in declared.role_policies(declared.function_role(logical)) for s in _listed(d["Statement"])])
    for statement in statements:
        for resource in _listed(statement.get("Resource", [])):
            if "${" in resource:
                report.differences.append(f"{logical} role policy {statement.get('Sid')}: {resource} is unresolved")
            elif resource == "*" and not set(_listed(statement["Action"])) <= UNSCOPED_ACTIONS:
                report.differences.append(f"{logical} role policy {statement.get('Sid')}: {statement['Action']} on *")
            elif resource != "*" and resource not in owned:
                report.differences.append(f"{logical} role policy {statement.get('Sid')}: {resource} is not the "
                                          f"stack's own")


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _event_sources(report: Report, declared: Deployed, logical: str, physical: str, lambda_: Any) -> None:
    def shape(mapping: dict) -> dict:
        return {"BatchSize": mapping.get("BatchSize"), "FunctionResponseTypes": mapping.get("FunctionResponseTypes") or [],
                "MaximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds") or 0,
                "Enabled": mapping.get("Enabled", mapping.get("State", "Enabled") in ("Enabled", True))}

    actual = {m["EventSourceArn"]: shape(m) for m in lambda_.list_event_source_mappings()["EventSourceMappings"]
              if m["FunctionArn"].split(":function:", 1)[-1].split(":")[0] == physical}
    wanted = {m["Properties"]["EventSourceArn"]: shape(m["Properties"])
              for m in declared.of_type("AWS::Lambda::EventSourceMapping").values()
              if declared.function_of(m["Properties"]["FunctionName"]) == logical}
    report.differ(f"{logical} event sources", actual, wanted)


def _invoke_config(report: Report, declared: Deployed, logical: str, physical: str, lambda_: Any) -> None:
    def shape(config: dict) -> dict:
        return {"MaximumRetryAttempts": config.get("MaximumRetryAttempts"),
                "MaximumEventAgeInSeconds": config.get("MaximumEventAgeInSeconds"),
                "OnFailure": config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")}

    wanted = [shape(c["Properties"]) for c in declared.of_type("AWS::Lambda::EventInvokeConfig").values()
              if declared.function_of(c["Properties"]["FunctionName"]) == logical]
    try:
        actual = [shape(lambda_.get_function_event_invoke_config(FunctionName=physical))]
    except lambda_.exceptions.ResourceNotFoundException:
        actual = []
    report.differ(f"{logical} asynchronous invocation", actual, wanted)


def _rules(report: Report, declared: Deployed, events: Any) -> None:
    for logical, rule in declared.of_type("AWS::Events::Rule").items():
        wanted = rule["Properties"]
        bus = str(wanted.get("EventBusName", "default")).rsplit("event-bus/", 1)[-1]
        try:
            actual = events.describe_rule(Name=wanted["Name"], EventBusName=bus)
        except events.exceptions.ResourceNotFoundException:
            report.differences.append(f"{logical}: no rule {wanted['Name']} on the bus {bus}")
            continue
        pattern = wanted.get("EventPattern")
        report.differ(f"{logical} rule", {
            "EventPattern": json.loads(actual["EventPattern"]) if actual.get("EventPattern") else None,
            "ScheduleExpression": actual.get("ScheduleExpression"), "State": actual.get("State", "ENABLED")}, {
            "EventPattern": json.loads(pattern) if isinstance(pattern, str) else pattern,
            "ScheduleExpression": wanted.get("ScheduleExpression"), "State": wanted.get("State", "ENABLED")})
        targets = events.list_targets_by_rule(Rule=wanted["Name"], EventBusName=bus)["Targets"]
        report.differ(f"{logical} targets", [_target(declared, t) for t in targets],
                      [_target(declared, t) for t in wanted.get("Targets", [])])


def _target(declared: Deployed, target: dict) -> dict:
    """A rule's target as it matters: what it reaches (a function by name, whichever alias), retries, DLQ."""
    try:
        reached = declared.function_of(target["Arn"])
    except KeyError:
        reached = target["Arn"]
    return {"Arn": reached, "RetryPolicy": target.get("RetryPolicy"),
            "DeadLetterConfig": target.get("DeadLetterConfig", {}).get("Arn")}


def _api(report: Report, declared: Deployed, apigateway: Any, api_id: str) -> None:
    (stage_logical, stage), = declared.of_type("AWS::ApiGateway::Stage").items()
    body = declared.resources["RestAPI"]["Properties"]["Body"]
    pools = {name: scheme["x-amazon-apigateway-authorizer"]["providerARNs"]
             for name, scheme in body.get("securityDefinitions", {}).items()}
    wanted = {}
    for path, methods in body["paths"].items():
        for verb, operation in methods.items():
            named = [name for requirement in operation.get("security", []) for name in requirement]
            uri = operation["x-amazon-apigateway-integration"].get("uri", "")
            wanted[f"{verb.upper()} {path}"] = {"function": _invoked(declared, uri),
                                                "pools": [pools[n] for n in named]}
    authorizers = {a["id"]: a.get("providerARNs", []) for a in apigateway.get_authorizers(restApiId=api_id)["items"]}
    actual = {}
    for resource in apigateway.get_resources(restApiId=api_id, limit=500)["items"]:
        for verb in resource.get("resourceMethods", {}):
            method = apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=verb)
            integration = method.get("methodIntegration", {})
            actual[f"{verb} {resource['path']}"] = {
                "function": _invoked(declared, integration.get("uri", "")),
                "pools": [authorizers[method["authorizerId"]]] if method.get("authorizerId") else []}
    for route in sorted(set(actual) | set(wanted)):
        report.differ(f"route {route}", actual.get(route), wanted.get(route))
    deployed_stage = apigateway.get_stage(restApiId=api_id, stageName=stage["Properties"]["StageName"])
    report.differ(f"{stage_logical} access logs", deployed_stage.get("accessLogSettings"), {
        "destinationArn": stage["Properties"]["AccessLogSetting"]["DestinationArn"],
        "format": stage["Properties"]["AccessLogSetting"]["Format"]})
    report.differ(f"{stage_logical} throttling", {
        path: {"rate": settings.get("throttlingRateLimit"), "burst": settings.get("throttlingBurstLimit")}
        for path, settings in deployed_stage.get("methodSettings", {}).items()}, {
        f"{m['ResourcePath'].lstrip('/')}/{m['HttpMethod']}": {"rate": m["ThrottlingRateLimit"],
                                                               "burst": m["ThrottlingBurstLimit"]}
        for m in stage["Properties"]["MethodSettings"]})
    report.differ(f"{stage_logical} tracing", deployed_stage.get("tracingEnabled", False),
                  stage["Properties"].get("TracingEnabled", False))
    responses = {r["responseType"]: {"statusCode": r.get("statusCode"), "templates": r.get("responseTemplates"),
                                     "parameters": r.get("responseParameters")}
                 for r in apigateway.get_gateway_responses(restApiId=api_id)["items"] if not r.get("defaultResponse")}
    report.differ("RestAPI gateway responses", responses, {
        kind: {"statusCode": r.get("statusCode"), "templates": r.get("responseTemplates"),
               "parameters": r.get("responseParameters")}
        for kind, r in body.get("x-amazon-apigateway-gateway-responses", {}).items()})


def _invoked(declared: Deployed, uri: str) -> str | None:
    """The function an integration invokes (whichever version or alias of it)."""
    if "/functions/" not in uri:
        return None
    target = uri.split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
    try:
        return declared.function_of(target)
    except KeyError:
        return target


def packaged_only(declared: Deployed) -> list[str]:
    """What the packaged stack gives and `chalice deploy` cannot, as this stage's template declares it."""
    found = []
    for alias, resource in sorted(declared.of_type("AWS::Lambda::Alias").items()):
        properties = resource["Properties"]
        function = declared.function_of(properties["FunctionName"])
        found.append(f"{function}: invoked through its `{properties['Name']}` alias (a published version)")
        if declared.resources[function]["Properties"].get("SnapStart", {}).get("ApplyOn") == "PublishedVersions":
            found.append(f"{function}: SnapStart on published versions")
        if "ProvisionedConcurrencyConfig" in properties:
            found.append(f"{function}: provisioned concurrency on its alias")
        group = resource.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate", {}).get("DeploymentGroupName")
        for logical, deployment in declared.of_type("AWS::CodeDeploy::DeploymentGroup").items():
            if declared.stack.refs[logical] == group:
                kind = deployment["Properties"]["DeploymentConfigName"].removeprefix("CodeDeployDefault.Lambda")
                alarms = [a["Name"] for a in deployment["Properties"].get("AlarmConfiguration", {}).get("Alarms", [])]
                found.append(f"{function}: CodeDeploy {kind}, rolled back by {len(alarms)} alarm(s)")
    return found


def main(argv: list[str] | None = None) -> int:
    import boto3

    from tools.deploy import deployed_by_chalice, merged, recorded_stack

    parser = argparse.ArgumentParser(prog="python -m tools.equivalence", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--expanded", help="the packaged template after the SAM transform (default: packaged now)")
    args = parser.parse_args(argv)
    if args.expanded:
        expanded = json.loads(pathlib.Path(args.expanded).read_text())
    else:
        import tempfile

        from tools.package import package

        with tempfile.TemporaryDirectory() as out:
            path = package(args.stage, pathlib.Path(out) / args.stage)
            expanded = json.loads((path.parent / "expanded.json").read_text())
    stack, recorded = recorded_stack(args.stage)
    made = deployed_by_chalice(args.stage)
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    api_stage = config["stages"][args.stage].get("api_gateway_stage", "api")
    declared = expected(args.stage, expanded, merged(stack, stacks.chalice_made(made, args.stage, api_stage)),
                        recorded)
    session = boto3.session.Session(region_name=recorded["region"])
    report = compare(args.stage, declared, session.client, made)
    for line in report.differences:
        print(f"differs: {line}")
    for line in report.packaged_only:
        print(f"only packaged: {line}")
    print(f"{len(report.differences)} differences; {len(report.packaged_only)} things only the packaged path gives")
    return 1 if report.differences else 0


if __name__ == "__main__":
    sys.exit(main())
