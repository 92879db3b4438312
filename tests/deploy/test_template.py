"""The deployable stack as written: generated files current, structural rules held, lint clean, runtime supported.

The same stack after the SAM transform, with its wiring evaluated as AWS evaluates it, is
test_expanded.py's.
"""
from __future__ import annotations

import datetime
import json
import pathlib
import zipfile

import cfnlint

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA_SERVICES = ("dynamodb:", "sqs:", "events:", "cognito-idp:", "ssm:", "ses:", "secretsmanager:")
RUNTIME_LIFECYCLE = pathlib.Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "LmbdRuntimeLifecycle.json"


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


def test_cfn_lint_and_serverless_rules_pass_the_template_as_written_and_as_expanded(packaged):
    from tools.package import lint

    findings = lint(packaged.out / "template.json", packaged.out / "expanded.json")
    assert findings == [], "\n".join(f"{f['level']} {f['rule']} {f['file']}:{f['line']} {f['message']}"
                                      for f in findings)


def test_lint_fails_a_dead_letter_queue_without_its_reason(tmp_path):
    from tools.merge_template import dead_letter_queue
    from tools.package import lint

    def template(queue: dict) -> pathlib.Path:
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps({"Parameters": {"Stage": {"Type": "String"}}, "Resources": {"OrdersDLQ": queue}}))
        return path

    exempt = dead_letter_queue("OrdersDLQ", "orders-dlq")
    bare = {key: value for key, value in exempt.items() if key != "Metadata"}
    assert exempt["Metadata"]["cfn-lint"]["reasons"]["ES6000"]
    assert [(f["rule"], f["level"]) for f in lint(template(bare))] == [("ES6000", "Error")]
    assert lint(template(exempt)) == []


def test_every_lint_exception_gives_its_reason(packaged):
    for template in (packaged.template, packaged.expanded):
        for logical, resource in template["Resources"].items():
            lint = resource.get("Metadata", {}).get("cfn-lint", {})
            ignored = lint.get("config", {}).get("ignore_checks", [])
            assert sorted(lint.get("reasons", {})) == sorted(ignored), logical
            assert all(len(reason) > 20 for reason in lint.get("reasons", {}).values()), logical


def runtime_problems(runtimes: set[str], today: datetime.date) -> list[str]:
    """Runtimes Lambda deprecates within a year of `today` (cfn-lint's copy of the Lambda runtime lifecycle)."""
    lifecycle = json.loads(RUNTIME_LIFECYCLE.read_text())
    horizon = today + datetime.timedelta(days=365)
    return [f"{runtime} is deprecated on {lifecycle[runtime]['deprecated']}" for runtime in sorted(runtimes)
            if runtime not in lifecycle or datetime.date.fromisoformat(lifecycle[runtime]["deprecated"]) <= horizon]


