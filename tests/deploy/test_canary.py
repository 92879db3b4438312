"""Releases in prod: CodeDeploy moves the API's and create_orders' live alias to a new version a tenth at a
time (SnapStart kept), and moves it back when one of the stack's alarms fires; dev moves it all at once.

Proved on the expanded template, as AWS will hold it (tools/template_checks.py's release check, which
`make package` runs), each part also shown failing on a copy broken the way a template gets broken.
"""
from __future__ import annotations

import pytest

from local.iam import Decision, evaluate
from tools.merge_template import ROLLBACK_ALARMS, SNAPSTART_FUNCTIONS
from tools.template_checks import Deployed, alias_shifts, deploy, release_problems

CANARY = "CodeDeployDefault.LambdaCanary10Percent10Minutes"
# What prod's packaged stack gives and `chalice deploy` cannot (the README's list).
PACKAGED_ONLY_IN_PROD = [
    "APIHandler: invoked through its `live` alias (a published version)",
    "APIHandler: SnapStart on published versions",
    "APIHandler: CodeDeploy Canary10Percent10Minutes, rolled back by 3 alarm(s)",
    "CreateOrders: invoked through its `live` alias (a published version)",
    "CreateOrders: SnapStart on published versions",
    "CreateOrders: CodeDeploy Canary10Percent10Minutes, rolled back by 1 alarm(s)"]


@pytest.fixture(scope="module")
def deployed(packaged) -> Deployed:
    return deploy(packaged.expanded, "prod")


def _group(deployed: Deployed, function: str) -> tuple[str, dict]:
    (group,) = [group for alias, group in alias_shifts(deployed).items()
                if deployed.function_of(deployed.resources[alias]["Properties"]["FunctionName"]) == function]
    return group, deployed.resources[group]["Properties"]


def test_in_prod_a_new_version_takes_a_tenth_of_the_traffic_for_ten_minutes_before_the_rest(deployed):
    for function in SNAPSTART_FUNCTIONS:
        _, group = _group(deployed, function)
        assert group["DeploymentConfigName"] == CANARY, function
        assert group["DeploymentStyle"] == {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}
        # SnapStart is kept: the versions CodeDeploy moves between are snapshotted ones.
        assert deployed.resources[function]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert release_problems(deployed) == []


def test_the_release_is_rolled_back_by_the_stacks_5xx_p99_and_error_alarms(deployed):
    watched = {}
    for function in SNAPSTART_FUNCTIONS:
        _, group = _group(deployed, function)
        assert {"DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_FAILURE"} <= set(group["AutoRollbackConfiguration"]["Events"])
        assert group["AutoRollbackConfiguration"]["Enabled"] and group["AlarmConfiguration"]["Enabled"]
        names = [a["Name"] for a in group["AlarmConfiguration"]["Alarms"]]
        assert names == [deployed.stack.refs[alarm] for alarm in ROLLBACK_ALARMS[function]]
        watched[function] = {(p["Namespace"], p["MetricName"], p.get("ExtendedStatistic", p.get("Statistic")))
                             for alarm in ROLLBACK_ALARMS[function]
                             for p in [deployed.resources[alarm]["Properties"]]}
    assert watched == {"APIHandler": {("AWS/ApiGateway", "5XXError", "Sum"), ("AWS/ApiGateway", "Latency", "p99"),
                                      ("AWS/Lambda", "Errors", "Sum")},
                       "CreateOrders": {("AWS/Lambda", "Errors", "Sum")}}
    errors = deployed.resources["CreateOrdersErrorsAlarm"]["Properties"]["Dimensions"]
    assert errors == [{"Name": "FunctionName", "Value": "shop-prod-create_orders"}]


def test_codedeploy_may_move_the_two_live_aliases_and_nothing_else(deployed):
    _, properties = _group(deployed, "APIHandler")
    role = deployed.logical_of(properties["ServiceRoleArn"])
    policies = deployed.role_policies(role)
    assert not deployed.resources[role]["Properties"].get("ManagedPolicyArns")
    prefix = "arn:aws:lambda:us-east-1:123456789012:function:"
    assert evaluate(policies, "lambda:UpdateAlias", f"{prefix}shop-prod:live") is Decision.ALLOWED
    assert evaluate(policies, "lambda:UpdateAlias", f"{prefix}shop-prod-create_orders:live") is Decision.ALLOWED
    for other in ("shop-prod-notify:live", "shop-prod-housekeeping", "shop-staging:live"):
        assert evaluate(policies, "lambda:UpdateAlias", prefix + other) is not Decision.ALLOWED, other
    assert evaluate(policies, "lambda:UpdateFunctionCode", f"{prefix}shop-prod") is not Decision.ALLOWED


def test_dev_moves_every_new_version_at_once(packaged):
    dev = deploy(packaged.expanded, "dev", {"EnableSnapStart": "false"})
    for function in SNAPSTART_FUNCTIONS:
        _, group = _group(dev, function)
        assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    assert release_problems(dev) == []


def test_a_release_that_cannot_roll_back_or_shifts_at_once_in_prod_is_caught(deployed):
    group, _ = _group(deployed, "APIHandler")
    at_once = deployed.copy()
    at_once.resources[group]["Properties"]["DeploymentConfigName"] = "CodeDeployDefault.LambdaAllAtOnce"
    assert release_problems(at_once) == [
        f"{group}: CodeDeployDefault.LambdaAllAtOnce moves all of APIHandler's traffic at once in prod"]
    blind = deployed.copy()
    blind.resources[group]["Properties"]["AlarmConfiguration"] = {"Enabled": True, "Alarms": [{"Name": "elsewhere"}]}
    assert release_problems(blind) == [f"{group}: rolls back on ['elsewhere'], not alarms of the stack",
                                       f"{group}: none of its alarms watches APIHandler"]
    manual = deployed.copy()
    manual.resources[group]["Properties"]["AutoRollbackConfiguration"] = {"Enabled": False}
    assert release_problems(manual) == [f"{group}: no automatic rollback when an alarm fires"]
    unwatched = deployed.copy()  # the API's alarms only: none watches the function
    unwatched.resources[group]["Properties"]["AlarmConfiguration"]["Alarms"] = [
        {"Name": deployed.stack.refs["Api5xxAlarm"]}]
    assert release_problems(unwatched) == [f"{group}: none of its alarms watches APIHandler"]


def test_an_alias_moved_by_cloudformation_alone_or_a_role_that_cannot_move_it_is_caught(deployed):
    (alias,) = [a for a, g in alias_shifts(deployed).items() if g == _group(deployed, "CreateOrders")[0]]
    bare = deployed.copy()
    del bare.resources[alias]["UpdatePolicy"]
    assert release_problems(bare) == [
        f"{alias}: a new version takes all of CreateOrders's traffic at once, with no rollback"]
    _, properties = _group(deployed, "CreateOrders")
    role = deployed.logical_of(properties["ServiceRoleArn"])
    powerless = deployed.copy()
    for document in powerless.role_policies(role):
        document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "ShiftLiveAliases"]
    problems = release_problems(powerless)
    assert len(problems) == 2 and all("lambda:UpdateAlias" in p for p in problems)


def test_prod_names_exactly_what_only_the_packaged_path_gives(deployed):
    """`chalice deploy` publishes no version: the equivalence check (tools/equivalence.py) names these for prod."""
    from tools.equivalence import packaged_only

    assert packaged_only(deployed) == PACKAGED_ONLY_IN_PROD
