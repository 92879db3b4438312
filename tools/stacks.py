"""The merge template split for `chalice deploy`: the stack before the functions, the stage's Chalice
configuration, what follows the functions, and what Chalice makes but has no word for.

.chalice/resources.json stays the one description of the shop's infrastructure. `make package` merges all of
it into Chalice's SAM template: one stack. For `chalice deploy` (`make deploy`, tools/deploy.py) each part of it
goes where it can exist:

- `resources_template`: every resource the functions use and none that needs them (table, bus, rules, queues,
  pool, bucket, CDN, keys, topic, log groups, the WAF web ACL...), deployed first, with an output for every value
  read from it (`OUTPUT`);
- `chalice_settings` and `policies`: what the merge template sets on the functions and the API that Chalice's
  configuration can say (their environment, reserved concurrency, layers, the pool the authorizer names, each
  function's policy with the stack's ARNs), resolved against that stack and recorded into .chalice/config.json;
- `wiring_template`: what needs the functions or the API (alarms on them, the dashboard, the WAF association,
  the sweeper's asynchronous invocation settings), resolved against both and deployed after them;
- `chalice_made_settings`: settings of what Chalice makes that its configuration cannot say (SQS sources
  reporting partial batch failures, the stage's access logs and throttling, the gateway responses), put on what
  it made after each `make deploy`.

Every property the merge template sets on a function or the API has its way here (`FUNCTION_PROPERTIES`,
`API_PROPERTIES`), or is one only the packaged path can give (published versions behind the live alias,
SnapStart, CodeDeploy's canary; tools/equivalence.py names them): a new one fails the tests until it has.
"""
from __future__ import annotations

import copy
import json
from typing import Any

from local.bootstrap import ACCOUNT_ID, Resolver, Stack
from tools import merge_template
from tools.merge_template import FUNCTION_RULES, FUNCTIONS, QUEUES, STAGE_DEFAULTS

# What Chalice's deploy makes itself, from the stage's configuration, of the merge template's entries.
CHALICE_MADE = frozenset(FUNCTIONS) | {"RestAPI", "APIHandlerInvokePermission"}
# Resources that only what the packaged path alone has uses (CodeDeploy's canary releases).
PACKAGED_ONLY_RESOURCES = frozenset({"CodeDeployRole"})
# Alarms on these namespaces watch what Chalice deploys (the functions, the API): they follow it.
CHALICE_METRICS = frozenset({"AWS/Lambda", "AWS/ApiGateway"})

# How `chalice deploy` gets each property the merge template sets on a function. What Chalice writes itself in
# both ways (runtime, architecture, memory, timeout, handler, the role and its policy file) is config.json's.
FUNCTION_PROPERTIES = {
    "FunctionName": "chalice",  # Chalice names them shop-<stage>[-<function>] in both ways
    "LoggingConfig": "chalice",  # Lambda's default log group is the same /aws/lambda/<name> the stack makes
    "Environment": "config",  # recorded into the stage's environment_variables
    "Layers": "config",  # recorded as the stage's layers
    "ReservedConcurrentExecutions": "config",  # recorded as the function's reserved_concurrency
    "Events": "settings",  # SQS sources' partial batch responses (the schedule: Chalice's own, named alike)
    "EventInvokeConfig": "wiring",  # an AWS::Lambda::EventInvokeConfig on the function, after it exists
    "AutoPublishAlias": "packaged", "AutoPublishAliasAllProperties": "packaged", "VersionDeletionPolicy": "packaged",
    "SnapStart": "packaged", "ProvisionedConcurrencyConfig": "packaged", "DeploymentPreference": "packaged",
}
# The same for the API's (RestAPI) and its invoke permission's properties.
API_PROPERTIES = {
    "DefinitionBody.securityDefinitions": "config",  # USER_POOL_ARN: Chalice's authorizer names the stack's pool
    "DefinitionBody.x-amazon-apigateway-gateway-responses": "settings",
    "AccessLogSetting": "settings",
    "MethodSettings": "settings",
    "APIHandlerInvokePermission.FunctionName": "packaged",  # API Gateway invokes the live alias
}
def references(value: Any) -> set[tuple[str, str | None]]:
    """Every (logical id or parameter, attribute or None) that `value` reads through Ref, GetAtt or Sub."""
    found: set[tuple[str, str | None]] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add((item, None))
            elif key == "Fn::GetAtt":
                logical, attribute = item if isinstance(item, list) else item.split(".", 1)
                found.add((logical, attribute))
            elif key == "Fn::Sub":
                found |= _sub_references(item if isinstance(item, str) else item[0],
                                         set() if isinstance(item, str) else set(item[1]))
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, str) and "${" in value:  # a policy file's string (what Fn::Sub will read)
        found |= _sub_references(value, set())
    return found


