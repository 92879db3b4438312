"""The emulator's state survives a restart, and a crash loses no acknowledged DynamoDB write."""
from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local import persistence
from local.bootstrap import bootstrap_stack
from local.emulator import Emulator, local_opener

REGION = "us-east-1"
TABLE = "shop-local"
CONFIG = Config(max_pool_connections=32, retries={"total_max_attempts": 1})


@pytest.fixture
def session():
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


def key(pk: str) -> dict:
    return {"PK": {"S": pk}, "SK": {"S": "X"}}


def table(emulator: Emulator, session) -> None:
    """The shop's table alone (what these tests need of the stack), as the template declares its keys."""
    session.client("dynamodb", endpoint_url=emulator.url).create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}])


def crash(emulator: Emulator) -> None:
    """kill -9: no chance to write anything on the way out."""
    emulator._process.send_signal(signal.SIGKILL)
    emulator._process.wait(10)
    emulator.stop()


def test_no_acknowledged_dynamodb_write_is_lost_when_the_emulator_is_killed(tmp_path, session):
    emulator = Emulator(state=tmp_path).start()
    try:
        table(emulator, session)
        ddb = session.client("dynamodb", endpoint_url=emulator.url, config=CONFIG)
        ddb.put_item(TableName=TABLE, Item={**key("counter"), "n": {"N": "0"}})
        ddb.put_item(TableName=TABLE, Item={**key("doomed"), "v": {"S": "x"}})
        acknowledged, lock = {}, threading.Lock()

        def write(i: int) -> None:
            if i % 4 == 3:  # a cancelled transaction: neither of its items may appear
                with pytest.raises(ClientError):
                    ddb.transact_write_items(TransactItems=[
                        {"Put": {"TableName": TABLE, "Item": key(f"never-{i}")}},
                        {"ConditionCheck": {"TableName": TABLE, "Key": key("counter"),
                                            "ConditionExpression": "attribute_not_exists(PK)"}}])
                return
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**key(f"w-{i}"), "v": {"N": str(i)},
                                                      "doc": {"M": {"tags": {"SS": ["a", "b"]},
                                                                    "raw": {"B": bytes([i % 256, 0, 255])}}}}}},
                {"Update": {"TableName": TABLE, "Key": key("counter"), "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
            with lock:
                acknowledged[f"w-{i}"] = i

        with ThreadPoolExecutor(12) as pool:
            list(pool.map(write, range(200)))
        ddb.delete_item(TableName=TABLE, Key=key("doomed"))
        crash(emulator)  # at once: the last writes are not a second old

        emulator = Emulator(state=tmp_path).start()
        ddb = session.client("dynamodb", endpoint_url=emulator.url, config=CONFIG)
        for name, i in acknowledged.items():
            item = ddb.get_item(TableName=TABLE, Key=key(name), ConsistentRead=True)["Item"]
            assert item["v"] == {"N": str(i)} and item["doc"]["M"]["raw"] == {"B": bytes([i % 256, 0, 255])}
            assert sorted(item["doc"]["M"]["tags"]["SS"]) == ["a", "b"]
        counter = ddb.get_item(TableName=TABLE, Key=key("counter"), ConsistentRead=True)["Item"]
        assert counter["n"] == {"N": str(len(acknowledged))} == {"N": "150"}
        assert "Item" not in ddb.get_item(TableName=TABLE, Key=key("doomed"), ConsistentRead=True)
        assert [i for i in range(3, 200, 4) if "Item" in ddb.get_item(TableName=TABLE, Key=key(f"never-{i}"))] == []
        assert any("restored 151 DynamoDB items" in line for line in emulator.state_said), emulator.state_said
    finally:
        emulator.stop()


def test_a_restart_keeps_users_their_tokens_and_keys_queued_messages_and_the_bus(tmp_path, session):
    emulator = Emulator(state=tmp_path).start()
    try:
        summary = bootstrap_stack("local", emulator.url, session=session).summary()
        pool, client = summary["user_pool_id"], summary["user_pool_client_id"]
        idp = session.client("cognito-idp", endpoint_url=emulator.url)
        idp.admin_create_user(UserPoolId=pool, Username="keep@example.com", MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": "keep@example.com"}])
        idp.admin_set_user_password(UserPoolId=pool, Username="keep@example.com", Password="Keep123!x",
                                    Permanent=True)
        tokens = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": "keep@example.com",
                                                   "PASSWORD": "Keep123!x"})["AuthenticationResult"]
        keys = _jwks(emulator, pool)
        queue = summary["queue_urls"]["OrdersQueue"]
        session.client("sqs", endpoint_url=emulator.url).send_message(QueueUrl=queue, MessageBody="kept")
        events = session.client("events", endpoint_url=emulator.url)
        events.put_rule(Name="kept-rule", EventBusName=summary["event_bus_name"], EventPattern='{"source": ["x"]}')
        emulator.stop()  # SIGTERM, as Ctrl-C and `make run` stopping

        emulator = Emulator(state=tmp_path).start()
        idp = session.client("cognito-idp", endpoint_url=emulator.url)
        assert idp.get_user(AccessToken=tokens["AccessToken"])["Username"]
        assert _jwks(emulator, pool) == keys  # an ID token signed before still verifies
        again = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "keep@example.com", "PASSWORD": "Keep123!x"})
        assert again["AuthenticationResult"]["IdToken"]
        received = session.client("sqs", endpoint_url=emulator.url).receive_message(QueueUrl=queue)["Messages"]
        assert [m["Body"] for m in received] == ["kept"]
        events = session.client("events", endpoint_url=emulator.url)
        assert events.describe_rule(Name="kept-rule", EventBusName=summary["event_bus_name"])["State"] == "ENABLED"
        ddb = session.client("dynamodb", endpoint_url=emulator.url)
        described = ddb.describe_table(TableName=TABLE)["Table"]
        assert {index["IndexName"] for index in described["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2", "GSI3"}
    finally:
        emulator.stop()


def _jwks(emulator: Emulator, pool: str) -> dict:
    with local_opener().open(f"{emulator.url}/{pool}/.well-known/jwks.json", timeout=5) as answer:
        return json.loads(answer.read())


def test_a_journal_cut_short_by_a_crash_restores_up_to_its_last_whole_line(tmp_path, session):
    emulator = Emulator(state=tmp_path).start()
    try:
        table(emulator, session)
        ddb = session.client("dynamodb", endpoint_url=emulator.url)
        for i in range(5):
            ddb.put_item(TableName=TABLE, Item={**key(f"j-{i}"), "v": {"N": str(i)}})
        crash(emulator)
        with open(tmp_path / persistence.JOURNAL, "a") as journal:
            journal.write('["123456789012","us-east-1","shop-local",{"S":"j-9"},{"S":"X"},{"v"')  # torn
        emulator = Emulator(state=tmp_path).start()
        ddb = session.client("dynamodb", endpoint_url=emulator.url)
        assert ddb.scan(TableName=TABLE, Select="COUNT")["Count"] == 5
        # Restored, the items file holds them all and the journal starts empty.
        assert len((tmp_path / persistence.ITEMS).read_text().splitlines()) == 5
        assert (tmp_path / persistence.JOURNAL).read_text() == ""
    finally:
        emulator.stop()


def test_a_state_file_is_replaced_whole_or_left_as_it_was(tmp_path, monkeypatch):
    target = tmp_path / "services.pickle"
    persistence._atomic_write(target, b"before")

    def interrupted(*_args):
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(OSError):
        persistence._atomic_write(target, b"after, but cut short")
    assert target.read_bytes() == b"before"


def test_without_a_state_folder_nothing_is_written(tmp_path, session, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Emulator() as emulator:
        session.client("sqs", endpoint_url=emulator.url).create_queue(QueueName=f"q-{uuid.uuid4().hex[:6]}")
        with pytest.raises(RuntimeError):
            emulator.save()
    assert list(tmp_path.iterdir()) == []
