"""`make deploy STAGE=<stage>`: a stage deployed with `chalice deploy`, with everything it stands on.

1. resources: the stack `shop-<stage>-resources` (tools/stacks.py: table, bus, rules, queues, pool, bucket,
   keys, log groups...) is created or updated with CloudFormation and waited for; its outputs are what the rest
   reads.
2. record: those values go into the stage's Chalice configuration (.chalice/config.json: environment, reserved
   concurrency, layers), as Chalice's workshop records its resources stack (recordresources.py), and each
   function's policy, rendered with the stack's ARNs, into .chalice/deployed/<stage>/policy-<function>.json,
   the file the stage's configuration then names.
3. chalice: `chalice deploy --stage <stage>`, building for the Lambda runtime (tools/package.py) whichever
   Python 3.11+ runs it.
4. wiring: the stack `shop-<stage>-wiring` (alarms on the functions and the API, the dashboard, the WAF
   association, the sweeper's invoke config), then what Chalice made gets the settings its configuration cannot
   say (partial batch responses, the stage's access logs and throttling, the gateway responses).

`make deploy` again is idempotent; `chalice deploy --stage <stage>` alone redeploys code (README, "Deploying to
AWS", says what it leaves behind). Stack parameters: `--parameter Name=value` (make: PARAMETERS="A=b C=d").

Aimed at a moto server (AWS_ENDPOINT_URL answering moto's /moto-api/), the same steps run against the
emulator: CloudFormation creates the resource types moto's models (EMULATED_BY_CLOUDFORMATION) and the local
stack's bootstrap (local/bootstrap.py) the others it knows; what neither holds (CloudFront, WAF, the account's
API Gateway role, topic and bucket policies) is named as AWS would name it, and listed.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from local.bootstrap import Creator, Resolver, Stack, create_in_order
from tools import stacks

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The types of these templates moto 5.2's CloudFormation models and names as AWS does. Not its EventBus (its Ref
# gives the bus object, so a rule on it fails); nothing of Cognito, Secrets Manager, queue, topic or bucket
# policies, API Gateway's account, CloudFront, WAF, alarms or Lambda invoke configs.
EMULATED_BY_CLOUDFORMATION = frozenset({
    "AWS::DynamoDB::Table", "AWS::Events::Archive", "AWS::Events::Rule", "AWS::SQS::Queue", "AWS::Logs::LogGroup",
    "AWS::SNS::Topic", "AWS::KMS::Key", "AWS::KMS::Alias", "AWS::IAM::Role", "AWS::S3::Bucket",
    "AWS::CloudWatch::Dashboard"})
TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation takes inline (beyond, a template must come from S3)


@dataclass
class Target:
    """Where the stage goes: AWS, or a moto server (`emulator`)."""

    session: Any
    region: str
    endpoint_url: str | None = None
    emulator: bool = False
    account: str = ""
    log: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url, region_name=self.region)

    def say(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)


def target() -> Target:
    import boto3

    session = boto3.session.Session()
    region = session.region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    aimed = Target(session, region, endpoint, emulator=bool(endpoint) and _is_moto(endpoint))
    aimed.account = aimed.client("sts").get_caller_identity()["Account"]
    return aimed


def _is_moto(endpoint: str) -> bool:
    from local.emulator import local_opener

    try:
        with local_opener().open(endpoint.rstrip("/") + "/moto-api/", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


# --- stacks --------------------------------------------------------------------------------------------------

def deploy_stack(aimed: Target, name: str, template: dict, parameters: dict[str, Any]) -> Stack:
    """Create or update the stack `name` from `template` and wait for it; what it made, as the rest refers to it.
    Against the emulator, what moto's CloudFormation cannot hold is made or named otherwise (module docstring)."""
    if aimed.emulator:
        return _emulated(aimed, name, template, parameters)
    outputs = _cloudformation(aimed, name, template, parameters)
    return stacks.stack_from_outputs(outputs, template)


