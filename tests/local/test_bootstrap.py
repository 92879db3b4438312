"""The local stack holds exactly what the merge template declares, resolved for the local stage."""
from __future__ import annotations

import json

import pytest

from local.bootstrap import ACCOUNT_ID, Resolver, Stack, load_template

TEMPLATE = load_template()
LOCAL_TYPES = {"AWS::DynamoDB::Table", "AWS::Events::EventBus", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy",
               "AWS::Events::Rule", "AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient",
               "AWS::Cognito::UserPoolGroup", "AWS::Logs::LogGroup", "AWS::SecretsManager::Secret", "AWS::S3::Bucket"}


def declared(resource_type: str) -> dict[str, dict]:
    return {logical: resource for logical, resource in TEMPLATE["Resources"].items()
            if resource.get("Type") == resource_type}


def local_name(value) -> str:
    return value["Fn::Sub"].replace("${Stage}", "local") if isinstance(value, dict) else value


def test_every_resource_the_emulator_can_hold_is_created(stack):
    expected = {logical for logical, r in TEMPLATE["Resources"].items() if r.get("Type") in LOCAL_TYPES}
    assert set(stack.types) == expected


def test_the_table_has_the_declared_keys_indexes_ttl_and_recovery(stack, client_for):
    ddb = client_for("dynamodb")
    (logical, resource), = declared("AWS::DynamoDB::Table").items()
    props = resource["Properties"]
    table = ddb.describe_table(TableName=stack.refs[logical])["Table"]
    assert table["TableName"] == "shop-local"
    assert table["KeySchema"] == props["KeySchema"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI2", "GSI3"}
    for name, index in indexes.items():
        assert index["KeySchema"] == [{"AttributeName": f"{name}PK", "KeyType": "HASH"},
                                      {"AttributeName": f"{name}SK", "KeyType": "RANGE"}]
        assert index["Projection"]["ProjectionType"] == "ALL"
    ttl = ddb.describe_time_to_live(TableName="shop-local")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiresAt")
    backups = ddb.describe_continuous_backups(TableName="shop-local")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_queues_are_those_declared_and_redrive_to_their_dead_letter_queues(stack, client_for):
    sqs = client_for("sqs")
    queues = declared("AWS::SQS::Queue")
    existing = {url.rsplit("/", 1)[1] for url in sqs.list_queues(QueueNamePrefix="shop-local").get("QueueUrls", [])}
    assert existing == {local_name(q["Properties"]["QueueName"]) for q in queues.values()}
    for logical, resource in queues.items():
        props = resource["Properties"]
        attributes = sqs.get_queue_attributes(QueueUrl=stack.refs[logical], AttributeNames=["All"])["Attributes"]
        for name in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if name in props:
                assert attributes[name] == str(props[name]), (logical, name)
        if "RedrivePolicy" in props:
            redrive = json.loads(attributes["RedrivePolicy"])
            dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert redrive["deadLetterTargetArn"] == stack.attributes[dlq]["Arn"]
            assert int(redrive["maxReceiveCount"]) == props["RedrivePolicy"]["maxReceiveCount"]
            assert "MessageRetentionPeriod" in queues[dlq]["Properties"]  # dead letters are kept (14 days)


def test_bus_rules_route_events_to_their_queues(stack, client_for):
    events, sqs = client_for("events"), client_for("sqs")
    assert events.describe_event_bus(Name="shop-local")["Name"] == "shop-local"
    for logical, resource in declared("AWS::Events::Rule").items():
        props = resource["Properties"]
        bus = "shop-local" if "EventBusName" in props else "default"  # S3's uploads arrive on the default bus
        rule = events.describe_rule(Name=stack.refs[logical], EventBusName=bus)
        pattern = json.loads(json.dumps(props["EventPattern"]).replace('{"Ref": "ImagesBucket"}',
                                                                         json.dumps(stack.refs.get("ImagesBucket"))))
        assert json.loads(rule["EventPattern"]) == pattern
        targets = events.list_targets_by_rule(Rule=stack.refs[logical], EventBusName=bus)["Targets"]
        assert [t["Arn"] for t in targets] == [stack.attributes[t["Arn"]["Fn::GetAtt"][0]]["Arn"]
                                               for t in props["Targets"]]
    orders = stack.refs["OrdersQueue"]
    events.put_events(Entries=[{"EventBusName": "shop-local", "Source": "shop", "DetailType": "CheckoutRequested",
                                "Detail": json.dumps({"id": "evt-1"})}])
    messages = sqs.receive_message(QueueUrl=orders, WaitTimeSeconds=2).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["id"] for m in messages] == ["evt-1"]
    sqs.delete_message(QueueUrl=orders, ReceiptHandle=messages[0]["ReceiptHandle"])