def _sub_references(text: str, local: set[str]) -> set[tuple[str, str | None]]:
    found = set()
    for part in text.split("${")[1:]:
        name = part.split("}", 1)[0]
        if name.startswith(("!", "AWS::")) or name in local:
            continue
        logical, _, attribute = name.partition(".")
        found.add((logical, attribute or None))
    return found


def _metrics_of_chalice(resource: dict) -> bool:
    return resource["Type"] == "AWS::CloudWatch::Alarm" and resource["Properties"]["Namespace"] in CHALICE_METRICS


def part(template: dict, logical: str) -> str:
    """Where a resource of the merge template goes for `chalice deploy`: "resources", "wiring", "chalice" or
    "packaged" (the packaged path alone has it)."""
    from tools.template_checks import dependencies

    if logical in CHALICE_MADE:
        return "chalice"
    if logical in PACKAGED_ONLY_RESOURCES:
        return "packaged"
    resource = template["Resources"][logical]
    if dependencies(template, logical) & CHALICE_MADE or _metrics_of_chalice(resource):
        return "wiring"
    return "resources"


def output_name(logical: str, attribute: str | None) -> str:
    """The resources stack's output holding a resource's Ref (attribute None) or one of its attributes."""
    return logical + (attribute or "").replace(".", "")


def _needed(template: dict, stage: str) -> set[tuple[str, str | None]]:
    """What is read from the resources stack: by the rest of the merge template and by the stage's policies."""
    from tools.iam_policies import policies as policy_documents

    needed = references(template["Resources"])
    for document in policy_documents(stage).values():
        needed |= references(document)
    return needed


def resources_template(stage: str, template: dict | None = None) -> dict:
    """The stack `chalice deploy` deploys onto: the resources the functions use, and an output for each value of
    theirs that the functions' settings and policies, the API's settings and the wiring read."""
    template = copy.deepcopy(template or merge_template.template())
    kept = {logical: resource for logical, resource in template["Resources"].items()
            if "Type" in resource and part(template, logical) == "resources"}
    outputs = {}
    for logical, attribute in sorted(_needed(template, stage), key=lambda r: (r[0], r[1] or "")):
        if logical not in kept:
            continue
        value = {"Ref": logical} if attribute is None else {"Fn::GetAtt": [logical, attribute]}
        output = {"Value": value}
        if "Condition" in kept[logical]:
            output["Condition"] = kept[logical]["Condition"]
        name = output_name(logical, attribute)
        if name in outputs:
            raise ValueError(f"two values would share the output {name}")
        outputs[name] = output
    used = references({"Resources": kept, "Outputs": outputs})
    conditions = _conditions(template, {c for r in [*kept.values(), *outputs.values()] if (c := r.get("Condition"))}
                             | _conditions_in(kept))
    used |= references(conditions)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The shop's resources, deployed before `chalice deploy` (tools/stacks.py)",
        "Parameters": {name: spec for name, spec in template["Parameters"].items() if (name, None) in used},
        "Conditions": conditions,
        "Resources": kept,
        "Outputs": outputs,
    }