def _cloudformation(aimed: Target, name: str, template: dict, parameters: dict[str, Any]) -> dict[str, str]:
    cfn = aimed.client("cloudformation")
    body = json.dumps(template, separators=(",", ":"))
    if len(body) > TEMPLATE_BODY_LIMIT:
        raise SystemExit(f"{name}: the template is {len(body)} bytes, over CloudFormation's inline limit")
    given = [{"ParameterKey": key, "ParameterValue": str(value)} for key, value in parameters.items()
             if key in template.get("Parameters", {})]
    request = {"StackName": name, "TemplateBody": body, "Parameters": given, "Capabilities": ["CAPABILITY_IAM"]}
    try:
        cfn.describe_stacks(StackName=name)
        exists = True
    except cfn.exceptions.ClientError:
        exists = False
    try:
        if exists:
            cfn.update_stack(**request)
            cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 720})
        else:
            cfn.create_stack(**request, OnFailure="ROLLBACK")
            cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 720})
    except cfn.exceptions.ClientError as error:
        if "No updates are to be performed" not in str(error):
            raise
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    aimed.say(f"{name}: {described['StackStatus']}")
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def emulated_split(template: dict) -> tuple[set[str], set[str], set[str]]:
    """(for moto's CloudFormation, for the bootstrap, neither): CloudFormation takes the types it models whose
    references stay among themselves; the bootstrap the types it can create; the rest is only named."""
    resources = template["Resources"]
    by_cloudformation = {k for k, r in resources.items() if r["Type"] in EMULATED_BY_CLOUDFORMATION}
    while True:
        leaving = {k for k in by_cloudformation
                   if any(ref in resources and ref not in by_cloudformation
                          for ref, _ in stacks.references(resources[k].get("Properties", {})))}
        if not leaving:
            break
        by_cloudformation -= leaving
    creator = _Creator.__dict__.keys() | Creator.__dict__.keys()
    by_bootstrap = {k for k, r in resources.items() if k not in by_cloudformation
                    and "_" + r["Type"].replace("::", "_").lower() in creator}
    return by_cloudformation, by_bootstrap, set(resources) - by_cloudformation - by_bootstrap


def _emulated(aimed: Target, name: str, template: dict, parameters: dict[str, Any]) -> Stack:
    from tools.template_checks import _generated, _physical

    by_cloudformation, by_bootstrap, neither = emulated_split(template)
    part = {**{k: v for k, v in template.items() if k not in ("Resources", "Outputs")},
            # moto does not read metadata; a reference there (a conditional wait) would name what it lacks
            "Resources": {k: {key: value for key, value in template["Resources"][k].items() if key != "Metadata"}
                          for k in by_cloudformation}}
    part["Outputs"] = {f"{k}{attribute.replace('.', '')}": {"Value": {"Fn::GetAtt": [k, attribute]}}
                       for k in by_cloudformation for attribute in _read_attributes(template, k)}
    part["Outputs"].update({k: {"Value": {"Ref": k}} for k in by_cloudformation})
    stack = stacks.stack_from_outputs(_cloudformation(aimed, name, part, parameters), part) if part["Resources"] \
        else Stack()
    resolving = Resolver(template, stack, parameters, aimed.region)
    resolving.pseudo.update({"AWS::AccountId": aimed.account, "AWS::StackName": name})
    pending = {k: template["Resources"][k] for k in by_bootstrap | neither
               if "Condition" not in template["Resources"][k] or resolving.condition(template["Resources"][k]["Condition"])}
    creator = _Creator(aimed.session, aimed.endpoint_url, aimed.region)

    def create(logical: str, kind: str, properties: dict) -> tuple[Any, dict]:
        if logical in by_bootstrap:
            if kind == "AWS::CloudWatch::Alarm":  # named as CloudFormation names what the template leaves unnamed
                properties = {"AlarmName": _generated(name, logical), **properties}
            return creator.create(kind, properties)
        return _physical(kind, logical, properties, name, aimed.region, aimed.account)

    create_in_order(pending, resolving, stack, create)
    absent = sorted(k for k in pending if k in neither)
    aimed.say(f"{name}: {len(by_cloudformation)} resources by the emulator's CloudFormation, "
              f"{len(pending) - len(absent)} by the local bootstrap" +
              (f"; not in the emulator, named as AWS would: {', '.join(absent)}" if absent else ""))
    return stack


def _read_attributes(template: dict, logical: str) -> set[str]:
    """The attributes of `logical` the template reads (GetAtt, Sub) or its outputs export."""
    read = stacks.references({"Resources": template["Resources"], "Outputs": template.get("Outputs", {})})
    return {attribute for name, attribute in read if name == logical and attribute}


