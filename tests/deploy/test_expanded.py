"""The prod stack after the SAM transform, wired as AWS will evaluate it: logs, failures, queues, IAM, alarms, edge.

Every intrinsic is resolved against physical ids and ARNs named as AWS names them
(tools/template_checks.py, which `make package` runs too), and roles are evaluated with the local
stack's IAM evaluator. Each check is also shown failing on a copy broken the way a template gets broken.
"""
from __future__ import annotations

import json

import pytest

from local.iam import Need
from tools.template_checks import (
    CHECKS,
    READERS,
    REGION,
    Deployed,
    access_log_format,
    admitted_sources,
    alarm_delivery_problems,
    consumer_problems,
    dependencies,
    deploy,
    failure_destinations,
    failure_problems,
    key_problems,
    log_group_of,
    log_problems,
    own_resources,
    queue_admission_problems,
    rule_deliveries,
    scope_problems,
    stored_setting_problems,
    stored_settings,
)


@pytest.fixture(scope="module")
def deployed(packaged) -> Deployed:
    return deploy(packaged.expanded, "prod")


def _drop_statement(deployed: Deployed, role: str, sid: str) -> Deployed:
    broken = deployed.copy()
    for document in broken.role_policies(role):
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
    return broken


def test_every_function_writes_to_its_own_log_group_with_retention(deployed):
    functions = deployed.of_type("AWS::Lambda::Function")
    assert log_group_of(deployed, "APIHandler") == "/aws/lambda/shop-prod"
    assert {log_group_of(deployed, f) for f in functions} == {
        "/aws/lambda/shop-prod", *(f"/aws/lambda/shop-prod-{name}" for name in
                                   ("create_orders", "record_audit", "erase_users", "notify", "housekeeping",
                                    "validate_images", "payment_provider"))}
    assert log_problems(deployed) == []


def test_a_role_without_its_log_statement_is_caught(deployed):
    broken = _drop_statement(deployed, deployed.function_role("APIHandler"), "Logs")
    problems = log_problems(broken)
    assert len(problems) == 2 and all(p.startswith("APIHandler (ApiHandlerRole): logs:") for p in problems)


def test_failed_invocations_reach_their_queues(deployed):
    destinations = failure_destinations(deployed)
    assert destinations == {"Housekeeping": {deployed.arn("HousekeepingDLQ")}}  # the one asynchronous consumer
    assert failure_problems(deployed) == []
    broken = _drop_statement(deployed, deployed.function_role("Housekeeping"), "FailedInvocations")
    assert [p.split(":")[0] for p in failure_problems(broken)] == ["Housekeeping (HousekeepingRole)"]


def test_every_queue_consumer_may_receive_delete_and_read_its_queue(deployed):
    sources = {m["Properties"]["EventSourceArn"] for m in deployed.of_type("AWS::Lambda::EventSourceMapping").values()}
    assert sources == {deployed.arn("OrdersQueue"), deployed.arn("AuditQueue"), deployed.arn("ErasuresQueue"),
                       deployed.arn("ImagesQueue"), deployed.arn("NotifyQueue"), deployed.arn("PaymentsQueue")}
    assert consumer_problems(deployed) == []
    broken = _drop_statement(deployed, deployed.function_role("CreateOrders"), "ConsumeQueue")
    assert len(consumer_problems(broken)) == 3


def test_every_rules_queue_admits_exactly_the_rules_that_use_it(deployed):
    users = rule_deliveries(deployed)
    every_rule = {deployed.arn(r) for r in deployed.of_type("AWS::Events::Rule")}
    # five of ours on the shop's bus, S3's uploads on the default bus, and what SAM makes of the schedule, whose
    # target (the sweeper) is as bare as `chalice deploy` makes it
    assert len(every_rule) == 7
    assert users["EventsDLQ"] == every_rule - {deployed.arn("HousekeepingHousekeepingEvent")}
    assert users["OrdersQueue"] == {deployed.arn("CheckoutRequestedRule")}
    assert users["AuditQueue"] == {deployed.arn("AuditRule")}
    assert users["PaymentsQueue"] == {deployed.arn("PaymentsRule")}
    assert users["ErasuresQueue"] == {deployed.arn("UserErasedRule")}
    assert users["NotifyQueue"] == {deployed.arn("NotifyRule")}
    assert users["ImagesQueue"] == {deployed.arn("ImageUploadedRule")}
    assert queue_admission_problems(deployed) == []


