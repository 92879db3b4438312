"""IAM as AWS evaluates it: which permissions a call needs, and what a policy grants."""
from __future__ import annotations

import pytest

from local.iam import Decision, Need, decide, evaluate, is_public, required

TABLE = "arn:aws:dynamodb:eu-west-1:111122223333:table/shop-prod"


def allow(actions, resources, **extra):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources,
                                                    **extra}]}


def deny(actions, resources):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": actions, "Resource": resources}]}


def needs(service, operation, params, fallback="*"):
    return required(service, operation, params, region="eu-west-1", account="111122223333",
                    fallback_resource=fallback)


# --- evaluation ---------------------------------------------------------------------------

def test_nothing_is_allowed_without_an_allow():
    assert evaluate([], "dynamodb:GetItem", TABLE) is Decision.IMPLICIT_DENY
    assert evaluate([allow("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:111122223333:table/other")],
                    "dynamodb:GetItem", TABLE) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_beats_any_allow_in_any_policy():
    policies = [allow("dynamodb:*", "*"), deny(["dynamodb:DeleteItem"], TABLE)]
    assert evaluate(policies, "dynamodb:GetItem", TABLE) is Decision.ALLOWED
    assert evaluate(policies, "dynamodb:DeleteItem", TABLE) is Decision.EXPLICIT_DENY


def test_actions_match_case_insensitively_with_both_wildcards():
    assert evaluate([allow("DynamoDB:getitem", TABLE)], "dynamodb:GetItem", TABLE) is Decision.ALLOWED
    assert evaluate([allow("dynamodb:Get*", TABLE)], "dynamodb:GetItem", TABLE) is Decision.ALLOWED
    assert evaluate([allow("dynamodb:?etItem", TABLE)], "dynamodb:GetItem", TABLE) is Decision.ALLOWED
    assert evaluate([allow("dynamodb:Get*", TABLE)], "dynamodb:BatchGetItem", TABLE) is Decision.IMPLICIT_DENY


def test_resources_match_case_sensitively_and_per_arn_segment():
    assert evaluate([allow("dynamodb:Query", TABLE.upper())], "dynamodb:Query", TABLE) is Decision.IMPLICIT_DENY
    # a table's grant does not cover its indexes; `table/shop-prod*` does (the resource part may hold '/')
    assert evaluate([allow("dynamodb:Query", TABLE)], "dynamodb:Query", f"{TABLE}/index/GSI1") \
        is Decision.IMPLICIT_DENY
    assert evaluate([allow("dynamodb:Query", TABLE + "*")], "dynamodb:Query", f"{TABLE}/index/GSI1") \
        is Decision.ALLOWED
    # a wildcard region stays within the region segment
    wildcard_region = "arn:aws:dynamodb:*:111122223333:table/shop-prod"
    assert evaluate([allow("dynamodb:Query", wildcard_region)], "dynamodb:Query", TABLE) is Decision.ALLOWED
    assert evaluate([allow("dynamodb:Query", "arn:aws:dynamodb:*:table/shop-prod")], "dynamodb:Query", TABLE) \
        is Decision.IMPLICIT_DENY
    # characters that mean something to regular expressions mean nothing here
    assert evaluate([allow("logs:PutLogEvents", "arn:aws:logs:eu-west-1:111122223333:log-group:/a.b:*")],
                    "logs:PutLogEvents", "arn:aws:logs:eu-west-1:111122223333:log-group:/aXb:log-stream:s") \
        is Decision.IMPLICIT_DENY


def test_not_action_and_not_resource_invert_the_match():
    everything_but_delete = {"Statement": [{"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": "*"}]}
    assert evaluate([everything_but_delete], "dynamodb:PutItem", TABLE) is Decision.ALLOWED
    assert evaluate([everything_but_delete], "dynamodb:DeleteItem", TABLE) is Decision.IMPLICIT_DENY
    not_this_table = {"Statement": [{"Effect": "Deny", "Action": "dynamodb:*", "NotResource": TABLE}]}
    policies = [allow("dynamodb:*", "*"), not_this_table]
    assert evaluate(policies, "dynamodb:GetItem", TABLE) is Decision.ALLOWED
    assert evaluate(policies, "dynamodb:GetItem", TABLE + "-other") is Decision.EXPLICIT_DENY


def test_a_single_statement_document_is_read_like_a_list():
    assert evaluate([{"Statement": {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}}], "sqs:SendMessage",
                    "arn:aws:sqs:eu-west-1:111122223333:q") is Decision.ALLOWED