class _Creator(Creator):
    """The bootstrap's creators, and those the wiring needs (alarms, invoke configs) where the emulator has them.
    What a `make deploy` before made is found and kept, as CloudFormation keeps what it made (it is not changed:
    the emulator's bootstrap creates, it does not update)."""

    def __init__(self, session: Any, endpoint_url: str | None, region: str):
        super().__init__(session, endpoint_url, region)
        self.cloudwatch = session.client("cloudwatch", endpoint_url=endpoint_url, region_name=region)
        self.lambda_ = session.client("lambda", endpoint_url=endpoint_url, region_name=region)

    def _aws_cognito_userpool(self, p: dict) -> tuple[Any, dict]:
        pools = self.idp.get_paginator("list_user_pools").paginate(MaxResults=60)
        found = [pool["Id"] for page in pools for pool in page["UserPools"] if pool["Name"] == p.get("UserPoolName")]
        if not found:
            return super()._aws_cognito_userpool(p)
        arn = self.idp.describe_user_pool(UserPoolId=found[0])["UserPool"]["Arn"]
        return found[0], {"Arn": arn, "ProviderName": f"cognito-idp.{self.region}.amazonaws.com/{found[0]}",
                          "ProviderURL": f"https://cognito-idp.{self.region}.amazonaws.com/{found[0]}"}

    def _aws_cognito_userpoolclient(self, p: dict) -> tuple[Any, dict]:
        clients = self.idp.list_user_pool_clients(UserPoolId=p["UserPoolId"], MaxResults=60)["UserPoolClients"]
        found = [c["ClientId"] for c in clients if c["ClientName"] == p.get("ClientName")]
        return (found[0], {"ClientSecret": None}) if found else super()._aws_cognito_userpoolclient(p)

    def _aws_cognito_userpoolgroup(self, p: dict) -> tuple[Any, dict]:
        try:
            self.idp.get_group(UserPoolId=p["UserPoolId"], GroupName=p["GroupName"])
            return p["GroupName"], {}
        except self.idp.exceptions.ResourceNotFoundException:
            return super()._aws_cognito_userpoolgroup(p)

    def _aws_secretsmanager_secret(self, p: dict) -> tuple[Any, dict]:
        try:
            arn = self.secrets.describe_secret(SecretId=p["Name"])["ARN"]
            return arn, {"Id": arn}
        except self.secrets.exceptions.ResourceNotFoundException:
            return super()._aws_secretsmanager_secret(p)

    def _aws_events_eventbus(self, p: dict) -> tuple[Any, dict]:
        try:
            arn = self.events.describe_event_bus(Name=p["Name"])["Arn"]
            return p["Name"], {"Arn": arn, "Name": p["Name"]}
        except self.events.exceptions.ResourceNotFoundException:
            return super()._aws_events_eventbus(p)

    def _aws_cloudwatch_alarm(self, p: dict) -> tuple[Any, dict]:
        name = p["AlarmName"]
        self.cloudwatch.put_metric_alarm(**p)
        arn = self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
        return name, {"Arn": arn}

    def _aws_lambda_eventinvokeconfig(self, p: dict) -> tuple[Any, dict]:
        self.lambda_.put_function_event_invoke_config(**p)
        return f"{p['FunctionName']}:{p['Qualifier']}", {}


# --- the steps -----------------------------------------------------------------------------------------------

def read_config() -> dict:
    return json.loads((ROOT / ".chalice" / "config.json").read_text())


