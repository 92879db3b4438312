"""The emulator refuses what IAM would refuse: real ARNs, explicit denies, bad keys and signatures."""
from __future__ import annotations

import json
import time
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from local.emulator import local_opener

REGION = "us-east-1"


@pytest.fixture(scope="module")
def role_session(emulator, session, stack):
    """A role that may read and write the table but never delete, and send to the orders queue only."""
    iam, sts = (session.client(s, endpoint_url=emulator.url) for s in ("iam", "sts"))
    table = stack.attributes["ShopTable"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
         "Resource": table},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": stack.attributes["OrdersQueue"]["Arn"]}]}
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    arn = iam.create_role(RoleName="enforcement-test", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="enforcement-test", PolicyName="p", PolicyDocument=json.dumps(policy))
    keys = sts.assume_role(RoleArn=arn, RoleSessionName="tester")["Credentials"]
    return boto3.session.Session(aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
                                 aws_session_token=keys["SessionToken"], region_name=REGION)


ITEM = {"PK": {"S": "enforcement"}, "SK": {"S": "test"}}


def code_of(call) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"]


def test_a_role_gets_what_its_policy_allows_on_the_named_resource_only(emulator, role_session, stack):
    ddb = role_session.client("dynamodb", endpoint_url=emulator.url)
    ddb.put_item(TableName="shop-local", Item=ITEM)
    assert ddb.get_item(TableName="shop-local", Key=ITEM)["Item"] == ITEM
    assert code_of(lambda: ddb.query(TableName="shop-local", IndexName="GSI1", KeyConditionExpression="GSI1PK = :p",
                                     ExpressionAttributeValues={":p": {"S": "x"}})) == "AccessDeniedException"
    sqs = role_session.client("sqs", endpoint_url=emulator.url)
    sqs.send_message(QueueUrl=stack.refs["OrdersQueue"], MessageBody="{}")
    assert code_of(lambda: sqs.send_message(QueueUrl=stack.refs["AuditQueue"], MessageBody="{}")) == "AccessDenied"


def test_an_explicit_deny_wins_and_the_denial_is_logged_with_function_action_and_arn(emulator, role_session):
    ddb = role_session.client("dynamodb", endpoint_url=emulator.url)
    with pytest.raises(ClientError) as refused:
        ddb.delete_item(TableName="shop-local", Key=ITEM)
    message = refused.value.response["Error"]["Message"]
    assert "assumed-role/enforcement-test/tester is not authorized to perform: dynamodb:DeleteItem" in message
    assert "with an explicit deny" in message
    expected = ("AccessDenied function=tester action=dynamodb:DeleteItem "
                "resource=arn:aws:dynamodb:us-east-1:123456789012:table/shop-local")
    deadline = time.monotonic() + 5
    while not any(line.startswith(expected) for line in emulator.denials) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(line.startswith(expected) for line in emulator.denials), emulator.denials


def test_each_item_of_a_transaction_is_checked(emulator, role_session):
    ddb = role_session.client("dynamodb", endpoint_url=emulator.url)
    put = {"Put": {"TableName": "shop-local", "Item": {"PK": {"S": "tx"}, "SK": {"S": "1"}}}}
    update = {"Update": {"TableName": "shop-local", "Key": ITEM, "UpdateExpression": "SET n = :n",
                         "ExpressionAttributeValues": {":n": {"N": "1"}}}}
    assert code_of(lambda: ddb.transact_write_items(TransactItems=[put, update])) == "AccessDeniedException"
    assert "Item" not in ddb.get_item(TableName="shop-local", Key={"PK": {"S": "tx"}, "SK": {"S": "1"}})
    ddb.transact_write_items(TransactItems=[put])


def test_unknown_keys_and_wrong_secrets_are_refused(emulator, role_session):
    stranger = boto3.client("dynamodb", endpoint_url=emulator.url, region_name=REGION,
                            aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
    assert code_of(lambda: stranger.list_tables()) == "UnrecognizedClientException"
    keys = role_session.get_credentials().get_frozen_credentials()
    forger = boto3.client("dynamodb", endpoint_url=emulator.url, region_name=REGION, aws_access_key_id=keys.access_key,
                          aws_secret_access_key="not-the-secret", aws_session_token=keys.token)
    assert code_of(lambda: forger.get_item(TableName="shop-local", Key=ITEM)) == "InvalidSignatureException"
    sqs = boto3.client("sqs", endpoint_url=emulator.url, region_name=REGION, aws_access_key_id=keys.access_key,
                       aws_secret_access_key="not-the-secret", aws_session_token=keys.token)
    assert code_of(lambda: sqs.list_queues()) in ("InvalidSignatureException", "SignatureDoesNotMatch")


def test_unsigned_requests_reach_only_what_aws_serves_without_credentials(emulator, stack):
    def post(target: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(emulator.url + "/", data=json.dumps(body).encode(), method="POST", headers={
            "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
        try:
            with local_opener().open(request, timeout=5) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    status, body = post("AWSCognitoIdentityProviderService.InitiateAuth", {
        "ClientId": stack.refs["UserPoolClient"], "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "nobody@example.com", "PASSWORD": "Nobody123"}})
    assert body.get("__type", "").split("#")[-1] in ("UserNotFoundException", "NotAuthorizedException"), body
    status, body = post("AWSCognitoIdentityProviderService.AdminDisableUser", {
        "UserPoolId": stack.refs["UserPool"], "Username": "x"})
    assert status in (400, 403) and body["__type"] == "AccessDeniedException", body


def test_the_operator_keys_keep_full_access(emulator, session):
    ddb = session.client("dynamodb", endpoint_url=emulator.url)
    ddb.delete_item(TableName="shop-local", Key=ITEM)
    assert ddb.list_tables()["TableNames"]


def test_an_untested_moto_release_refuses_to_enforce(monkeypatch):
    import moto

    from local import enforcement

    monkeypatch.setattr(moto, "__version__", "9.0.0")
    with pytest.raises(enforcement.UnsupportedMoto):
        enforcement.check_version()