def _conditions_in(value: Any) -> set[str]:
    """Conditions named by Fn::If inside `value`."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Fn::If":
                found.add(item[0])
            found |= _conditions_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= _conditions_in(item)
    return found


def _conditions(template: dict, names: set[str]) -> dict:
    """`names` and the conditions they are built from."""
    chosen: dict = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen[name] = template["Conditions"][name]
        todo += [c for c in _condition_names(chosen[name]) if c not in chosen]
    return {name: chosen[name] for name in template["Conditions"] if name in chosen}


def _condition_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["Condition"]} if isinstance(value.get("Condition"), str) else set()
        return found.union(*(_condition_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_condition_names(v) for v in value))
    return set()


def stack_from_outputs(outputs: dict[str, str], template: dict) -> Stack:
    """The resources stack as the rest reads it (what Ref and GetAtt give), from the outputs of `template`."""
    stack = Stack()
    for name, value in outputs.items():
        read = template["Outputs"][name]["Value"]
        logical = read["Ref"] if "Ref" in read else read["Fn::GetAtt"][0]
        if "Ref" in read:
            stack.refs[logical] = value
        else:
            stack.attributes.setdefault(logical, {})[read["Fn::GetAtt"][1]] = value
        stack.types[logical] = template["Resources"][logical]["Type"]
    for logical in stack.types:
        stack.attributes.setdefault(logical, {})
    return stack


# --- resolving the rest against what exists ------------------------------------------------------------

def parameters(stage: str, given: dict[str, str] | None = None, template: dict | None = None) -> dict[str, Any]:
    """The stack parameters of a stage: the stage's own defaults (as `make package` writes them), then what the
    deployer gives, numbers as numbers (CloudFormation compares a Number parameter as its value)."""
    declared = (template or merge_template.template())["Parameters"]
    chosen = {"Stage": stage, **STAGE_DEFAULTS.get(stage, {}), **(given or {})}
    unknown = sorted(set(chosen) - set(declared))
    if unknown:
        raise ValueError(f"no such parameter: {', '.join(unknown)}")
    return {name: _typed(value, declared[name]["Type"]) for name, value in chosen.items()}


def _typed(value: Any, kind: str) -> Any:
    if kind == "Number" and isinstance(value, str):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def resolver(stage: str, stack: Stack, given: dict[str, str] | None = None, *, region: str = "us-east-1",
             account: str = ACCOUNT_ID, template: dict | None = None) -> Resolver:
    """The merge template's intrinsics, evaluated against `stack` (what exists) for the stage."""
    template = template or merge_template.template()
    resolving = Resolver(template, stack, parameters(stage, given, template), region)
    resolving.pseudo.update({"AWS::AccountId": account, "AWS::Partition": partition(region),
                             "AWS::StackName": f"shop-{stage}"})
    return resolving


def _function_properties(template: dict, logical: str) -> dict:
    return template["Resources"][logical].get("Properties", {})


def chalice_settings(resolving: Resolver, template: dict | None = None) -> dict:
    """What the stage's Chalice configuration records: {"environment_variables" (what every function gets),
    "function_environment": {function: what only it gets}, "layers", "reserved_concurrency": {function: n}}
    (functions by their name in app.py)."""
    template = template or merge_template.template()
    environments = {name: resolving.resolve(_function_properties(template, logical).get("Environment", {}))
                    .get("Variables", {}) for logical, (name, _) in FUNCTIONS.items()}
    shared = {variable: value for variable, value in next(iter(environments.values())).items()
              if all(environment.get(variable) == value for environment in environments.values())}
    own = {name: {variable: value for variable, value in environment.items() if variable not in shared}
           for name, environment in environments.items()}
    layers = {json.dumps(resolving.resolve(_function_properties(template, logical).get("Layers", []))
                         or []) for logical in FUNCTIONS}
    if len(layers) != 1:
        raise ValueError("the functions' layers differ: the stage's configuration holds one list for all")
    reserved = {}
    for logical, (name, _) in FUNCTIONS.items():
        value = resolving.resolve({"v": _function_properties(template, logical).get("ReservedConcurrentExecutions")})
        if value.get("v") is not None:
            reserved[name] = int(value["v"])
    return {"environment_variables": shared, "function_environment": {name: env for name, env in own.items() if env},
            "layers": json.loads(layers.pop()), "reserved_concurrency": reserved}


def policies(stage: str, resolving: Resolver) -> dict[str, dict]:
    """Each function's policy (tools/iam_policies.py) with the stack's own ARNs: what `chalice deploy` puts on
    its role, as CloudFormation's Fn::Sub resolves the same document in the packaged stack."""
    from tools.iam_policies import policies as policy_documents
    from tools.package import sub_references

    return {name: resolving.resolve(sub_references(document)) for name, document in policy_documents(stage).items()}


