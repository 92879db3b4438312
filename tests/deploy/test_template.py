"""The deployable stack: generated files current, structural rules held, cfn-lint clean."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA_SERVICES = ("dynamodb:", "sqs:", "events:", "cognito-idp:", "ssm:", "ses:")


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """`make package STAGE=prod`, offline-safe: region set, no credentials needed."""
    from tools.package import package

    out = tmp_path_factory.mktemp("dist") / "prod"
    return json.loads(package("prod", out).read_text()), out


def test_merge_template_and_policies_are_current():
    from tools import iam_policies, merge_template

    assert (ROOT / ".chalice" / "resources.json").read_text() == merge_template.render(), "run `make template`"
    for name, text in iam_policies.render().items():
        assert (ROOT / ".chalice" / name).read_text() == text, f"run `make policies` ({name})"


def test_no_wildcard_actions_or_data_resources_in_any_policy():
    for path in (ROOT / ".chalice").glob("policy-*.json"):
        for statement in json.loads(path.read_text())["Statement"]:
            assert not any(action.endswith("*") for action in statement["Action"]), path.name
            if any(action.startswith(DATA_SERVICES) for action in statement["Action"]):
                assert "*" not in statement["Resource"], (path.name, statement["Sid"])


def test_cfn_lint_finds_no_errors(packaged):
    template, out = packaged
    result = subprocess.run([str(pathlib.Path(sys.executable).parent / "cfn-lint"), str(out / "template.json")],
                            capture_output=True, text=True)
    errors = [line for line in result.stdout.splitlines() if line[:1] == "E"]
    assert errors == [], result.stdout


def _functions(template):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_every_queue_consumer_reports_partial_failures_from_a_queue_with_a_dlq(packaged):
    template, _ = packaged
    resources = template["Resources"]
    consumers = 0
    for name, function in _functions(template).items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            consumers += 1
            props = event["Properties"]
            assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
            queue = props["Queue"]["Fn::GetAtt"][0]
            queue_props = resources[queue]["Properties"]
            assert "deadLetterTargetArn" in queue_props["RedrivePolicy"], queue
            timeout = function["Properties"]["Timeout"]
            assert queue_props["VisibilityTimeout"] >= 6 * timeout, (queue, timeout)
    assert consumers == 2


def test_every_rule_is_on_the_shops_bus_with_retries_and_a_dlq(packaged):
    template, _ = packaged
    bus = {"Ref": "ShopEventBus"}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Events::Rule":
            assert resource["Properties"]["EventBusName"] == bus, name
            for target in resource["Properties"]["Targets"]:
                assert "DeadLetterConfig" in target and "RetryPolicy" in target, name
    for name, function in _functions(template).items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] in ("CloudWatchEvent", "EventBridgeRule"):
                assert event["Properties"]["EventBusName"] == bus, name
                assert "DeadLetterConfig" in event["Properties"], name


def test_every_function_has_a_log_group_with_retention(packaged):
    template, _ = packaged
    groups = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
    for function in _functions(template).values():
        name = function["Properties"]["FunctionName"]["Fn::Sub"]
        assert any(g["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{name}"} and g["RetentionInDays"] for g in groups)


def test_every_dlq_has_an_alarm_and_the_api_has_5xx_and_latency_alarms(packaged):
    template, _ = packaged
    resources = template["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    dlqs = [k for k, r in resources.items() if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" not in r["Properties"]]
    for dlq in dlqs:
        assert any(a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                   and a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]} for a in alarms), dlq
    assert {a["MetricName"] for a in alarms} >= {"5XXError", "Latency", "Errors", "Throttles"}


def test_authorizer_is_bound_to_the_stacks_user_pool(packaged):
    template, _ = packaged
    security = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["securityDefinitions"]
    assert security["ShopUsers"]["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::GetAtt": ["UserPool", "Arn"]}]


def test_table_is_protected_in_prod(packaged):
    template, _ = packaged
    table = template["Resources"]["ShopTable"]
    assert template["Parameters"]["Stage"]["Default"] == "prod"
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert table["DeletionPolicy"] == "Retain"