def test_a_queue_admitting_another_rule_or_forgetting_one_is_caught(deployed):
    broken = deployed.copy()
    orders = broken.resources["OrdersQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    orders["Condition"]["ArnEquals"]["aws:SourceArn"].append(deployed.arn("AuditRule"))
    events_dlq = broken.resources["EventsDLQPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    notifier = deployed.arn("NotifyRule")
    events_dlq["Condition"]["ArnEquals"]["aws:SourceArn"].remove(notifier)
    events_problem, orders_problem = sorted(queue_admission_problems(broken))
    assert orders_problem.startswith("OrdersQueue: admits ['" + deployed.arn("AuditRule"))
    assert events_problem.startswith("EventsDLQ: admits [] that do not use it, refuses ['" + notifier)


def test_one_policy_for_two_queues_is_caught(deployed):
    broken = deployed.copy()
    shared = broken.resources["OrdersQueuePolicy"]["Properties"]
    shared["Queues"].append(broken.stack.refs["AuditQueue"])
    assert any(p.startswith("AuditQueue: 2 queue policies") for p in queue_admission_problems(broken))


def test_undelivered_alarm_emails_are_kept_and_only_the_topic_may_park_them(deployed):
    subscription = deployed.resources["AlarmEmailSubscription"]["Properties"]
    assert subscription["RedrivePolicy"]["deadLetterTargetArn"] == deployed.arn("AlarmsDLQ")
    assert admitted_sources(deployed, "AlarmsDLQ", "sns.amazonaws.com") == {deployed.stack.refs["AlarmTopic"]}


def test_function_roles_name_only_the_stacks_own_resources(deployed):
    from tools.iam_policies import UNSCOPED_ACTIONS

    owned = own_resources(deployed)
    assert f"arn:aws:ssm:{REGION}:123456789012:parameter/shop/prod/payment-webhook-secret" in owned  # from the env
    assert scope_problems(deployed, owned, UNSCOPED_ACTIONS) == []
    broken = deployed.copy()
    broken.role_policies("NotifyRole")[0]["Statement"].append(
        {"Sid": "Wide", "Effect": "Allow", "Action": ["sqs:SendMessage", "xray:PutTraceSegments"],
         "Resource": [f"arn:aws:sqs:{REGION}:123456789012:*", "*"]})
    assert scope_problems(broken, owned, UNSCOPED_ACTIONS) == [
        f"NotifyRole/Wide: arn:aws:sqs:{REGION}:123456789012:* is not the stack's own",
        "NotifyRole/Wide: ['sqs:SendMessage'] on *"]


def test_the_api_gateway_logging_role_is_the_only_role_with_a_managed_policy(deployed):
    roles = {logical: r["Properties"] for logical, r in deployed.of_type("AWS::IAM::Role").items()
             if r["Properties"].get("ManagedPolicyArns")}
    assert roles.keys() == {"ApiGatewayCloudWatchRole"}
    role = roles["ApiGatewayCloudWatchRole"]
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"]
    assert [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]] == [
        {"Service": "apigateway.amazonaws.com"}]
    account = deployed.resources["ApiGatewayAccount"]["Properties"]
    assert account["CloudWatchRoleArn"] == deployed.arn("ApiGatewayCloudWatchRole")


def test_cloudwatch_may_publish_every_alarm_to_its_encrypted_topic(deployed):
    alarms = deployed.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 15
    assert alarm_delivery_problems(deployed) == []
    assert key_problems(deployed) == []


def test_a_topic_under_the_aws_managed_key_or_a_key_without_cloudwatch_is_caught(deployed):
    managed = deployed.copy()
    managed.resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    assert any("encrypted with alias/aws/sns" in p for p in alarm_delivery_problems(managed))
    closed = deployed.copy()
    policy = closed.resources["AlarmTopicKey"]["Properties"]["KeyPolicy"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "AlarmsPublish"]
    assert any("does not let CloudWatch kms:GenerateDataKey" in p for p in alarm_delivery_problems(closed))
    elsewhere = deployed.copy()
    topic_policy = elsewhere.resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    topic_policy["Condition"]["StringEquals"]["aws:SourceAccount"] = "210987654321"
    assert any("does not let CloudWatch publish" in p for p in alarm_delivery_problems(elsewhere))
    unrotated = deployed.copy()
    unrotated.resources["AlarmTopicKey"]["Properties"]["EnableKeyRotation"] = False
    assert key_problems(unrotated) == ["AlarmTopicKey: rotation off"]


def test_the_stage_logs_json_access_logs_throttles_and_traces(deployed, packaged):
    (stage, resource), = deployed.of_type("AWS::ApiGateway::Stage").items()
    properties = resource["Properties"]
    group = deployed.logical_of(properties["AccessLogSetting"]["DestinationArn"])
    assert deployed.resources[group]["Properties"]["RetentionInDays"] == 90
    fields = access_log_format(deployed, stage)
    assert fields["requestId"] == "$context.requestId" and fields["status"] == "$context.status"
    defaults = {name: spec["Default"] for name, spec in packaged.expanded["Parameters"].items()}
    (throttling,) = [m for m in properties["MethodSettings"] if (m["ResourcePath"], m["HttpMethod"]) == ("/*", "*")]
    assert (throttling["ThrottlingRateLimit"], throttling["ThrottlingBurstLimit"]) == (
        defaults["ApiThrottlingRateLimit"], defaults["ApiThrottlingBurstLimit"])
    assert properties["TracingEnabled"] is True  # prod traces (config.json's xray)


def test_the_stage_waits_for_the_accounts_logging_role_when_the_stack_sets_it(packaged):
    (stage,) = [k for k, r in packaged.expanded["Resources"].items() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert "ApiGatewayAccount" in dependencies(packaged.expanded, stage)
    without = deploy(packaged.expanded, "prod", {"CreateApiGatewayAccountRole": "false"})
    assert not without.of_type("AWS::ApiGateway::Account") and "ApiGatewayCloudWatchRole" not in without.resources
    assert without.of_type("AWS::ApiGateway::Stage")


def test_gateway_responses_live_in_the_api_definition(packaged):
    resources = packaged.expanded["Resources"]
    assert not [k for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::GatewayResponse"]
    responses = resources["RestAPI"]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    body = json.loads(responses["UNAUTHORIZED"]["responseTemplates"]["application/json"]
                      .replace("$context.error.messageString", '"m"').replace("$context.requestId", "r"))
    assert body == {"error": {"code": "UNAUTHORIZED", "message": "m"}, "requestId": "r"}


def test_no_origin_is_allowed_unless_the_stack_is_given_one_and_every_gateway_answer_says_nosniff(packaged):
    def edge(deployed: Deployed) -> tuple[set, list]:
        responses = deployed.resources["RestAPI"]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
        assert all(r["responseParameters"]["gatewayresponse.header.X-Content-Type-Options"] == "'nosniff'"
                   for r in responses.values())
        origins = {r["responseParameters"].get("gatewayresponse.header.Access-Control-Allow-Origin")
                   for r in responses.values()}
        bucket = deployed.resources["ImagesBucket"]["Properties"]
        return origins, [rule["AllowedOrigins"] for rule in bucket.get("CorsConfiguration", {}).get("CorsRules", [])]

    assert edge(deploy(packaged.expanded, "prod")) == ({None}, [])
    assert edge(deploy(packaged.expanded, "prod", {"AllowedOrigin": "https://shop.example.com"})) == (
        {"'https://shop.example.com'"}, [["https://shop.example.com"]])


# --- the edge: throttling per route, WAF, reserved concurrency, the user pool, the cursor key ----------

def _stage(deployed: Deployed) -> tuple[str, dict]:
    (stage, resource), = deployed.of_type("AWS::ApiGateway::Stage").items()
    return stage, resource["Properties"]


def test_the_sign_in_routes_and_the_webhook_are_throttled_tighter_than_the_stage(deployed, packaged):
    from tools.merge_template import AUTH_ROUTES

    defaults = {name: spec["Default"] for name, spec in packaged.expanded["Parameters"].items()}
    _, properties = _stage(deployed)
    limits = {(m["ResourcePath"], m["HttpMethod"]): (m["ThrottlingRateLimit"], m["ThrottlingBurstLimit"])
              for m in properties["MethodSettings"]}
    auth = (defaults["AuthThrottlingRateLimit"], defaults["AuthThrottlingBurstLimit"])
    for route in ("login", "mfa", "register", "confirm", "refresh", "forgot-password", "reset-password"):
        assert limits[(f"/~1auth~1{route}", "POST")] == auth, route
    assert len(AUTH_ROUTES) == 7
    assert limits[("/~1webhooks~1payments", "POST")] == (
        defaults["WebhookThrottlingRateLimit"], defaults["WebhookThrottlingBurstLimit"])
    stage_wide = limits[("/*", "*")]
    assert all(rate < stage_wide[0] and burst < stage_wide[1] for path, (rate, burst) in limits.items()
               if path != ("/*", "*"))
    # One address's whole WAF budget on /auth/* never empties a sign-in route's bucket for everyone else.
    assert defaults["WafAuthRateLimit"] < defaults["AuthThrottlingBurstLimit"]


def test_the_access_log_names_request_caller_address_route_status_and_latency(deployed):
    stage, properties = _stage(deployed)
    fields = access_log_format(deployed, stage)
    assert {fields[k] for k in ("requestId", "user", "ip", "httpMethod", "resourcePath", "status",
                                "responseLatency")} == {
        "$context.requestId", "$context.authorizer.claims.sub", "$context.identity.sourceIp",
        "$context.httpMethod", "$context.resourcePath", "$context.status", "$context.responseLatency"}
    group = deployed.logical_of(properties["AccessLogSetting"]["DestinationArn"])
    assert deployed.resources[group]["Properties"]["RetentionInDays"] == 90


def test_the_web_acl_guards_the_real_stage_with_a_rate_rule_and_the_managed_groups(deployed):
    stage, properties = _stage(deployed)
    association = deployed.resources["WebAclAssociation"]["Properties"]
    api = deployed.stack.refs["RestAPI"]
    assert association["ResourceArn"] == f"arn:aws:apigateway:{REGION}::/restapis/{api}/stages/{properties['StageName']}"
    assert properties["RestApiId"] == api
    assert association["WebACLArn"] == deployed.arn("WebAcl")
    acl = deployed.resources["WebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert [r["Name"] for r in sorted(acl["Rules"], key=lambda r: r["Priority"])] == [
        "AuthRatePerIp", "RatePerIp", "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
    for name, limit in (("AuthRatePerIp", "WafAuthRateLimit"), ("RatePerIp", "WafRateLimit")):
        rate = rules[name]
        assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
        assert rate["Statement"]["RateBasedStatement"]["Limit"] == deployed.parameters[limit]
        blocked = rate["Action"]["Block"]["CustomResponse"]
        assert blocked["ResponseCode"] == 429
        assert {"Name": "X-Content-Type-Options", "Value": "nosniff"} in blocked["ResponseHeaders"]
        body = json.loads(acl["CustomResponseBodies"][blocked["CustomResponseBodyKey"]]["Content"])
        assert body == {"error": {"code": "TOO_MANY_REQUESTS", "message": body["error"]["message"]},
                        "requestId": None}
    # The sign-in routes' budget per address: only their paths (with the stage's name in front or not).
    scope = rules["AuthRatePerIp"]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["RegexMatchStatement"]
    assert scope["FieldToMatch"] == {"UriPath": {}}
    import re

    assert all(re.search(scope["RegexString"], path) for path in ("/api/auth/login", "/auth/mfa"))
    assert not any(re.search(scope["RegexString"], path) for path in ("/api/products", "/me/mfa", "/api/me/mfa"))
    for name in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        group = dict(rules[name]["Statement"]["ManagedRuleGroupStatement"])
        overrides = group.pop("RuleActionOverrides", [])
        assert group == {"VendorName": "AWS", "Name": name}
        assert rules[name]["OverrideAction"] == {"None": {}}
        # Only the common set's 8 KB body rule is overridden, to count: bodies up to the app's 64 KB reach it,
        # and a larger one gets the app's 413, not WAF's plain 403.
        expected = ([{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
                    if name == "AWSManagedRulesCommonRuleSet" else [])
        assert overrides == expected, (name, overrides)
    for visibility in [acl["VisibilityConfig"]] + [r["VisibilityConfig"] for r in acl["Rules"]]:
        assert visibility["CloudWatchMetricsEnabled"] and visibility["SampledRequestsEnabled"]


def test_the_association_waits_for_the_stage_it_guards(packaged):
    (stage,) = [k for k, r in packaged.expanded["Resources"].items() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert {stage, "WebAcl"} <= dependencies(packaged.expanded, "WebAclAssociation")


def test_without_waf_and_reserved_concurrency_as_dev_runs_the_stack_still_resolves(packaged):
    dev = deploy(packaged.expanded, "dev", {"EnableWaf": "false", "ApiReservedConcurrency": 0})
    assert not dev.of_type("AWS::WAFv2::WebACL") and not dev.of_type("AWS::WAFv2::WebACLAssociation")
    assert "ReservedConcurrentExecutions" not in dev.resources["APIHandler"]["Properties"]
    assert dev.of_type("AWS::ApiGateway::Stage")


def test_dev_packages_without_the_web_acl_by_default(packaged):
    import copy

    from tools.package import stage_defaults

    dev = stage_defaults(copy.deepcopy(packaged.template), "dev")
    assert dev["Parameters"]["EnableWaf"]["Default"] == "false"
    assert packaged.template["Parameters"]["EnableWaf"]["Default"] == "true"
    assert not deploy(packaged.expanded, "dev", {"EnableWaf": "false"}).of_type("AWS::WAFv2::WebACL")


def test_the_api_function_has_reserved_concurrency_and_the_order_pipeline_keeps_the_rest(deployed):
    functions = {logical: r["Properties"] for logical, r in deployed.of_type("AWS::Lambda::Function").items()}
    assert functions["APIHandler"]["ReservedConcurrentExecutions"] == deployed.parameters["ApiReservedConcurrency"]
    assert deployed.parameters["ApiReservedConcurrency"] == 100
    assert "ReservedConcurrentExecutions" not in functions["CreateOrders"]


def test_the_user_pool_verifies_new_emails_offers_totp_and_threat_protection_is_a_parameter(deployed, packaged):
    pool = deployed.resources["UserPool"]["Properties"]
    assert pool["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": ["email"]}
    assert "email" in pool["AutoVerifiedAttributes"]
    assert (pool["MfaConfiguration"], pool["EnabledMfas"]) == ("OPTIONAL", ["SOFTWARE_TOKEN_MFA"])
    assert "UserPoolAddOns" not in pool and "UserPoolTier" not in pool  # default: OFF, no Plus plan
    audited = deploy(packaged.expanded, "prod", {"ThreatProtectionMode": "AUDIT"}).resources["UserPool"]["Properties"]
    assert audited["UserPoolAddOns"] == {"AdvancedSecurityMode": "AUDIT"} and audited["UserPoolTier"] == "PLUS"


def test_the_app_client_anyone_may_call_directly_writes_no_attribute_but_the_verified_email(deployed):
    client = deployed.resources["UserPoolClient"]["Properties"]
    assert client["WriteAttributes"] == ["email"]  # no name (or anything else) reaches the pool unchecked
    assert client["PreventUserExistenceErrors"] == "ENABLED" and client["GenerateSecret"] is False
    assert deployed.resources["UserPool"]["Properties"]["UserAttributeUpdateSettings"] == {
        "AttributesRequireVerificationBeforeUpdate": ["email"]}


def test_only_the_functions_that_page_may_read_the_cursor_key(deployed):
    secret = deployed.stack.refs["CursorKey"]
    assert deployed.resources["CursorKey"]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    for function in deployed.of_type("AWS::Lambda::Function"):
        assert stored_settings(deployed, function)["CURSOR_KEY_SECRET"] == Need("secretsmanager:GetSecretValue",
                                                                                (secret,))
    assert READERS["CURSOR_KEY_SECRET"] == {"api_handler", "housekeeping"}
    assert stored_setting_problems(deployed) == []
    broken = deployed.copy()
    broken.role_policies("NotifyRole")[0]["Statement"].append(
        {"Sid": "CursorKey", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret})
    assert stored_setting_problems(broken) == [
        f"NotifyRole/CursorKey: ['secretsmanager:GetSecretValue'] on ['{secret}'], which no setting Notify reads names"]
    forgotten = _drop_statement(deployed, "HousekeepingRole", "CursorKey")
    assert [p.split(":")[0] for p in stored_setting_problems(forgotten)] == ["Housekeeping (HousekeepingRole)"]


def test_only_the_api_and_the_payment_provider_are_given_and_may_read_the_stripe_keys(deployed):
    secret = deployed.stack.refs["StripeSecret"]
    given = {f for f in deployed.of_type("AWS::Lambda::Function") if "STRIPE_SECRET" in stored_settings(deployed, f)}
    assert given == {"APIHandler", "PaymentProvider"}
    for function in given:
        assert stored_settings(deployed, function)["STRIPE_SECRET"] == Need("secretsmanager:GetSecretValue", (secret,))
    assert READERS["STRIPE_SECRET"] == {"api_handler", "payment_provider"}
    assert stored_setting_problems(deployed) == []
    # A role allowed to read the keys whose function has no setting naming them
    broken = deployed.copy()
    broken.role_policies("NotifyRole")[0]["Statement"].append(
        {"Sid": "StripeSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret})
    assert stored_setting_problems(broken) == [
        f"NotifyRole/StripeSecret: ['secretsmanager:GetSecretValue'] on ['{secret}'], which no setting Notify reads names"]
    # A function that reads the keys and may not
    for function, role in (("PaymentProvider", "PaymentProviderRole"), ("APIHandler", "ApiHandlerRole")):
        forgotten = _drop_statement(deployed, role, "StripeSecret")
        assert [p.split(":")[0] for p in stored_setting_problems(forgotten)] == [f"{function} ({role})"]
    # The setting given to a function that does not read it (even with no grant to read it)
    spread = deployed.copy()
    spread.resources["Housekeeping"]["Properties"]["Environment"]["Variables"]["STRIPE_SECRET"] = secret
    assert stored_setting_problems(spread) == [
        "Housekeeping: STRIPE_SECRET is given to a function that does not read it (tools/template_checks.py READERS)"]


def test_the_stripe_secret_is_created_holding_no_working_key(deployed):
    """Operators put the account's keys in after the first deploy; until then the API refuses to take payments, and no
    event can be signed with a webhook secret nobody knows."""
    resource = deployed.resources["StripeSecret"]
    assert resource["Properties"]["Name"] == "shop/prod/stripe"
    generated = resource["Properties"]["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {"secretKey": ""}
    assert generated["GenerateStringKey"] == "webhookSecret" and generated["PasswordLength"] >= 32
    assert "SecretString" not in resource["Properties"]


def test_the_api_reads_exactly_the_webhook_parameter_its_environment_names(deployed):
    """Only prod and dev read it from SSM (the local stack has a plain setting): checked here, not exercised."""
    parameter = f"arn:aws:ssm:{REGION}:123456789012:parameter/shop/prod/payment-webhook-secret"
    assert stored_settings(deployed, "APIHandler")["PAYMENT_WEBHOOK_SECRET_PARAMETER"] == Need("ssm:GetParameter",
                                                                                              (parameter,))
    assert stored_setting_problems(deployed) == []
    dropped = _drop_statement(deployed, "ApiHandlerRole", "WebhookSecret")
    assert stored_setting_problems(dropped) == [
        (f"APIHandler (ApiHandlerRole): ssm:GetParameter on {parameter}: no identity-based policy allows the action"
         " (what its PAYMENT_WEBHOOK_SECRET_PARAMETER names)")]
    widened = deployed.copy()
    (statement,) = [s for d in widened.role_policies("ApiHandlerRole") for s in d["Statement"]
                    if s.get("Sid") == "WebhookSecret"]
    statement["Resource"] = [f"arn:aws:ssm:{REGION}:123456789012:parameter/shop/*"]
    assert stored_setting_problems(widened) == [
        (f"ApiHandlerRole/WebhookSecret: ['ssm:GetParameter'] on ['arn:aws:ssm:{REGION}:123456789012:parameter/shop/*'],"
         " which no setting APIHandler reads names")]
    renamed = deployed.copy()  # the stage names another parameter; the policy was not regenerated
    renamed.resources["APIHandler"]["Properties"]["Environment"]["Variables"][
        "PAYMENT_WEBHOOK_SECRET_PARAMETER"] = "/shop/prod/webhook-secret"
    assert len(stored_setting_problems(renamed)) == 2
    undeclared = deployed.copy()
    undeclared.resources["Notify"]["Properties"]["Environment"]["Variables"]["SMTP_SECRET"] = "shop/prod/smtp"
    assert stored_setting_problems(undeclared) == [
        ("Notify: SMTP_SECRET names a stored setting that no function is said to read "
         "(tools/template_checks.py READERS)")]


def test_package_fails_on_any_structural_finding_and_names_it(packaged, tmp_path, monkeypatch, capsys):
    import tools.package

    expanded = json.loads(json.dumps(packaged.expanded))  # the API's role without its WebhookSecret statement
    expanded["Resources"]["ApiHandlerRole"]["Properties"]["Policies"] = [
        {**p, "PolicyDocument": {**p["PolicyDocument"], "Statement": [
            s for s in p["PolicyDocument"]["Statement"] if s.get("Sid") != "WebhookSecret"]}}
        for p in packaged.expanded["Resources"]["ApiHandlerRole"]["Properties"]["Policies"]]
    (tmp_path / "template.json").write_text(json.dumps(packaged.template))
    (tmp_path / "expanded.json").write_text(json.dumps(expanded))
    monkeypatch.setattr(tools.package, "package", lambda stage, out: tmp_path / "template.json")
    monkeypatch.setattr(tools.package, "lint", lambda *paths: [])  # linted by the test above; here the checks
    monkeypatch.setattr("sys.argv", ["package", "--stage", "prod"])
    with pytest.raises(SystemExit) as exit_:
        tools.package.main()
    assert exit_.value.code == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("Error structural stored settings: APIHandler (ApiHandlerRole): ssm:GetParameter")
    assert lines[-1] == f"structural checks: {len(CHECKS) - 1} passed, 1 failed (1 finding)"
    (tmp_path / "expanded.json").write_text(json.dumps(packaged.expanded))
    tools.package.main()  # no finding: no exit
    assert capsys.readouterr().out.splitlines()[-1] == f"structural checks: {len(CHECKS)} passed"


def test_only_the_erasure_and_the_registration_delete_logins_and_only_from_the_stacks_pool(deployed):
    """The erasure deletes an erased person's login; the API an unconfirmed sign-up a newer registration replaces."""
    from local.iam import Decision, evaluate

    pool, foreign = deployed.arn("UserPool"), f"arn:aws:cognito-idp:{REGION}:123456789012:userpool/{REGION}_other"
    deleters = {function for function in deployed.of_type("AWS::Lambda::Function")
                if evaluate(deployed.role_policies(deployed.function_role(function)), "cognito-idp:AdminDeleteUser",
                            pool) is Decision.ALLOWED}
    assert deleters == {"EraseUsers", "APIHandler"}
    for function in deleters:
        role = deployed.role_policies(deployed.function_role(function))
        assert evaluate(role, "cognito-idp:AdminDeleteUser", foreign) is not Decision.ALLOWED
    eraser = deployed.role_policies(deployed.function_role("EraseUsers"))
    # It continues an erasure on its own queue, and may send nowhere else.
    assert evaluate(eraser, "sqs:SendMessage", deployed.arn("ErasuresQueue")) is Decision.ALLOWED
    assert evaluate(eraser, "sqs:SendMessage", deployed.arn("OrdersQueue")) is not Decision.ALLOWED
    assert evaluate(eraser, "events:PutEvents", deployed.arn("ShopEventBus")) is not Decision.ALLOWED
    queue = deployed.resources["ErasuresQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == deployed.arn("ErasuresDLQ")
    # SQS hides a message for longer than the function may run, so a slow erasure is never run twice at once.
    assert queue["VisibilityTimeout"] >= 6 * deployed.resources["EraseUsers"]["Properties"]["Timeout"]