def test_alternative_resources_need_only_one_grant():
    need = Need("ses:SendEmail", ("arn:aws:ses:r:a:identity/me@example.com", "arn:aws:ses:r:a:identity/example.com"))
    assert decide([allow("ses:SendEmail", "arn:aws:ses:r:a:identity/example.com")], need)[0] is Decision.ALLOWED
    decision, resource = decide([], need)
    assert decision is Decision.IMPLICIT_DENY and resource.endswith("identity/me@example.com")


# --- what a call needs --------------------------------------------------------------------

def test_each_transaction_item_is_its_own_action_on_its_own_table():
    items = [{"Put": {"TableName": "shop-prod", "Item": {}}},
             {"Update": {"TableName": "shop-prod", "Key": {}}},
             {"Delete": {"TableName": "other", "Key": {}}},
             {"ConditionCheck": {"TableName": "shop-prod", "Key": {}}}]
    assert needs("dynamodb", "TransactWriteItems", {"TransactItems": items}) == [
        Need("dynamodb:PutItem", (TABLE,)), Need("dynamodb:UpdateItem", (TABLE,)),
        Need("dynamodb:DeleteItem", ("arn:aws:dynamodb:eu-west-1:111122223333:table/other",)),
        Need("dynamodb:ConditionCheckItem", (TABLE,))]
    assert needs("dynamodb", "TransactGetItems", {"TransactItems": [{"Get": {"TableName": "shop-prod"}}]}) == [
        Need("dynamodb:GetItem", (TABLE,))]


def test_queries_on_an_index_need_the_index_and_batches_every_table():
    assert needs("dynamodb", "Query", {"TableName": "shop-prod", "IndexName": "GSI3"}) == [
        Need("dynamodb:Query", (f"{TABLE}/index/GSI3",))]
    assert needs("dynamodb", "Query", {"TableName": TABLE}) == [Need("dynamodb:Query", (TABLE,))]
    assert [n.resources[0].rsplit("/", 1)[1] for n in needs(
        "dynamodb", "BatchGetItem", {"RequestItems": {"shop-prod": {}, "other": {}}})] == ["shop-prod", "other"]


def test_sqs_batches_are_their_single_message_actions_on_the_queue():
    url = "http://127.0.0.1:5000/111122223333/shop-prod-orders"
    arn = "arn:aws:sqs:eu-west-1:111122223333:shop-prod-orders"
    assert needs("sqs", "DeleteMessageBatch", {"QueueUrl": url}) == [Need("sqs:DeleteMessage", (arn,))]
    assert needs("sqs", "SendMessageBatch", {"QueueUrl": url}) == [Need("sqs:SendMessage", (arn,))]
    assert needs("sqs", "ReceiveMessage", {"QueueUrl": url}) == [Need("sqs:ReceiveMessage", (arn,))]


def test_put_events_needs_every_bus_its_entries_name():
    entries = [{"EventBusName": "shop-prod"}, {"EventBusName": "shop-prod"}, {}]
    assert needs("events", "PutEvents", {"Entries": entries}) == [
        Need("events:PutEvents", ("arn:aws:events:eu-west-1:111122223333:event-bus/shop-prod",)),
        Need("events:PutEvents", ("arn:aws:events:eu-west-1:111122223333:event-bus/default",))]
    assert needs("events", "PutRule", {"Name": "r", "EventBusName": "shop-prod"})[0].resources == (
        "arn:aws:events:eu-west-1:111122223333:rule/shop-prod/r",)


def test_pools_parameters_and_email_identities_are_named_by_arn():
    assert needs("cognito-idp", "AdminDisableUser", {"UserPoolId": "eu-west-1_abc", "Username": "u"}) == [
        Need("cognito-idp:AdminDisableUser", ("arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_abc",))]
    assert needs("ssm", "GetParameter", {"Name": "/shop/prod/secret"}) == [
        Need("ssm:GetParameter", ("arn:aws:ssm:eu-west-1:111122223333:parameter/shop/prod/secret",))]
    assert needs("ses", "SendEmail", {"Source": "Shop <orders@example.com>"}) == [
        Need("ses:SendEmail", ("arn:aws:ses:eu-west-1:111122223333:identity/orders@example.com",
                               "arn:aws:ses:eu-west-1:111122223333:identity/example.com"))]


def test_unknown_operations_fall_back_to_the_emulators_resource():
    assert needs("kms", "Decrypt", {}, fallback="*") == [Need("kms:Decrypt", ("*",))]
    assert needs("monitoring", "PutMetricData", {}) == [Need("cloudwatch:PutMetricData", ("*",))]


@pytest.mark.parametrize("operation", ["SignUp", "InitiateAuth", "ConfirmForgotPassword", "GlobalSignOut"])
def test_token_authorised_cognito_operations_are_outside_iam(operation):
    assert is_public("cognito-idp", operation)
    assert not is_public("cognito-idp", "AdminDisableUser")