def record(config: dict, stage: str, settings: dict, policy_files: dict[str, str]) -> dict:
    """The Chalice configuration with the stage's recorded values: environment, layers, reserved concurrency
    and the rendered policy file of each function (paths relative to .chalice/)."""
    config = copy.deepcopy(config)
    stage_config = config["stages"][stage]
    stage_config["environment_variables"] = {**stage_config.get("environment_variables", {}),
                                             **settings["environment_variables"]}
    if settings["layers"]:
        stage_config["layers"] = settings["layers"]
    else:
        stage_config.pop("layers", None)
    functions = stage_config.setdefault("lambda_functions", {})
    for name, path in policy_files.items():
        if name == "api_handler":
            stage_config["iam_policy_file"] = path
        functions.setdefault(name, {})["iam_policy_file"] = path
    for name in {n for n, _ in FUNCTIONS.values()}:
        # Chalice lays a function's own environment_variables over the stage's.
        if name in settings.get("function_environment", {}):
            functions.setdefault(name, {})["environment_variables"] = {
                **functions.get(name, {}).get("environment_variables", {}), **settings["function_environment"][name]}
        if name in settings["reserved_concurrency"]:
            functions.setdefault(name, {})["reserved_concurrency"] = settings["reserved_concurrency"][name]
        elif name in functions:
            functions[name].pop("reserved_concurrency", None)
    return config


def chalice_made(deployed: dict, stage: str, api_stage: str) -> Stack:
    """What `chalice deploy` made (its .chalice/deployed/<stage>.json), as the merge template refers to it."""
    made = {r["name"]: r for r in deployed["resources"]}
    stack = Stack()
    for logical, (name, _) in FUNCTIONS.items():
        arn = made[name]["lambda_arn"]
        stack.refs[logical], stack.attributes[logical] = arn.rsplit(":", 1)[-1], {"Arn": arn}
        stack.types[logical] = "AWS::Lambda::Function"
    api = made["rest_api"]["rest_api_id"]
    stack.refs["RestAPI"], stack.attributes["RestAPI"] = api, {"Stage": api_stage, "RootResourceId": None}
    stack.types["RestAPI"] = "AWS::ApiGateway::RestApi"
    return stack


def wiring_template(resolving: Resolver, template: dict | None = None) -> dict:
    """What follows the functions, resolved against the resources stack and what Chalice made (every reference
    a value): alarms on the functions and the API, the dashboard, the WAF association, invoke configs."""
    template = template or merge_template.template()
    resources = {}
    for logical, resource in template["Resources"].items():
        if "Type" not in resource or part(template, logical) != "wiring":
            continue
        if "Condition" in resource and not resolving.condition(resource["Condition"]):
            continue
        resources[logical] = {"Type": resource["Type"], "Properties": resolving.resolve(resource["Properties"])}
    for logical in FUNCTIONS:
        invoke = resolving.resolve(_function_properties(template, logical).get("EventInvokeConfig", {}))
        if invoke:  # what SAM makes of it for a function without an alias: one on $LATEST, destinations by ARN
            destinations = {when: {"Destination": destination["Destination"]}
                            for when, destination in invoke.pop("DestinationConfig", {}).items()}
            resources[f"{logical}EventInvokeConfig"] = {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": {
                "FunctionName": resolving.ref(logical), "Qualifier": "$LATEST", **invoke,
                **({"DestinationConfig": destinations} if destinations else {})}}
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Description": "What follows the shop's functions and API, deployed after `chalice deploy` "
                           "(tools/stacks.py)",
            "Resources": resources}


def chalice_made_settings(resolving: Resolver, template: dict | None = None) -> dict:
    """Settings of what Chalice made that its configuration cannot say, resolved: {"event_sources": {function:
    {setting: value}}, "stage": {"AccessLogSetting", "MethodSettings"}, "gateway_responses": {type: response}}."""
    template = template or merge_template.template()
    event_sources = {}
    for _, logical, source in QUEUES.values():
        properties = _function_properties(template, logical)["Events"][source]["Properties"]
        event_sources[FUNCTIONS[logical][0]] = {"FunctionResponseTypes": properties["FunctionResponseTypes"]}
    for logical, (event, _, _) in FUNCTION_RULES.items():
        said = set(_function_properties(template, logical)["Events"][event]["Properties"]) - {"Name"}
        if said:  # Chalice makes the schedule's rule and target, and puts them back as it made them on each deploy
            raise ValueError(f"{logical}'s schedule sets {sorted(said)}, which `chalice deploy` cannot keep")
    api = _function_properties(template, "RestAPI")
    return {"event_sources": event_sources,
            "stage": resolving.resolve({key: api[key] for key in ("AccessLogSetting", "MethodSettings")}),
            "gateway_responses": resolving.resolve(api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"])}