def test_user_pool_signs_in_by_email_with_the_declared_policy_and_admin_group(stack, client_for):
    idp = client_for("cognito-idp")
    summary = stack.summary()
    pool = idp.describe_user_pool(UserPoolId=summary["user_pool_id"])["UserPool"]
    declared_pool = next(iter(declared("AWS::Cognito::UserPool").values()))["Properties"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 8
    for rule in ("RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols"):
        assert pool["Policies"]["PasswordPolicy"][rule] == declared_pool["Policies"]["PasswordPolicy"][rule]
    app_client = idp.describe_user_pool_client(UserPoolId=pool["Id"],
                                               ClientId=summary["user_pool_client_id"])["UserPoolClient"]
    assert "ClientSecret" not in app_client
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"} <= set(app_client["ExplicitAuthFlows"])
    groups = [g["GroupName"] for g in idp.list_groups(UserPoolId=pool["Id"])["Groups"]]
    assert groups == ["admin"]
    assert pool["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"] == ["email"]
    assert pool["MfaConfiguration"] == "OPTIONAL"


def test_the_cursor_key_is_a_generated_secret_and_the_web_acl_stays_in_aws(stack, client_for):
    resource = declared("AWS::SecretsManager::Secret")["CursorKey"]
    value = client_for("secretsmanager").get_secret_value(SecretId="shop-local-cursor-key")
    assert value["ARN"] == stack.refs["CursorKey"]
    assert len(value["SecretString"]) == resource["Properties"]["GenerateSecretString"]["PasswordLength"]
    assert not {kind for kind in stack.types.values() if kind.startswith("AWS::WAFv2::")}


def test_a_secret_generated_from_a_template_is_that_json_with_the_generated_key_as_cloudformation_makes_it(
        stack, client_for):
    generate = declared("AWS::SecretsManager::Secret")["StripeSecret"]["Properties"]["GenerateSecretString"]
    value = client_for("secretsmanager").get_secret_value(SecretId="shop/local/stripe")
    assert value["ARN"] == stack.refs["StripeSecret"]
    stored = json.loads(value["SecretString"])
    assert stored["secretKey"] == "" and len(stored["webhookSecret"]) == generate["PasswordLength"]
    assert set(stored) == {*json.loads(generate["SecretStringTemplate"]), generate["GenerateStringKey"]}


def test_summary_names_what_the_app_needs(stack):
    summary = stack.summary()
    assert summary["table_name"] == summary["event_bus_name"] == "shop-local"
    assert summary["user_pool_id"].startswith("us-east-1_")
    assert set(summary["queue_urls"]) == set(declared("AWS::SQS::Queue"))


@pytest.fixture
def resolver():
    template = {"Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
                "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}}}
    stack = Stack(refs={"Queue": "http://q"}, attributes={"Queue": {"Arn": "arn:q"}})
    return Resolver(template, stack, {"Stage": "local"}, "us-east-1")


def test_resolver_evaluates_the_intrinsics_of_the_template(resolver):
    assert resolver.resolve({"Fn::Sub": "shop-${Stage}-${AWS::Region}"}) == "shop-local-us-east-1"
    assert resolver.resolve({"Fn::Sub": ["${Q}/x", {"Q": {"Ref": "Queue"}}]}) == "http://q/x"
    assert resolver.resolve({"Fn::Sub": "${Queue.Arn}"}) == "arn:q"
    assert resolver.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:q"
    assert resolver.resolve({"Fn::Join": ["/", ["a", {"Ref": "Stage"}]]}) == "a/local"
    assert resolver.resolve({"Fn::If": ["IsProd", 90, 14]}) == 14
    assert resolver.resolve({"Fn::Sub": "${AWS::AccountId}"}) == ACCOUNT_ID


def test_resolver_says_what_is_not_created_yet(resolver):
    from local.bootstrap import Unresolved

    with pytest.raises(Unresolved):
        resolver.resolve({"Ref": "Later"})


def test_creation_follows_references_not_declaration_order(emulator, session):
    from local.bootstrap import bootstrap

    template = {"Conditions": {"Never": {"Fn::Equals": ["a", "b"]}}, "Resources": {
        "Work": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": {"Fn::Sub": "order-${Stage}"},
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dead", "Arn"]}, "maxReceiveCount": 2}}},
        "Dead": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "order-${Stage}-dlq"}}},
        "Skipped": {"Type": "AWS::SQS::Queue", "Condition": "Never", "Properties": {"QueueName": "never"}},
        "AwsOnly": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": "x"}},
        "APIHandler": {"Properties": {"Environment": {"Variables": {"X": {"Ref": "Work"}}}}}}}
    summary = bootstrap("local", emulator.url, session=session, template=template)
    assert set(summary["queue_urls"]) == {"Work", "Dead"}
    assert summary["queue_urls"]["Work"].endswith("/order-local")