def record(stage: str, resolving: Resolver) -> dict:
    """Step 2: the stage's configuration and rendered policy files, written, and what the resources stack holds
    (.chalice/deployed/<stage>/stack.json, for the equivalence check); returns the configuration."""
    folder = ROOT / ".chalice" / "deployed" / stage
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stack.json").write_text(json.dumps({
        "refs": resolving.stack.refs, "attributes": resolving.stack.attributes, "types": resolving.stack.types,
        "parameters": {name: value for name, value in resolving.parameters.items()},
        "region": resolving.pseudo["AWS::Region"], "account": resolving.pseudo["AWS::AccountId"]},
        indent=2, sort_keys=True) + "\n")
    files = {}
    for function, document in stacks.policies(stage, resolving).items():
        path = folder / f"policy-{function.replace('_', '-')}.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        files[function] = str(path.relative_to(ROOT / ".chalice"))
    config = stacks.record(read_config(), stage, stacks.chalice_settings(resolving), files)
    (ROOT / ".chalice" / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return config


def chalice_deploy(stage: str) -> None:
    """Step 3: Chalice's own deploy, building for the Lambda runtime (one build at a time in a checkout)."""
    from tools.package import _exclusive

    wrapper = "from tools.package import chalice_for_runtime; chalice_for_runtime()"
    with _exclusive(ROOT / ".chalice" / "deployments" / ".package.lock"):
        result = subprocess.run([sys.executable, "-c", wrapper, "deploy", "--stage", stage], cwd=ROOT, check=False)
    if result.returncode:
        raise SystemExit(f"chalice deploy --stage {stage} failed ({result.returncode})")


def deployed_by_chalice(stage: str) -> dict:
    return json.loads((ROOT / ".chalice" / "deployed" / f"{stage}.json").read_text())


def recorded_stack(stage: str) -> tuple[Stack, dict]:
    """What `record` wrote of the resources stack: (its values, {"parameters", "region", "account"})."""
    saved = json.loads((ROOT / ".chalice" / "deployed" / stage / "stack.json").read_text())
    return Stack(saved["refs"], saved["attributes"], saved["types"]), saved


def settle(aimed: Target, stage: str, settings: dict, made: dict, api_stage: str) -> None:
    """Step 4's second half: the settings of what Chalice made that its configuration cannot say."""
    lambda_, apigateway = aimed.client("lambda"), aimed.client("apigateway")
    resources = {r["name"]: r for r in made["resources"]}
    for function, wanted in settings["event_sources"].items():
        source = resources[f"{function}-sqs-event-source"]
        lambda_.update_event_source_mapping(UUID=source["event_uuid"], **wanted)
    api = resources["rest_api"]["rest_api_id"]
    operations = [{"op": "replace", "path": f"/accessLogSettings/{key}", "value": value}
                  for key, value in (("destinationArn", settings["stage"]["AccessLogSetting"]["DestinationArn"]),
                                     ("format", settings["stage"]["AccessLogSetting"]["Format"]))]
    for method in settings["stage"]["MethodSettings"]:
        where = f"{method['ResourcePath']}/{method['HttpMethod']}"
        operations += [{"op": "replace", "path": f"{where}/throttling/rateLimit",
                        "value": str(method["ThrottlingRateLimit"])},
                       {"op": "replace", "path": f"{where}/throttling/burstLimit",
                        "value": str(method["ThrottlingBurstLimit"])}]
    apigateway.update_stage(restApiId=api, stageName=api_stage, patchOperations=operations)
    for kind, response in settings["gateway_responses"].items():
        apigateway.put_gateway_response(restApiId=api, responseType=kind, **{
            key: response[value] for key, value in (("statusCode", "statusCode"),
                                                    ("responseParameters", "responseParameters"),
                                                    ("responseTemplates", "responseTemplates")) if value in response})
    apigateway.create_deployment(restApiId=api, stageName=api_stage,
                                 description="gateway responses of the merge template (make deploy)")
    aimed.say(f"settings: {len(settings['event_sources'])} SQS sources report partial failures, "
              f"stage {api_stage}: access logs, {len(settings['stage']['MethodSettings'])} throttling settings, "
              f"{len(settings['gateway_responses'])} gateway responses")


def deploy(stage: str, given: dict[str, str], aimed: Target | None = None) -> dict:
    """All four steps; returns what the equivalence check needs ({"stack", "parameters", "url"})."""
    aimed = aimed or target()
    template = stacks.resources_template(stage)
    chosen = stacks.parameters(stage, given)
    resources = deploy_stack(aimed, f"shop-{stage}-resources", template, chosen)
    resolving = stacks.resolver(stage, resources, given, region=aimed.region, account=aimed.account)
    config = record(stage, resolving)
    aimed.say(f"recorded into .chalice/config.json (stage {stage}) and .chalice/deployed/{stage}/")
    chalice_deploy(stage)
    made = deployed_by_chalice(stage)
    api_stage = config["stages"][stage].get("api_gateway_stage") or config.get("api_gateway_stage", "api")
    both = merged(resources, stacks.chalice_made(made, stage, api_stage))
    resolving = stacks.resolver(stage, both, given, region=aimed.region, account=aimed.account)
    deploy_stack(aimed, f"shop-{stage}-wiring", stacks.wiring_template(resolving), {})
    settle(aimed, stage, stacks.chalice_made_settings(resolving), made, api_stage)
    url = {r["name"]: r for r in made["resources"]}["rest_api"]["rest_api_url"]
    aimed.say(f"deployed stage {stage}: {url}")
    return {"stack": both, "parameters": chosen, "url": url}


def merged(*parts: Stack) -> Stack:
    """One view of several parts of a deployment."""
    merged = Stack()
    for part in parts:
        merged.refs.update(part.refs)
        merged.types.update(part.types)
        for logical, attributes in part.attributes.items():
            merged.attributes.setdefault(logical, {}).update(attributes)
    return merged


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text}: expected Name=value")
    return name, value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--parameter", action="append", type=_parameter, default=[], metavar="Name=value",
                        help="a stack parameter (AlarmEmail, AllowedOrigin, EmailSender, ...)")
    args = parser.parse_args(argv)
    deploy(args.stage, dict(args.parameter))


if __name__ == "__main__":
    main()