def test_functions_run_on_arm64_on_a_runtime_supported_for_another_year(packaged):
    functions = [r["Properties"] for r in packaged.expanded["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 8
    assert all(f["Architectures"] == ["arm64"] for f in functions)
    assert runtime_problems({f["Runtime"] for f in functions}, datetime.date.today()) == []


def test_the_runtime_check_refuses_a_runtime_deprecated_within_the_year():
    assert runtime_problems({"python3.11"}, datetime.date(2026, 11, 22)) == [
        "python3.11 is deprecated on 2027-06-30"]
    assert runtime_problems({"python3.13"}, datetime.date(2026, 11, 22)) == []


def test_package_holds_the_runtimes_arm64_builds_of_compiled_dependencies(packaged):
    from tools.package import RUNTIME, foreign_extensions

    assert RUNTIME == "python3.13"
    with zipfile.ZipFile(packaged.zip) as archive:
        names = archive.namelist()
    assert "pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so" in names
    assert "app.py" in names
    assert foreign_extensions(packaged.zip) == []


def _functions(template):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_every_queue_consumer_reports_partial_failures_from_a_queue_with_a_dlq(packaged):
    template = packaged.template
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
    assert consumers == 6  # create_orders, record_audit, erase_users, validate_images, notify, payment_provider


def test_every_rule_is_on_the_shops_bus_with_retries_and_a_dlq(packaged):
    from tools.merge_template import S3_RULES

    template = packaged.template
    bus = {"Ref": "ShopEventBus"}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Events::Rule":
            # S3 announces objects on the account's default bus only: the upload rule listens there.
            assert resource["Properties"].get("EventBusName") == (None if name in S3_RULES else bus), name
            for target in resource["Properties"]["Targets"]:
                assert "DeadLetterConfig" in target and "RetryPolicy" in target, name
    for name, function in _functions(template).items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] in ("CloudWatchEvent", "EventBridgeRule"):
                assert event["Properties"]["EventBusName"] == bus, name
                assert "DeadLetterConfig" in event["Properties"], name


def test_every_function_has_a_log_group_with_retention(packaged):
    template = packaged.template
    groups = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
    for function in _functions(template).values():
        name = function["Properties"]["FunctionName"]["Fn::Sub"]
        assert any(g["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{name}"} and g["RetentionInDays"] for g in groups)


def test_every_dlq_has_an_alarm_and_the_api_has_5xx_and_latency_alarms(packaged):
    template = packaged.template
    resources = template["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    dlqs = [k for k, r in resources.items() if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" not in r["Properties"]]
    for dlq in dlqs:
        assert any(a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                   and a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]} for a in alarms), dlq
    assert {a["MetricName"] for a in alarms} >= {"5XXError", "Latency", "Errors", "Throttles"}


def test_authorizer_is_bound_to_the_stacks_user_pool(packaged):
    template = packaged.template
    security = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["securityDefinitions"]
    assert security["ShopUsers"]["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::GetAtt": ["UserPool", "Arn"]}]


def test_table_is_protected_in_prod(packaged):
    template = packaged.template
    table = template["Resources"]["ShopTable"]
    assert template["Parameters"]["Stage"]["Default"] == "prod"
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert table["DeletionPolicy"] == "Retain"


def test_every_auth_route_and_webhook_of_the_app_is_throttled_on_its_own():
    from app import app
    from tools.merge_template import AUTH_ROUTES, WEBHOOK_ROUTES, method_settings

    routes = {path for path in app.routes if path.startswith("/auth/")}
    assert routes == set(AUTH_ROUTES)
    # Every provider's webhook, and no setting for a route the API lacks (API Gateway refuses the stage then).
    webhooks = {path for path in app.routes if path.startswith("/webhooks/")}
    assert webhooks == set(WEBHOOK_ROUTES)
    paths = {(m["ResourcePath"], m["HttpMethod"]) for m in method_settings()}
    for route in routes | webhooks:
        assert list(app.routes[route]) == ["POST"], route
        assert ("/" + route.replace("/", "~1"), "POST") in paths, route


def test_a_schedule_that_stops_reaching_the_sweeper_raises_an_alarm(packaged):
    """The schedule's target is as bare as `chalice deploy` makes it (no dead-letter queue to keep in step): what
    would show a broken schedule is an alarm on the sweeper not running, which also sees a disabled rule."""
    resources = packaged.template["Resources"]
    stopped = resources["HousekeepingStoppedAlarm"]["Properties"]
    assert (stopped["Namespace"], stopped["MetricName"], stopped["Statistic"]) == ("AWS/Lambda", "Invocations", "Sum")
    assert stopped["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "Housekeeping"}}]
    assert (stopped["ComparisonOperator"], stopped["Threshold"], stopped["TreatMissingData"]) == (
        "LessThanThreshold", 1, "breaching")
    assert stopped["Period"] * stopped["EvaluationPeriods"] == 300  # five ticks of rate(1 minute)
    (schedule,) = [e for e in resources["Housekeeping"]["Properties"]["Events"].values() if e["Type"] == "Schedule"]
    assert schedule["Properties"]["Schedule"] == "rate(1 minute)"
    assert "DeadLetterConfig" not in schedule["Properties"]
